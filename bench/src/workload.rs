//! The four workloads of `../shared/reference/performance.md`, generated from a seed so every run
//! (and every machine) reads the same bytes.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// 512-byte single-line logs (511 bytes + newline).
    Single,
    /// Java-style stack traces: one header line and 10–30 continuation lines.
    Multiline,
    /// nginx access lines, for the regex parser.
    Nginx,
    /// JSON lines, for the JSON parser.
    Json,
}

const WORDS: &[&str] = &[
    "request", "handled", "user", "session", "cache", "miss", "hit", "backend", "timeout", "retry", "queue", "worker",
    "shard", "commit", "token", "upstream", "latency", "payload", "bytes", "status", "order", "item",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"];
const PATHS: &[&str] = &[
    "/api/v1/items",
    "/api/v1/users",
    "/static/app.js",
    "/login",
    "/api/v2/orders",
    "/health",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "Go-http-client/1.1",
];

struct Gen {
    rng: StdRng,
    /// Seconds since the start of the day, advancing slowly so timestamps look real.
    clock: u64,
}

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.random_range(0..from.len())]
    }

    fn time(&mut self) -> String {
        self.clock += u64::from(self.rng.random_range(0..3u8) == 0);
        let s = self.clock % 86_400;
        format!(
            "2026-11-25 {:02}:{:02}:{:02}.{:03}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            self.rng.random_range(0..1000)
        )
    }

    fn record(&mut self, workload: Workload, out: &mut Vec<u8>) {
        match workload {
            Workload::Single => self.single(out),
            Workload::Multiline => self.multiline(out),
            Workload::Nginx => self.nginx(out),
            Workload::Json => self.json(out),
        }
    }

    fn new(seed: u64) -> Self {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            clock: 8 * 3600,
        }
    }

    fn single(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        let time = self.time();
        let level = self.pick(LEVELS);
        write!(out, "{time} {level} [worker-{}] ", self.rng.random_range(0..16)).unwrap();
        while out.len() - start < 511 {
            let w = self.pick(WORDS);
            write!(out, "{w}={} ", self.rng.random_range(0..100_000)).unwrap();
        }
        out.truncate(start + 511);
        out.push(b'\n');
    }

    fn multiline(&mut self, out: &mut Vec<u8>) {
        let time = self.time();
        writeln!(
            out,
            "{time} ERROR [http-nio-8080-exec-{}] c.e.shop.OrderService - failed to process order {}",
            self.rng.random_range(1..64),
            self.rng.random_range(0..10_000_000)
        )
        .unwrap();
        writeln!(
            out,
            "java.lang.IllegalStateException: order state is {}",
            self.pick(WORDS)
        )
        .unwrap();
        let frames = self.rng.random_range(10..=30);
        for i in 0..frames {
            if i == frames / 2 {
                writeln!(
                    out,
                    "Caused by: java.io.IOException: {} {}",
                    self.pick(WORDS),
                    self.pick(WORDS)
                )
                .unwrap();
            }
            let class = self.pick(WORDS);
            writeln!(
                out,
                "\tat com.example.shop.{class}.Handler{}.{}(Handler{}.java:{})",
                i % 7,
                self.pick(WORDS),
                i % 7,
                self.rng.random_range(20..900)
            )
            .unwrap();
        }
    }

    fn nginx(&mut self, out: &mut Vec<u8>) {
        let s = self.clock % 86_400;
        self.clock += u64::from(self.rng.random_range(0..3u8) == 0);
        writeln!(
            out,
            "10.{}.{}.{} - - [25/Nov/2026:{:02}:{:02}:{:02} +0000] \"{} {}/{} HTTP/1.1\" {} {} \"-\" \"{}\"",
            self.rng.random_range(0..256),
            self.rng.random_range(0..256),
            self.rng.random_range(0..256),
            s / 3600,
            s / 60 % 60,
            s % 60,
            self.pick(METHODS),
            self.pick(PATHS),
            self.rng.random_range(0..100_000),
            [200, 200, 200, 201, 304, 404, 500][self.rng.random_range(0..7)],
            self.rng.random_range(100..50_000),
            self.pick(AGENTS),
        )
        .unwrap();
    }

    fn json(&mut self, out: &mut Vec<u8>) {
        let time = self.time();
        writeln!(
            out,
            r#"{{"time":"{time}","level":"{}","logger":"shop.orders","msg":"{} {} {}","user_id":{},"latency_ms":{:.3},"path":"{}","ok":{}}}"#,
            self.pick(LEVELS),
            self.pick(WORDS),
            self.pick(WORDS),
            self.pick(WORDS),
            self.rng.random_range(0..1_000_000),
            self.rng.random_range(0.0..500.0),
            self.pick(PATHS),
            self.rng.random_bool(0.9),
        )
        .unwrap();
    }
}

/// Writes at least `bytes` of `workload` (whole records only) to `path`; returns the size written.
pub fn generate(workload: Workload, bytes: u64, seed: u64, path: &Path) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut g = Gen::new(seed);
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(8192);
    while written < bytes {
        buf.clear();
        g.record(workload, &mut buf);
        out.write_all(&buf)?;
        written += buf.len() as u64;
    }
    out.flush()?;
    Ok(written)
}

/// A writer that appends records of `workload` to `path` at `rate` bytes per second.
pub struct RateWriter {
    source: Gen,
    workload: Workload,
    file: std::fs::File,
}

impl RateWriter {
    pub fn open(workload: Workload, seed: u64, path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RateWriter {
            source: Gen::new(seed),
            workload,
            file,
        })
    }

    /// Appends whole records totalling at least `bytes`; returns the size appended.
    pub fn append(&mut self, bytes: u64) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(bytes as usize + 8192);
        while (buf.len() as u64) < bytes {
            self.source.record(self.workload, &mut buf);
        }
        self.file.write_all(&buf)?;
        Ok(buf.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_seeded_and_shaped_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        for w in [Workload::Single, Workload::Multiline, Workload::Nginx, Workload::Json] {
            let a = dir.path().join("a");
            let b = dir.path().join("b");
            generate(w, 100_000, 7, &a).unwrap();
            generate(w, 100_000, 7, &b).unwrap();
            let text = std::fs::read_to_string(&a).unwrap();
            assert_eq!(text, std::fs::read_to_string(&b).unwrap(), "{w:?} is reproducible");
            match w {
                Workload::Single => assert!(text.lines().all(|l| l.len() == 511)),
                Workload::Multiline => {
                    let headers = text.lines().filter(|l| l.starts_with("2026-")).count();
                    let lines = text.lines().count();
                    assert!(
                        lines >= headers * 12 && lines <= headers * 33,
                        "{lines} lines, {headers} records"
                    );
                }
                Workload::Nginx => assert!(
                    text.lines()
                        .all(|l| l.contains("\" HTTP/1.1\"") || l.contains(" HTTP/1.1\" "))
                ),
                Workload::Json => {
                    for l in text.lines() {
                        serde_json::from_str::<serde_json::Value>(l).unwrap();
                    }
                }
            }
        }
    }
}
