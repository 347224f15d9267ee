#!/usr/bin/env bash
# Real backends for tests and developers, on loopback with a throw-away data directory.
#
#   scripts/services.sh install NAME...          install the server(s) from Debian's packages (skips what is there)
#   scripts/services.sh start NAME PORT DIR      start NAME on 127.0.0.1:PORT with its data in DIR; waits until it
#                                                answers, prints its PID (also written to DIR/NAME.pid)
#   scripts/services.sh stop NAME DIR            stop the instance started with DIR
#   scripts/services.sh names                    the servers this script knows
#
# Tests start their own instances through loong_testkit::services (a free port and a temp dir each);
# scripts/test.sh installs every server first, so under CI a missing server is a failure, not a skip.
set -euo pipefail

NAMES="influxdb prometheus"

die() { echo "services.sh: $*" >&2; exit 1; }

binary_of() {
    case "$1" in
        influxdb) echo influxd ;;
        prometheus) echo prometheus ;;
        *) die "unknown service $1 (known: $NAMES)" ;;
    esac
}

package_of() {
    case "$1" in
        influxdb) echo influxdb ;;
        prometheus) echo prometheus ;;
    esac
}

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

install() {
    local missing=()
    for name in "$@"; do
        command -v "$(binary_of "$name")" >/dev/null 2>&1 || missing+=("$(package_of "$name")")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "services.sh: installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
    # Debian starts packaged daemons on their default ports; tests run their own instances.
    for name in "$@"; do
        if command -v systemctl >/dev/null 2>&1; then systemctl stop "$(package_of "$name")" 2>/dev/null || true; fi
        pkill -x "$(binary_of "$name")" 2>/dev/null || true
    done
}

wait_http() { # URL SECONDS PID LOG
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || { tail -20 "$4" >&2; die "server exited before answering $1"; }
        [ $SECONDS -lt $deadline ] || { tail -20 "$4" >&2; die "no answer from $1 after $2 s"; }
        sleep 0.1
    done
}

start() {
    local name=$1 port=$2 dir=$3
    command -v "$(binary_of "$name")" >/dev/null 2>&1 || die "$name is not installed: run scripts/services.sh install $name"
    mkdir -p "$dir"
    local log="$dir/$name.log" pid
    case "$name" in
        influxdb)
            # The RPC (backup) port must not collide with another instance's: take the next one.
            cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((port + 1))"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
            influxd -config "$dir/influxdb.conf" >"$log" 2>&1 &
            pid=$!
            wait_http "http://127.0.0.1:$port/ping" 30 "$pid" "$log"
            ;;
        prometheus)
            printf 'global:\n  scrape_interval: 1h\n' >"$dir/prometheus.yml"
            prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
                --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
                >"$log" 2>&1 &
            pid=$!
            wait_http "http://127.0.0.1:$port/-/ready" 30 "$pid" "$log"
            ;;
    esac
    echo "$pid" >"$dir/$name.pid"
    echo "$pid"
}

stop() {
    local name=$1 dir=$2 pid
    [ -f "$dir/$name.pid" ] || return 0
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$name.pid"
}

case "${1:-}" in
    install) shift; [ $# -gt 0 ] || set -- $NAMES; install "$@" ;;
    start) [ $# -eq 4 ] || die "usage: start NAME PORT DIR"; start "$2" "$3" "$4" ;;
    stop) [ $# -eq 3 ] || die "usage: stop NAME DIR"; stop "$2" "$3" ;;
    names) echo $NAMES ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
