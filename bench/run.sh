#!/usr/bin/env bash
# One command per scenario: builds the release binaries, then runs loong-bench.
#   bash bench/run.sh                      # every throughput scenario, 1 GB input, 5 runs each
#   bash bench/run.sh blackhole regex      # some scenarios
#   bash bench/run.sh rate                 # 10 MB/s for 60 s: CPU % and peak RSS
#   bash bench/run.sh --size 200000000 --runs 3 blackhole
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p loong -p loong-bench
exec target/release/loong-bench run "$@"
