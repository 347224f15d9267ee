//! Extensions: configured ones are found by `type/id`, unconfigured ones are created on demand
//! from the options a plugin passes, and all stop after the flushers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use loong_api::{
    Context, Encoder, Extension, Flusher, FlusherV2, LogGroup, MemoryCheckpoints, PipelineContext, PipelineGroupEvents,
    Registry, Result,
};
use loong_runtime::builder::{self, Env};
use loong_runtime::{PipelineConfig, RunningPipeline, StopMode};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[derive(Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct PrefixOpts {
    #[serde(rename = "Prefix")]
    prefix: String,
}

struct PrefixEncoder(String);

impl Extension for PrefixEncoder {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        EVENTS.lock().push(format!("init {}", ctx.plugin_id()));
        Ok(())
    }
    fn description(&self) -> &str {
        "prefixes"
    }
    fn stop(&self) -> Result<()> {
        EVENTS.lock().push(format!("stop ext {}", self.0));
        Ok(())
    }
    fn as_encoder(&self) -> Option<&dyn Encoder> {
        Some(self)
    }
}

impl Encoder for PrefixEncoder {
    fn encode_v1(&self, _: &LogGroup) -> Result<Vec<Bytes>> {
        Ok(vec![])
    }
    fn encode_v2(&self, group: &PipelineGroupEvents) -> Result<Vec<Bytes>> {
        Ok(vec![Bytes::from(format!("{}{}", self.0, group.events.len()))])
    }
}

#[derive(Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct UseOpts {
    #[serde(rename = "Encoder")]
    encoder: String,
    #[serde(rename = "EncoderOptions")]
    encoder_options: Option<serde_json::Value>,
}

struct UsingFlusher {
    opts: UseOpts,
    encoder: Option<Arc<dyn Extension>>,
}

impl Flusher for UsingFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let ext = ctx.get_extension(&self.opts.encoder, self.opts.encoder_options.as_ref())?;
        anyhow::ensure!(ext.as_encoder().is_some(), "{} is not an encoder", self.opts.encoder);
        self.encoder = Some(ext);
        Ok(())
    }
    fn description(&self) -> &str {
        "uses an encoder extension"
    }
    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        true
    }
    fn set_urgent(&mut self, _: bool) {}
    fn stop(&mut self) -> Result<()> {
        EVENTS.lock().push("stop flusher".to_owned());
        Ok(())
    }
    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV2 for UsingFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        let enc = self.encoder.as_ref().unwrap().as_encoder().unwrap();
        for g in groups {
            for payload in enc.encode_v2(g)? {
                EVENTS.lock().push(String::from_utf8_lossy(&payload).into_owned());
            }
        }
        Ok(())
    }
}

struct Once(bool);

impl loong_api::Input for Once {
    fn init(&mut self, _: &Context) -> Result<Option<Duration>> {
        Ok(Some(Duration::from_millis(10)))
    }
    fn description(&self) -> &str {
        "one event"
    }
    fn as_metric(&mut self) -> Option<&mut dyn loong_api::MetricInput> {
        Some(self)
    }
}

impl loong_api::MetricInput for Once {
    fn collect(&mut self, c: &mut loong_api::Collector) -> Result<()> {
        if !self.0 {
            self.0 = true;
            let e = loong_api::LogEvent::with_body("x", 0);
            c.collect(Default::default(), vec![e.into()])?;
        }
        Ok(())
    }
}

#[derive(Default, Serialize, Deserialize, JsonSchema)]
struct NoOpts {}

fn env() -> Env {
    let mut r = Registry::new();
    r.add_extension_creator("ext_prefix", |o: PrefixOpts| Box::new(PrefixEncoder(o.prefix)));
    r.add_flusher_creator("flusher_using", |o: UseOpts| {
        Box::new(UsingFlusher { opts: o, encoder: None })
    });
    r.add_input_creator("metric_once", |_: NoOpts| Box::new(Once(false)));
    Env {
        registry: Arc::new(r),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: tokio::runtime::Runtime::new().unwrap().handle().clone(),
    }
}

#[test]
fn configured_and_on_demand_extensions() {
    let yaml = r#"
global: {StructureType: v2}
inputs: [{Type: metric_once}]
aggregators: []
flushers:
  - Type: flusher_using
    Encoder: ext_prefix/a
  - Type: flusher_using
    Encoder: ext_prefix/made
    EncoderOptions: {Prefix: "made:"}
extensions:
  - Type: ext_prefix/a
    Prefix: "a:"
"#;
    let config = PipelineConfig::parse(Path::new("ext.yaml"), yaml).unwrap();
    let pipeline = RunningPipeline::start(builder::create(config, &env()).unwrap().init().unwrap(), Vec::new());
    let start = std::time::Instant::now();
    while EVENTS.lock().iter().filter(|e| e.ends_with(":1")).count() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", EVENTS.lock());
        std::thread::sleep(Duration::from_millis(10));
    }
    pipeline.stop(StopMode::Drain);
    let events = EVENTS.lock().clone();
    assert!(
        events.contains(&"a:1".to_owned()) && events.contains(&"made:1".to_owned()),
        "{events:?}"
    );
    assert_eq!(events[0], "init ext_prefix/a");
    let first_ext_stop = events.iter().position(|e| e.starts_with("stop ext")).unwrap();
    let last_flusher_stop = events.iter().rposition(|e| e == "stop flusher").unwrap();
    assert!(
        last_flusher_stop < first_ext_stop,
        "extensions stop after flushers: {events:?}"
    );
    // Created on demand later, stopped first.
    assert_eq!(events[first_ext_stop], "stop ext made:");
}

#[test]
fn missing_extension_is_an_init_error_naming_the_plugin() {
    let yaml = "inputs: [{Type: metric_once}]\nflushers: [{Type: flusher_using, Encoder: ext_prefix/nope}]\n";
    let config = PipelineConfig::parse(Path::new("bad.yaml"), yaml).unwrap();
    let err = builder::create(config, &env())
        .unwrap()
        .init()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(
            "bad.yaml: flushers[0] flusher_using: init failed: extension ext_prefix/nope is not configured"
        ),
        "{err}"
    );
}
