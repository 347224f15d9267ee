#!/usr/bin/env bash
# Real backends for tests and developers, on loopback with a throw-away data directory.
#
#   scripts/services.sh install [NAME...]        install the server(s) (all when none is named; skips what is there)
#   scripts/services.sh start NAME PORT DIR      start NAME on 127.0.0.1:PORT with its data in DIR; waits until it
#                                                answers, prints its PID (also written to DIR/NAME.pid)
#   scripts/services.sh stop NAME DIR            stop the instance started with DIR
#   scripts/services.sh names                    the servers this script knows
#
# Each server is described by scripts/services/NAME.sh (see influxdb.sh for the functions it defines).
# Tests start their own instances through loong_testkit::services (a free port and a temp dir each);
# scripts/test.sh installs every server first, so under CI a missing server is a failure, not a skip.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
NAMES=""
for f in "$HERE"/services/*.sh; do
    # shellcheck source=/dev/null
    source "$f"
    NAMES="$NAMES $(basename "$f" .sh)"
done
NAMES="${NAMES# }"

die() { echo "services.sh: $*" >&2; exit 1; }

known() { case " $NAMES " in *" $1 "*) ;; *) die "unknown service $1 (known: $NAMES)" ;; esac; }

# Debian starts packaged daemons on their default ports; tests run their own instances.
stop_packaged_daemon() { # UNIT BINARY
    if command -v systemctl >/dev/null 2>&1; then systemctl stop "$1" 2>/dev/null || true; fi
    pkill -x "$2" 2>/dev/null || true
}

wait_http() { # URL SECONDS PID LOG
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || { tail -20 "$4" >&2; die "server exited before answering $1"; }
        [ $SECONDS -lt $deadline ] || { tail -20 "$4" >&2; die "no answer from $1 after $2 s"; }
        sleep 0.1
    done
}

wait_tcp() { # PORT SECONDS PID LOG
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || { tail -20 "$4" >&2; die "server exited before listening on $1"; }
        [ $SECONDS -lt $deadline ] || { tail -20 "$4" >&2; die "nothing listening on $1 after $2 s"; }
        sleep 0.1
    done
}

install() {
    for name in "$@"; do
        known "$name"
        if ! "${name}_installed"; then
            echo "services.sh: installing $name" >&2
            "${name}_install"
            "${name}_installed" || die "$name is still not installed"
        fi
    done
}

start() {
    local name=$1 port=$2 dir=$3
    known "$name"
    "${name}_installed" || die "$name is not installed: run scripts/services.sh install $name"
    mkdir -p "$dir"
    local pid
    pid=$("${name}_start" "$port" "$dir")
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
    names) echo "$NAMES" ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
