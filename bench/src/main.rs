//! `loong-bench`: the end-to-end benchmark harness (see bench/README.md).
//!
//! `loong-bench run [SCENARIO…]` runs the release `loong` binary on generated workloads and prints,
//! per scenario, the medians over `--runs` of: MB of input per CPU-second of the agent process
//! (user + system), wall MB/s, and peak RSS. `loong-bench gen` writes a workload file.

mod measure;
mod scenario;
mod sink;
mod workload;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use scenario::{Scenario, Settings};
use workload::Workload;

#[derive(Parser)]
#[command(name = "loong-bench", about = "End-to-end benchmarks of the loong agent")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenarios (all but `rate` when none is named) and print their figures.
    Run {
        /// Scenarios to run.
        #[arg(value_enum)]
        scenarios: Vec<Scenario>,
        /// The loong binary (build it with `cargo build --release -p loong`).
        #[arg(long, default_value = "target/release/loong")]
        loong: PathBuf,
        /// Bytes of input per throughput run.
        #[arg(long, default_value_t = 1_000_000_000)]
        size: u64,
        /// Runs per scenario; the figures are their medians.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Seed of the workload generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// `rate`: bytes per second appended.
        #[arg(long, default_value_t = 10_000_000)]
        rate: u64,
        /// `rate`: seconds of appending.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Where workloads and run directories go (workload files are reused between invocations).
        #[arg(long, default_value = "target/bench-work")]
        work_dir: PathBuf,
    },
    /// Write a workload file.
    Gen {
        #[arg(value_enum)]
        workload: Workload,
        /// Bytes to write (whole records, so slightly more).
        #[arg(long, default_value_t = 100_000_000)]
        size: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Gen {
            workload,
            size,
            seed,
            out,
        } => {
            let n = workload::generate(workload, size, seed, &out)?;
            println!("{n} bytes of {workload:?} in {}", out.display());
        }
        Cmd::Run {
            mut scenarios,
            loong,
            size,
            runs,
            seed,
            rate,
            seconds,
            work_dir,
        } => {
            if scenarios.is_empty() {
                scenarios = vec![
                    Scenario::Blackhole,
                    Scenario::Multiline,
                    Scenario::Regex,
                    Scenario::Json,
                    Scenario::File,
                    Scenario::Http,
                ];
            }
            anyhow::ensure!(
                loong.exists(),
                "{} not found: cargo build --release -p loong",
                loong.display()
            );
            std::fs::create_dir_all(&work_dir)?;
            // Configs name files by absolute path (input_file requires it).
            let work_dir = std::fs::canonicalize(&work_dir)?;
            let settings = Settings {
                loong,
                size,
                runs: runs.max(1),
                seed,
                rate,
                seconds,
                work_dir,
            };
            let mut reports = Vec::new();
            for s in scenarios {
                eprintln!("scenario {s:?}:");
                reports.push(scenario::run(s, &settings)?);
            }
            println!(
                "\n| scenario | input MB | runs | MB per CPU-second | wall MB/s | CPU % of one core | peak RSS MB |"
            );
            println!("|---|---|---|---|---|---|---|");
            for r in reports {
                println!(
                    "| {:?} | {:.0} | {} | {:.0} | {:.0} | {:.1} | {:.1} |",
                    r.scenario,
                    r.input_mb,
                    r.runs,
                    r.mb_per_cpu_second,
                    r.wall_mb_per_second,
                    r.cpu_percent_of_one_core,
                    r.peak_rss_mb
                );
            }
        }
    }
    Ok(())
}
