use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use loong_api::{MemoryCheckpoints, Registry};
use loong_runtime::builder::{self, Env};
use loong_runtime::{ConfigError, PipelineConfig};

/// Parses, creates and initialises each pipeline (then releases it), as the agent would at load.
pub fn check(registry: Registry, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let env = Env {
        registry: Arc::new(registry),
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        runtime: runtime.handle().clone(),
    };
    let mut failed = 0;
    for file in files {
        match check_one(file, &env) {
            Ok(warnings) => {
                for w in &warnings {
                    eprintln!("{}: warning: {w}", file.display());
                }
                println!("{}: ok", file.display());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} config file(s) invalid", files.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn check_one(file: &std::path::Path, env: &Env) -> Result<Vec<String>, ConfigError> {
    let config = PipelineConfig::load(file)?;
    if !config.enable {
        return Ok(vec!["enable: false, the pipeline would not run".to_owned()]);
    }
    let created = builder::create(config, env)?;
    let warnings = created.warnings.clone();
    created.init()?.release();
    Ok(warnings)
}
