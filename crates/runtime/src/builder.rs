//! Turns a parsed [`PipelineConfig`] into plugin instances: created and options decoded first
//! ([`create`], no side effects, so an invalid new version can be rejected while the old one keeps
//! running), then initialised ([`Created::init`]).

use std::sync::Arc;
use std::time::Duration;

use loong_api::options::{self, OptionError};
use loong_api::registry::CreateError;
use loong_api::{
    Aggregator, CheckpointStore, Context, Extension, Flusher, GlobalConfig, Input, Processor, ReadySignal, Registry,
};

use crate::aggregate::DefaultAggregator;
use crate::config::{ConfigError, PipelineConfig, PluginSpec};
use crate::extensions::Extensions;

/// What every pipeline of an agent shares.
#[derive(Clone)]
pub struct Env {
    pub registry: Arc<Registry>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub runtime: tokio::runtime::Handle,
}

/// Builds the [`Context`] of each plugin of one pipeline.
#[derive(Clone)]
pub struct ContextFactory {
    env: Env,
    config_name: String,
    global: Arc<GlobalConfig>,
    extensions: Arc<Extensions>,
    ready: ReadySignal,
}

impl ContextFactory {
    pub fn context(&self, plugin_type: &str, plugin_id: &str) -> Context {
        Context::builder(self.config_name.clone())
            .project(self.global.project.clone())
            .logstore(self.global.logstore.clone())
            .plugin(plugin_type, plugin_id)
            .global(self.global.clone())
            .extensions(self.extensions.host())
            .checkpoints(self.env.checkpoints.clone())
            .runtime(self.env.runtime.clone())
            .ready_signal(self.ready.clone())
            .build()
    }

    pub fn registry(&self) -> &Registry {
        &self.env.registry
    }
}

/// A plugin instance with its context and the label errors use.
pub struct Slot<P: ?Sized> {
    pub plugin: Box<P>,
    pub ctx: Context,
    /// `flushers[1] flusher_http`.
    pub label: String,
}

/// A pipeline's plugins, created with decoded options but not yet initialised.
pub struct Created {
    pub config: PipelineConfig,
    pub global: Arc<GlobalConfig>,
    pub factory: ContextFactory,
    pub extensions: Vec<(String, Slot<dyn Extension>)>,
    pub inputs: Vec<Slot<dyn Input>>,
    pub processors: Vec<Slot<dyn Processor>>,
    pub aggregator: Slot<dyn Aggregator>,
    pub flushers: Vec<Slot<dyn Flusher>>,
    pub warnings: Vec<String>,
}

/// Initialised plugins, ready to run.
pub struct Built {
    pub config: PipelineConfig,
    pub global: Arc<GlobalConfig>,
    pub ready: ReadySignal,
    pub extensions: Arc<Extensions>,
    /// Inputs with the poll interval a metric input asked for.
    pub inputs: Vec<(Slot<dyn Input>, Option<Duration>)>,
    pub processors: Vec<Slot<dyn Processor>>,
    pub aggregator: (Slot<dyn Aggregator>, Duration),
    pub flushers: Vec<Slot<dyn Flusher>>,
}

fn option_error(config: &PipelineConfig, spec: &PluginSpec, e: OptionError) -> ConfigError {
    match e.key {
        Some(key) => ConfigError::key(&config.path, Some(&spec.label()), &key, e.message),
        None => ConfigError::plugin(&config.path, &spec.label(), e.message),
    }
}

fn create_error(config: &PipelineConfig, spec: &PluginSpec, e: CreateError) -> ConfigError {
    match e {
        CreateError::Options(e) => option_error(config, spec, e),
        unknown @ CreateError::Unknown { .. } => ConfigError::plugin(&config.path, &spec.label(), unknown.to_string()),
    }
}

