# An OTLP receiver (OTLP/HTTP on PORT, OTLP/gRPC on PORT+1) written with the official protobuf
# classes of PyPI's opentelemetry-proto and grpcio's generated servicers: scripts/services/otlp_receiver.py.
# It appends every received log record, metric and span as a JSON line to DIR/received.jsonl, also
# served at GET /received; POST /control makes it fail or partially reject the next requests.

otlp_installed() {
    python3 -c 'import grpc, opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc' >/dev/null 2>&1
}
otlp_install() { pip_install opentelemetry-proto grpcio; }
otlp_start() {
    local port=$1 dir=$2
    python3 "$HERE/services/otlp_receiver.py" --http-port "$port" --grpc-port "$((port + 1))" --dir "$dir" \
        >>"$dir/otlp.log" 2>&1 &
    local pid=$!
    wait_http "http://127.0.0.1:$port/health" 30 "$pid" "$dir/otlp.log"
    wait_tcp "$((port + 1))" 30 "$pid" "$dir/otlp.log"
    echo "$pid"
}
