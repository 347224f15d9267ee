#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain. Safe to run again: it skips what is there.
#   * PyPI `protobuf` (>= 4): an independent protobuf implementation that crates/model's
#     python_interop test checks the sls_logs wire format against.
#   * What the build needs beyond gcc and make: pkg-config, OpenSSL and zlib headers (librdkafka,
#     built by the rdkafka crate for flusher_kafka_v2, links them), curl (the tests query servers) and procps (kill, pkill).
#   * The real servers the flusher tests write to and read back from (scripts/services.sh install):
#     InfluxDB, Prometheus and ClickHouse from Debian's packages; Tansu (Kafka protocol) and the OTLP
#     receiver from PyPI.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

apt_ensure pkg-config libssl-dev zlib1g-dev curl procps

if ! command -v python3 >/dev/null 2>&1; then
    echo "install-test-deps: python3 is required (e.g. apt-get install -y python3 python3-pip)" >&2
    exit 1
fi

has_protobuf() {
    python3 -c 'import sys, google.protobuf as pb; sys.exit(int(pb.__version__.split(".")[0]) < 4)' 2>/dev/null
}

if ! has_protobuf; then
    pip_install 'protobuf>=4'
    has_protobuf || { echo "install-test-deps: protobuf>=4 still not importable by python3" >&2; exit 1; }
fi

bash "$HERE/services.sh" install
