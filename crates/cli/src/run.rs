use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use loong_api::Registry;
use loong_runtime::checkpoint::FileCheckpoints;
use loong_runtime::{Agent, AgentOptions, Env, PipelineConfig, monitor, onetime};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Directory of pipeline configs, one pipeline per file; re-read on change.
    #[arg(
        long,
        default_value = "conf/continuous_pipeline_config/local",
        env = "LOONG_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    /// Directory of one-time pipeline configs: each runs once to the end of its sources, and is not
    /// run again until its text changes. Ignored when it does not exist.
    #[arg(
        long,
        default_value = "conf/onetime_pipeline_config/local",
        env = "LOONG_ONETIME_CONFIG_DIR"
    )]
    onetime_config_dir: PathBuf,
    /// Where checkpoints are kept (default `data`; with `--once`, a temporary directory, so every
    /// run reads its files from the beginning).
    #[arg(long, env = "LOONG_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run the given CONFIG files once: read every file they match from its beginning, deliver
    /// everything, exit 0 when all of it is delivered and non-zero otherwise.
    #[arg(long, requires = "configs")]
    once: bool,
    /// Config files for `--once`.
    #[arg(requires = "once")]
    configs: Vec<PathBuf>,
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

fn async_runtime(args: &RunArgs) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.io_threads.max(1))
        .thread_name("loong-io")
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(registry: Registry, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.once {
        return run_once(registry, args);
    }
    if !args.config_dir.is_dir() {
        bail!("config directory {} does not exist", args.config_dir.display());
    }
    let runtime = async_runtime(&args)?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("data"));
    let checkpoints = FileCheckpoints::open(&data_dir)?;
    let env = Env {
        registry: Arc::new(registry),
        checkpoints: Arc::new(checkpoints),
        runtime: runtime.handle().clone(),
    };
    let mut agent = Agent::new(
        env,
        AgentOptions {
            config_dir: args.config_dir.clone(),
            onetime_config_dir: Some(args.onetime_config_dir.clone()),
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

/// `loong run --once CONFIG…`: every config as a one-time pipeline, all at once.
fn run_once(registry: Registry, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut configs = Vec::new();
    for path in &args.configs {
        configs.push(PipelineConfig::load(path)?);
    }
    let runtime = async_runtime(&args)?;
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary data directory")?;
            temp.path().to_owned()
        }
    };
    let env = Env {
        registry: Arc::new(registry),
        checkpoints: Arc::new(FileCheckpoints::open(&data_dir)?),
        runtime: runtime.handle().clone(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("interrupted; stopping the one-time pipelines");
        c.store(true, Ordering::Release);
    });
    let started = std::time::Instant::now();
    let outcomes = onetime::run(configs, &env, cancel);
    let mut ok = true;
    for (name, outcome) in &outcomes {
        match outcome {
            Ok(o) if o.success() => {
                tracing::info!(pipeline = %name, elapsed = ?started.elapsed(), "delivered everything")
            }
            Ok(o) => {
                ok = false;
                tracing::error!(
                    pipeline = %name, undelivered = o.undelivered, dropped = o.dropped, timed_out = o.timed_out,
                    "not everything was delivered"
                );
            }
            Err(e) => {
                ok = false;
                tracing::error!("{e}");
            }
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
