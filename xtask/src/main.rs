//! Repository tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! * `gen-plugins`: writes `plugins/all` (its Cargo.toml and one registration file per section)
//!   from `plugins.yml`.
//! * `gen-plugins --check`: fails, naming the stale files, when they differ from what `plugins.yml`
//!   gives; `make lint` runs it.

mod gen_plugins;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask gen-plugins [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["gen-plugins"] => gen_plugins::generate(&workspace_root()),
        ["gen-plugins", "--check"] => gen_plugins::check(&workspace_root()),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The xtask crate sits at the workspace root, so tasks work from any current directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}
