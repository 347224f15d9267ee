//! Running the agent and reading what it cost: CPU time (user + system) and peak RSS from the
//! kernel's rusage of the child (what `/usr/bin/time -v` prints), wall time from the clock.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_bytes: u64,
    pub exit_code: Option<i32>,
}

/// Waits for `child` and returns its resource usage (Linux `wait4`).
pub fn wait(child: Child, started: Instant) -> Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child; rusage is a C struct the kernel fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    // The Child must not be waited for again by std.
    std::mem::forget(child);
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let exit_code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Ok(Usage {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
        exit_code,
    })
}

/// Runs `command` to completion and measures it; a non-zero exit is an error (with its stderr).
pub fn run(mut command: Command) -> Result<Usage> {
    let stderr = tempfile::NamedTempFile::new()?;
    command.stderr(stderr.reopen()?).stdout(std::process::Stdio::null());
    let started = Instant::now();
    let child = command.spawn().context("starting loong")?;
    let usage = wait(child, started)?;
    if usage.exit_code != Some(0) {
        let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        bail!(
            "loong exited with {:?}:\n{}",
            usage.exit_code,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(usage)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
