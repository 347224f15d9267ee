# ClickHouse from Debian (clickhouse-server 18.16): the packaged config with every path under DIR, the HTTP
# interface on 127.0.0.1:PORT, the native protocol on PORT+1 and no other port (no interserver, no TLS).
# Besides the password-less `default` user it has a user `loong` with password `loong-pw`, for the
# authentication tests.

clickhouse_bin() {
    command -v clickhouse-server 2>/dev/null || { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; }
}
clickhouse_installed() { [ -n "$(clickhouse_bin)" ] && [ -f /etc/clickhouse-server/config.xml ]; }
clickhouse_install() { apt_install clickhouse-server; stop_packaged_daemon clickhouse-server clickhouse-server; }
clickhouse_start() {
    local port=$1 dir=$2
    mkdir -p "$dir/data" "$dir/log" "$dir/users.d"
    # Only the listed ports stay: interserver_http_port goes, https/secure TCP are commented out upstream.
    sed -e "s|/var/lib/clickhouse/|$dir/data/|g" \
        -e "s|/var/log/clickhouse-server/|$dir/log/|g" \
        -e "s|<http_port>[0-9]*</http_port>|<http_port>$port</http_port><listen_host>127.0.0.1</listen_host>|" \
        -e "s|<tcp_port>[0-9]*</tcp_port>|<tcp_port>$((port + 1))</tcp_port>|" \
        -e "/<interserver_http_port>/d" \
        -e "/<mysql_port>/d" \
        /etc/clickhouse-server/config.xml >"$dir/config.xml"
    cp /etc/clickhouse-server/users.xml "$dir/users.xml"
    cat >"$dir/users.d/loong.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <users>
        <loong>
            <password>loong-pw</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </loong>
    </users>
</yandex>
XML
    (cd "$dir" && exec "$(clickhouse_bin)" --config-file="$dir/config.xml") >"$dir/clickhouse.log" 2>&1 &
    local pid=$!
    wait_http "http://127.0.0.1:$port/ping" 30 "$pid" "$dir/clickhouse.log"
    echo "$pid"
}
