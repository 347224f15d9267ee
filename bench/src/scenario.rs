//! The scenarios: what loong is asked to do, on which workload, and how it is measured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::measure::{self, median};
use crate::workload::{self, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 512-byte lines: file → flusher_blackhole (the maximum single-line throughput).
    Blackhole,
    /// Java stack traces with custom multiline: file → flusher_blackhole.
    Multiline,
    /// nginx lines parsed by processor_parse_regex_native: file → flusher_blackhole.
    Regex,
    /// JSON lines parsed by processor_parse_json_native: file → flusher_blackhole.
    Json,
    /// 512-byte lines: file → flusher_file.
    File,
    /// 512-byte lines: file → flusher_http (jsonline, gzip) to a local sink server.
    Http,
    /// 512-byte lines appended at a fixed rate (10 MB/s) for a fixed time, collected continuously
    /// into flusher_blackhole: CPU % of one core and peak RSS.
    Rate,
}

impl Scenario {
    pub fn workload(self) -> Workload {
        match self {
            Scenario::Multiline => Workload::Multiline,
            Scenario::Regex => Workload::Nginx,
            Scenario::Json => Workload::Json,
            _ => Workload::Single,
        }
    }
}

pub struct Settings {
    pub loong: PathBuf,
    pub size: u64,
    pub runs: usize,
    pub seed: u64,
    pub rate: u64,
    pub seconds: u64,
    pub work_dir: PathBuf,
}

/// Every scenario's `global` section: flushers take event groups (V2), the pipeline's own model,
/// so the figures measure collection rather than the conversion to SLS LogGroups that V1 adds.
const GLOBAL: &str = "global: {StructureType: v2}\n";

fn input(path: &Path, scenario: Scenario) -> String {
    let multiline = if scenario == Scenario::Multiline {
        "\n    Multiline: {Mode: custom, StartPattern: '\\d{4}-\\d{2}-\\d{2} .*'}"
    } else {
        ""
    };
    format!(
        "inputs:\n  - Type: input_file\n    FilePaths: ['{}']{multiline}\n",
        path.display()
    )
}

fn processors(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Regex => {
            r#"processors:
  - Type: processor_parse_regex_native
    SourceKey: content
    Regex: '([\d.]+) \S+ \S+ \[(\S+) \S+\] "(\w+) ([^"]*) \S+" (\d+) (\d+) "([^"]*)" "([^"]*)"'
    Keys: [ip, time, method, url, status, size, referer, agent]
"#
        }
        Scenario::Json => "processors:\n  - Type: processor_parse_json_native\n    SourceKey: content\n",
        _ => "",
    }
}

fn flusher(scenario: Scenario, out_dir: &Path, http_port: u16) -> String {
    match scenario {
        Scenario::File => format!(
            "flushers:\n  - Type: flusher_file\n    FilePath: '{}'\n    MaxFileSize: 104857600\n    MaxFiles: 2\n",
            out_dir.join("out.log").display()
        ),
        Scenario::Http => format!(
            "flushers:\n  - Type: flusher_http\n    RemoteURL: http://127.0.0.1:{http_port}/ingest\n    Convert: {{Protocol: jsonline}}\n    Compression: gzip\n    Concurrency: 4\n"
        ),
        _ => "flushers:\n  - Type: flusher_blackhole\n".to_owned(),
    }
}

/// One scenario's figures.
pub struct Report {
    pub scenario: Scenario,
    pub input_mb: f64,
    pub runs: usize,
    pub mb_per_cpu_second: f64,
    pub wall_mb_per_second: f64,
    pub cpu_percent_of_one_core: f64,
    pub peak_rss_mb: f64,
}

