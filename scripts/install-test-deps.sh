#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain. Safe to run again: it skips what is there.
#   * PyPI `protobuf` (>= 4): an independent protobuf implementation that crates/model's
#     python_interop test checks the sls_logs wire format against.
#   * The real servers the flusher tests write to and read back from (scripts/services.sh install):
#     InfluxDB 1.x and Prometheus from Debian's packages.
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
    echo "install-test-deps: python3 is required (e.g. apt-get install -y python3 python3-pip)" >&2
    exit 1
fi

has_protobuf() {
    python3 -c 'import sys, google.protobuf as pb; sys.exit(int(pb.__version__.split(".")[0]) < 4)' 2>/dev/null
}

if ! has_protobuf; then
    export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
    # A distribution's own Python refuses system-wide installs (PEP 668); fall back to the user site.
    python3 -m pip install --quiet 'protobuf>=4' ||
        python3 -m pip install --quiet --user --break-system-packages 'protobuf>=4'
    has_protobuf || { echo "install-test-deps: protobuf>=4 still not importable by python3" >&2; exit 1; }
fi

bash "$(dirname "$0")/services.sh" install
