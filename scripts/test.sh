#!/usr/bin/env bash
# The project's test command (README.md): installs what the tests need, checks lint and the
# generated files, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
make lint
cargo test --workspace --all-targets