/// Creates every plugin of `config` and decodes its options. No plugin is initialised.
pub fn create(config: PipelineConfig, env: &Env) -> Result<Created, ConfigError> {
    let (global, global_warnings) = options::decode::<GlobalConfig>(&config.global).map_err(|e| match e.key {
        Some(key) => ConfigError::key(&config.path, Some("global"), &key, e.message),
        None => ConfigError::plugin(&config.path, "global", e.message),
    })?;
    let global = Arc::new(GlobalConfig {
        onetime: config.onetime,
        ..global
    });
    let mut warnings: Vec<String> = global_warnings.iter().map(|w| format!("global: {w}")).collect();

    let extensions = Extensions::new();
    let factory = ContextFactory {
        env: env.clone(),
        config_name: config.name.clone(),
        global: global.clone(),
        extensions: extensions.clone(),
        ready: ReadySignal::default(),
    };
    extensions.set_factory(factory.clone());

    macro_rules! make {
        ($specs:expr, $create:ident) => {{
            let mut out = Vec::new();
            for spec in $specs {
                let (plugin, w) = env
                    .registry
                    .$create(&spec.plugin_type, &spec.options)
                    .map_err(|e| create_error(&config, spec, e))?;
                warnings.extend(w.into_iter().map(|w| format!("{}: {w}", spec.label())));
                let ctx = factory.context(&spec.plugin_type, &spec.instance_name());
                out.push(Slot {
                    plugin,
                    ctx,
                    label: spec.label(),
                });
            }
            out
        }};
    }

    let ext_slots = make!(&config.extensions, create_extension);
    let mut ext_named = Vec::new();
    for (slot, spec) in ext_slots.into_iter().zip(&config.extensions) {
        let name = match &spec.id {
            Some(id) => format!("{}/{id}", spec.plugin_type),
            None => spec.plugin_type.clone(),
        };
        if ext_named.iter().any(|(n, _): &(String, _)| *n == name) {
            return Err(ConfigError::plugin(
                &config.path,
                &spec.label(),
                format!("extension {name} is configured twice"),
            ));
        }
        ext_named.push((name, slot));
    }
    let inputs = make!(&config.inputs, create_input);
    let mut processors = make!(&config.processors, create_processor);
    for slot in &mut processors {
        if slot.plugin.as_v1().is_none() && slot.plugin.as_v2().is_none() {
            return Err(ConfigError::plugin(
                &config.path,
                &slot.label,
                "the processor implements neither V1 nor V2",
            ));
        }
    }
    let aggregator = match make!(&config.aggregators, create_aggregator).pop() {
        Some(slot) => slot,
        None => Slot {
            plugin: Box::new(DefaultAggregator::default()) as Box<dyn Aggregator>,
            ctx: factory.context("aggregator_default", "aggregator_default/1"),
            label: "aggregator (default)".to_owned(),
        },
    };
    let mut flushers = make!(&config.flushers, create_flusher);
    for slot in &mut flushers {
        if slot.plugin.as_v1().is_none() && slot.plugin.as_v2().is_none() {
            return Err(ConfigError::plugin(
                &config.path,
                &slot.label,
                "the flusher implements neither V1 nor V2",
            ));
        }
    }
    Ok(Created {
        config,
        global,
        factory,
        extensions: ext_named,
        inputs,
        processors,
        aggregator,
        flushers,
        warnings,
    })
}

impl Created {
    /// Initialises extensions, then flushers, aggregator, processors and inputs (LoongCollector's
    /// start order is the reverse of the data flow). On an error, what was already initialised is
    /// stopped again and the error names the plugin.
    pub fn init(self) -> Result<Built, ConfigError> {
        let Created {
            config,
            global,
            factory,
            extensions,
            inputs,
            processors,
            aggregator,
            mut flushers,
            ..
        } = self;
        let path = config.path.clone();
        let fail = |label: &str, what: &str, e: anyhow::Error| {
            ConfigError::plugin(&path, label, format!("{what} failed: {e:#}"))
        };
        let ext_host = factory.extensions.clone();
        for (name, mut slot) in extensions {
            let result = {
                let _g = slot.ctx.span().enter();
                slot.plugin.init(&slot.ctx)
            };
            if let Err(e) = result {
                ext_host.stop_all();
                return Err(fail(&slot.label, "init", e));
            }
            ext_host.insert(&name, Arc::from(slot.plugin));
        }
        let mut initialised: Vec<Slot<dyn Flusher>> = Vec::new();
        let stop_initialised = |done: &mut Vec<Slot<dyn Flusher>>| {
            for slot in done.iter_mut() {
                let _ = slot.plugin.stop();
            }
            ext_host.stop_all();
        };
        for mut slot in flushers.drain(..) {
            let result = {
                let _g = slot.ctx.span().enter();
                slot.plugin.init(&slot.ctx)
            };
            if let Err(e) = result {
                stop_initialised(&mut initialised);
                return Err(fail(&slot.label, "init", e));
            }
            initialised.push(slot);
        }
        let mut aggregator = aggregator;
        let agg_interval = match aggregator.plugin.init(&aggregator.ctx) {
            Ok(d) => d,
            Err(e) => {
                stop_initialised(&mut initialised);
                return Err(fail(&aggregator.label, "init", e));
            }
        };
        let mut ready_processors = Vec::new();
        for mut slot in processors {
            if let Err(e) = slot.plugin.init(&slot.ctx) {
                stop_initialised(&mut initialised);
                return Err(fail(&slot.label, "init", e));
            }
            ready_processors.push(slot);
        }
        let mut ready_inputs = Vec::new();
        for mut slot in inputs {
            let result = {
                let _g = slot.ctx.span().enter();
                slot.plugin.init(&slot.ctx)
            };
            match result {
                Ok(interval) => {
                    if slot.plugin.as_metric().is_none() && slot.plugin.as_service().is_none() {
                        stop_initialised(&mut initialised);
                        return Err(ConfigError::plugin(
                            &path,
                            &slot.label,
                            "the input is neither a metric nor a service input",
                        ));
                    }
                    ready_inputs.push((slot, interval));
                }
                Err(e) => {
                    stop_initialised(&mut initialised);
                    return Err(fail(&slot.label, "init", e));
                }
            }
        }
        Ok(Built {
            config,
            global,
            ready: factory.ready.clone(),
            extensions: ext_host,
            inputs: ready_inputs,
            processors: ready_processors,
            aggregator: (aggregator, agg_interval),
            flushers: initialised,
        })
    }
}

impl Built {
    /// Releases a pipeline that was initialised but never started (`loong check`).
    pub fn release(mut self) {
        for slot in &mut self.flushers {
            let _ = slot.plugin.stop();
        }
        self.extensions.stop_all();
    }
}
