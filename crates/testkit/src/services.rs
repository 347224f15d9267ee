//! Real backends for tests, started through `scripts/services.sh` (the same script developers and
//! CI use) on a free loopback port with a temporary data directory, and stopped on drop.
//!
//! A backend that is not installed is a test failure with the command that installs it, never a
//! skip: `scripts/test.sh` installs them all before the tests run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Service {
    name: String,
    port: u16,
    dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh")
}

/// A port nothing listens on right now (and, for servers that also bind `port + 1`, neither there).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = l.local_addr().expect("local address").port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl Service {
    /// Starts `name` (see `scripts/services.sh names`) and waits until it answers.
    pub fn start(name: &str) -> Service {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let port = free_port();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", name, &port.to_string()])
            .arg(dir.path())
            .output()
            .expect("running scripts/services.sh");
        assert!(
            out.status.success(),
            "could not start the real {name} server needed by this test (install it with \
             `scripts/services.sh install {name}`; scripts/test.sh does): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Service {
            name: name.to_owned(),
            port,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server, e.g. to test an outage; [`Service::restart`] brings it back on the same
    /// port with the same data.
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.name])
            .arg(self.dir.path())
            .status();
    }

    pub fn restart(&self) {
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &self.name, &self.port.to_string()])
            .arg(self.dir.path())
            .output()
            .expect("running scripts/services.sh");
        assert!(
            out.status.success(),
            "restarting {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Tansu binary (a Kafka-protocol broker) `scripts/services/kafka.sh` installs; panics with the
/// install command when it is missing.
pub fn tansu() -> Command {
    let kafka_sh = script().with_file_name("services").join("kafka.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && kafka_tansu", kafka_sh.display()))
        .output()
        .expect("running bash");
    let bin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !bin.is_empty(),
        "tansu is not installed: run scripts/services.sh install kafka"
    );
    Command::new(bin)
}

/// A Tansu broker of its own (in-memory storage) listening on `listen` and advertising `advertised`,
/// with extra `flags`, for tests that need broker flags or to cut the broker off.
pub fn spawn_tansu(listen: u16, advertised: u16, flags: &[&str]) -> Spawned {
    Spawned::listening(
        tansu()
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url"])
            .arg(format!("tcp://127.0.0.1:{listen}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised}"))
            .args(flags),
        listen,
    )
}

/// Creates `topic` with `partitions` on the Tansu broker at `brokers` (`host:port`, plaintext). A
/// topic that already exists is fine: a producer may have created it first (Tansu creates topics on
/// first use).
pub fn create_topic(brokers: &str, topic: &str, partitions: u32) {
    let out = tansu()
        .args([
            "topic",
            "create",
            topic,
            "--partitions",
            &partitions.to_string(),
            "--broker",
        ])
        .arg(format!("tcp://{brokers}"))
        .output()
        .expect("running tansu topic create");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("already exists"),
        "creating topic {topic}: {stderr}"
    );
}

/// A process a test started itself (a broker, a relay, a TLS terminator), in a process group of its
/// own: the whole group (forked children included) is killed, by its id, when dropped.
pub struct Spawned(Child);

impl Spawned {
    /// Spawns `command` (stdout and stderr discarded) and waits up to 30 s until something listens
    /// on 127.0.0.1:`port`; panics if the process exits first.
    pub fn listening(command: &mut Command, port: u16) -> Spawned {
        use std::os::unix::process::CommandExt as _;
        let mut child = Spawned(
            command
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {command:?}: {e}")),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("{command:?} exited: {status}");
            }
            assert!(Instant::now() < deadline, "{command:?} is not listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.0.id())).status();
        let _ = self.0.wait();
    }
}

/// `curl -fsS <args>`: the answer of a real server; fails the test on an error.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").arg("-fsS").args(args).output().expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `sql` on the ClickHouse server `ch` (HTTP, as the default user); fails the test on an error.
pub fn clickhouse_sql(ch: &Service, sql: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", &ch.url("/"), "--data-binary", sql])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{sql}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rows of `{query} FORMAT JSONEachRow` on the ClickHouse server `ch`.
pub fn clickhouse_select(ch: &Service, query: &str) -> Vec<serde_json::Value> {
    clickhouse_sql(ch, &format!("{query} FORMAT JSONEachRow"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A Prometheus series read back: its labels and its (ms, value) samples.
pub type PrometheusSeries = (std::collections::BTreeMap<String, String>, Vec<(i64, f64)>);

/// Every raw sample of the series `selector` matches on the Prometheus server `prom` over the last
/// hour: each series' labels and its (ms, value) samples, series sorted by labels.
pub fn prometheus_series(prom: &Service, selector: &str) -> Vec<PrometheusSeries> {
    let body = curl(&[
        "-G",
        &prom.url("/api/v1/query"),
        "--data-urlencode",
        &format!("query={selector}[1h]"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out: Vec<PrometheusSeries> = v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let samples = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let ms = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (ms, p[1].as_str().unwrap().parse::<f64>().unwrap())
                })
                .collect();
            (labels, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
