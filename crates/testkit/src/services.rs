//! Real backends for tests, started through `scripts/services.sh` (the same script developers and
//! CI use) on a free loopback port with a temporary data directory, and stopped on drop.
//!
//! A backend that is not installed is a test failure with the command that installs it, never a
//! skip: `scripts/test.sh` installs them all before the tests run.

use std::path::PathBuf;
use std::process::Command;

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