pub fn run(scenario: Scenario, s: &Settings) -> Result<Report> {
    if scenario == Scenario::Rate {
        return rate(s);
    }
    let data = s
        .work_dir
        .join(format!("{:?}-{}-{}.log", scenario.workload(), s.size, s.seed).to_lowercase());
    let size = if data.exists() {
        std::fs::metadata(&data)?.len()
    } else {
        eprintln!(
            "generating {} ({:?}, {} MB)…",
            data.display(),
            scenario.workload(),
            s.size / 1_000_000
        );
        workload::generate(scenario.workload(), s.size, s.seed, &data)?
    };
    let sink = if scenario == Scenario::Http {
        Some(crate::sink::start()?)
    } else {
        None
    };
    let (mut per_cpu, mut wall, mut rss, mut cpu_pct) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..s.runs {
        let run_dir = tempfile::tempdir_in(&s.work_dir)?;
        let config = run_dir.path().join(format!("{scenario:?}.yaml").to_lowercase());
        let text = format!(
            "{GLOBAL}{}{}{}",
            input(&data, scenario),
            processors(scenario),
            flusher(scenario, run_dir.path(), sink.as_ref().map_or(0, |k| k.port))
        );
        std::fs::write(&config, text)?;
        // Warm the page cache so every run reads the same way. In small reads: the child inherits
        // this process's peak RSS (Linux copies it across fork), so the harness must stay small.
        warm(&data)?;
        let mut cmd = Command::new(&s.loong);
        cmd.args(["run", "--once", "--data-dir"])
            .arg(run_dir.path().join("data"))
            .arg(&config)
            .env("LOONG_LOG", "warn");
        let before = sink
            .as_ref()
            .map_or(0, |k| k.requests.load(std::sync::atomic::Ordering::Relaxed));
        let u = measure::run(cmd).with_context(|| format!("{scenario:?} run {}", i + 1))?;
        if let Some(k) = &sink
            && k.requests.load(std::sync::atomic::Ordering::Relaxed) == before
        {
            bail!("http run {}: the sink received no request", i + 1);
        }
        let mb = size as f64 / 1e6;
        per_cpu.push(mb / u.cpu.as_secs_f64());
        wall.push(mb / u.wall.as_secs_f64());
        rss.push(u.peak_rss_bytes as f64 / 1e6);
        cpu_pct.push(100.0 * u.cpu.as_secs_f64() / u.wall.as_secs_f64());
        eprintln!(
            "  {scenario:?} run {}: {:.0} MB/CPU-s, {:.0} MB/s wall, cpu {:.2} s, wall {:.2} s, peak RSS {:.1} MB",
            i + 1,
            per_cpu[i],
            wall[i],
            u.cpu.as_secs_f64(),
            u.wall.as_secs_f64(),
            rss[i]
        );
    }
    Ok(Report {
        scenario,
        input_mb: size as f64 / 1e6,
        runs: s.runs,
        mb_per_cpu_second: median(per_cpu),
        wall_mb_per_second: median(wall),
        cpu_percent_of_one_core: median(cpu_pct),
        peak_rss_mb: median(rss),
    })
}

fn warm(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Continuous collection at a fixed rate: the agent tails a file that this process appends to
/// every 100 ms, for `seconds`, then gets SIGTERM.
fn rate(s: &Settings) -> Result<Report> {
    let (mut cpu_pct, mut rss, mut per_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..s.runs {
        let dir = tempfile::tempdir_in(&s.work_dir)?;
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf)?;
        let data = dir.path().join("app.log");
        std::fs::write(&data, b"")?;
        std::fs::write(
            conf.join("rate.yaml"),
            format!(
                "{GLOBAL}{}flushers:\n  - Type: flusher_blackhole\n",
                input(&data, Scenario::Rate)
            ),
        )?;
        let mut cmd = Command::new(&s.loong);
        cmd.args(["run", "--config-dir"])
            .arg(&conf)
            .arg("--onetime-config-dir")
            .arg(dir.path().join("none"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("LOONG_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let started = Instant::now();
        let child = cmd.spawn().context("starting loong")?;
        let pid = child.id() as libc::pid_t;
        // Let the agent start and pick the file up before the clock starts.
        std::thread::sleep(Duration::from_secs(2));
        let mut writer = workload::RateWriter::open(Workload::Single, s.seed, &data)?;
        let tick = Duration::from_millis(100);
        let per_tick = s.rate / 10;
        let begin = Instant::now();
        let mut written = 0u64;
        for t in 1..=s.seconds * 10 {
            written += writer.append(per_tick)?;
            let next = begin + tick * t as u32;
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        // Let it catch up, then stop it.
        std::thread::sleep(Duration::from_secs(2));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let u = measure::wait(child, started)?;
        if u.exit_code != Some(0) {
            bail!("loong exited with {:?}", u.exit_code);
        }
        let pct = 100.0 * u.cpu.as_secs_f64() / u.wall.as_secs_f64();
        let mb = written as f64 / 1e6;
        eprintln!(
            "  Rate run {}: {:.1} MB in {} s, cpu {:.2} s over {:.1} s wall = {pct:.2} % of one core, peak RSS {:.1} MB",
            i + 1,
            mb,
            s.seconds,
            u.cpu.as_secs_f64(),
            u.wall.as_secs_f64(),
            u.peak_rss_bytes as f64 / 1e6
        );
        cpu_pct.push(pct);
        rss.push(u.peak_rss_bytes as f64 / 1e6);
        per_cpu.push(mb / u.cpu.as_secs_f64());
    }
    Ok(Report {
        scenario: Scenario::Rate,
        input_mb: (s.rate * s.seconds) as f64 / 1e6,
        runs: s.runs,
        mb_per_cpu_second: median(per_cpu),
        wall_mb_per_second: s.rate as f64 / 1e6,
        cpu_percent_of_one_core: median(cpu_pct),
        peak_rss_mb: median(rss),
    })
}
