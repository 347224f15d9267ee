# InfluxDB 1.x from Debian (the influxdb line protocol's reference server).
# Each file under scripts/services/ defines, for its service NAME:
#   NAME_installed        exit 0 when the server is installed
#   NAME_install          install it (Debian packages via apt_install, PyPI via pip_install, …)
#   NAME_start PORT DIR   start it in the background on 127.0.0.1:PORT with its data under DIR, wait until it
#                         answers, and print its PID (PORT+1 may also be used)

influxdb_installed() { command -v influxd >/dev/null 2>&1; }
influxdb_install() { apt_install influxdb; stop_packaged_daemon influxdb influxd; }
influxdb_start() {
    local port=$1 dir=$2
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
    influxd -config "$dir/influxdb.conf" >"$dir/influxdb.log" 2>&1 &
    local pid=$!
    wait_http "http://127.0.0.1:$port/ping" 30 "$pid" "$dir/influxdb.log"
    echo "$pid"
}
