//! What the E2E tests share: pipelines run inside the test process with every built-in plugin, the
//! `loong` binary run once, as an agent, or on stdin, and polling with a deadline.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{Read, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loong_api::MemoryCheckpoints;
use loong_runtime::builder::{self, Env};
use loong_runtime::{PipelineConfig, RunningPipeline};

/// One runtime for the whole test binary: dropping a runtime cancels the tasks plugins spawned on it.
pub fn runtime() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Runtime::new().unwrap())
        .handle()
        .clone()
}

/// Starts the pipeline `yaml` (named `{name}.yaml`) with the full plugin registry and in-memory
/// checkpoints.
pub fn start(name: &str, yaml: &str) -> RunningPipeline {
    let env = Env {
        registry: Arc::new(loong_plugins_all::registry()),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: runtime(),
    };
    let config = PipelineConfig::parse(Path::new(&format!("{name}.yaml")), yaml).unwrap();
    RunningPipeline::start(builder::create(config, &env).unwrap().init().unwrap(), Vec::new())
}

/// Polls `f` until it holds; fails the test after `timeout`.
pub fn wait(what: &str, timeout: Duration, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `loong run --once <config> [--data-dir <data_dir>]`; fails the test unless it exits 0.
pub fn run_once(config: &Path, data_dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loong"));
    command.args(["run", "--once"]).arg(config);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "loong run --once: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `loong run --config-dir <conf> --data-dir <data>` reading `lines` on stdin (closed after them);
/// its stdout and stderr are discarded.
pub fn run_on_stdin(conf: &Path, data: &Path, lines: &[String]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loong"))
        .args(["run", "--config-dir"])
        .arg(conf)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    child
}

/// Appends `text` to the file at `path` in 32 KiB chunks, 20 ms apart: a file that keeps growing.
pub fn append_slowly(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    for chunk in text.as_bytes().chunks(32 * 1024) {
        f.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running agent whose stderr (`LOONG_LOG=info`) is kept; killed on drop if still running.
pub struct Agent {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    /// `loong run --scan-interval 200ms --config-dir <config_dir> --data-dir <data_dir>`.
    pub fn start(config_dir: &Path, data_dir: &Path) -> Agent {
        Self::spawn(
            Command::new(env!("CARGO_BIN_EXE_loong"))
                .args(["run", "--scan-interval", "200ms", "--config-dir"])
                .arg(config_dir)
                .arg("--data-dir")
                .arg(data_dir),
        )
    }

    pub fn spawn(cmd: &mut Command) -> Agent {
        let mut child = cmd
            .env("LOONG_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start loong");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent { child, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.wait(Duration::from_secs(60))
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "loong did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
