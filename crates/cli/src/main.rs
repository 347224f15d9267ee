//! `loong`: the loong-rs agent.

mod check;
mod docs;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "loong", version, about = "loong-rs: a log and observability data collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines of a config directory until SIGINT/SIGTERM, reloading them on change.
    Run(run::RunArgs),
    /// Validate pipeline config files: exit non-zero with the errors of the invalid ones.
    Check {
        /// Config files (.yaml, .yml, .json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List every built-in plugin with its description and options.
    Plugins(docs::PluginsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let registry = loong_plugins_all::registry();
    if !registry.problems().is_empty() {
        for p in registry.problems() {
            tracing::error!("plugin registry: {p}");
        }
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Run(args) => run::run(registry, args),
        Command::Check { files } => check::check(registry, &files),
        Command::Plugins(args) => docs::plugins(&registry, &args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loong: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, so stdout stays clean for `flusher_stdout`. `LOONG_LOG` sets the filter
/// (`info` by default; e.g. `LOONG_LOG=debug,hyper=info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
