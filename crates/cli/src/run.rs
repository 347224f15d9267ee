use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use loong_api::Registry;
use loong_runtime::checkpoint::FileCheckpoints;
use loong_runtime::{Agent, AgentOptions, Env, monitor};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Directory of pipeline configs, one pipeline per file; re-read on change.
    #[arg(
        long,
        default_value = "conf/continuous_pipeline_config/local",
        env = "LOONG_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    /// Where checkpoints are kept.
    #[arg(long, default_value = "data", env = "LOONG_DATA_DIR")]
    data_dir: PathBuf,
    /// Serve /metrics and /health on this address (off when not given).
    #[arg(long, env = "LOONG_MONITOR_ADDR")]
    monitor: Option<SocketAddr>,
    /// Allow a non-loopback monitor address.
    #[arg(long)]
    monitor_allow_remote: bool,
    /// How often the config directory is re-scanned.
    #[arg(long, default_value = "2s", value_parser = humantime_duration)]
    scan_interval: Duration,
    /// Worker threads of the shared async runtime that plugins doing network I/O use.
    #[arg(long, default_value_t = 2)]
    io_threads: usize,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    s.parse::<loong_api::Duration>().map(|d| d.get())
}

pub fn run(registry: Registry, args: RunArgs) -> anyhow::Result<ExitCode> {
    if !args.config_dir.is_dir() {
        bail!("config directory {} does not exist", args.config_dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.io_threads.max(1))
        .thread_name("loong-io")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let checkpoints = FileCheckpoints::open(&args.data_dir)?;
    let env = Env {
        registry: Arc::new(registry),
        checkpoints: Arc::new(checkpoints),
        runtime: runtime.handle().clone(),
    };
    let mut agent = Agent::new(
        env,
        AgentOptions {
            config_dir: args.config_dir.clone(),
            scan_interval: args.scan_interval,
        },
    );

    if let Some(addr) = args.monitor {
        if !addr.ip().is_loopback() && !args.monitor_allow_remote {
            bail!("--monitor {addr} is not a loopback address; pass --monitor-allow-remote to expose it");
        }
        let handle = monitor::install_recorder()?;
        let bound = runtime.block_on(monitor::serve(addr, handle, agent.health()))?;
        tracing::info!(address = %bound, "serving /metrics and /health");
    }

    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
    });
    tracing::info!(config_dir = %args.config_dir.display(), "loong started");
    agent.run_until(&stop_rx);
    agent.shutdown();
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
