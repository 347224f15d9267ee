# Prometheus from Debian, with the remote write receiver on.

prometheus_installed() { command -v prometheus >/dev/null 2>&1; }
prometheus_install() { apt_install prometheus; stop_packaged_daemon prometheus prometheus; }
prometheus_start() {
    local port=$1 dir=$2
    printf 'global:\n  scrape_interval: 1h\n' >"$dir/prometheus.yml"
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
        >"$dir/prometheus.log" 2>&1 &
    local pid=$!
    wait_http "http://127.0.0.1:$port/-/ready" 30 "$pid" "$dir/prometheus.log"
    echo "$pid"
}
