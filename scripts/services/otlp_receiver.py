#!/usr/bin/env python3
"""An OTLP receiver for tests: OTLP/gRPC with the official generated servicers and OTLP/HTTP
(protobuf or JSON bodies, optionally gzip), both on 127.0.0.1, decoding every request with the
official classes of PyPI's `opentelemetry-proto`.

Every received item (log record, metric, span) is appended as one JSON line to DIR/received.jsonl:
  {"signal": "logs|metrics|traces", "transport": "grpc|http", "request": N,
   "headers": {...}, "resource": {...}, "scope": {...}, "item": {...}}
where resource/scope/item are google.protobuf.json_format.MessageToDict(..., preserving_proto_field_name=True)
(so bytes fields are base64, 64-bit integers strings, enums names, and fields at their default left out).

HTTP endpoints besides the OTLP ones (POST /v1/logs, /v1/metrics, /v1/traces):
  GET  /health      200 once both servers listen
  GET  /received    the contents of received.jsonl
  GET  /stats       {"requests": {...}, "items": {...}, "failed": N, "rejected": N}
  POST /control     a JSON object, any of:
       "fail": N               the next N export requests (either transport) fail, with
       "grpc_code": "UNAVAILABLE"   the gRPC status they fail with (default UNAVAILABLE), and
       "http_status": 503      the HTTP status (default 503); "retry_after": S adds Retry-After
       "reject": K             the next export request is accepted with a partial success rejecting K items
       "reject_message": "..." its error_message
       "record": false         stop writing items (count them only), e.g. for throughput runs

usage: otlp_receiver.py --http-port PORT --grpc-port PORT --dir DIR
"""

import argparse
import gzip
import json
import os
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

# signal -> (request class, response class, resource list field, scope list field, item list field,
#            partial success field, rejected count field)
SIGNALS = {
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
             "resource_logs", "scope_logs", "log_records", "rejected_log_records"),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse,
                "resource_metrics", "scope_metrics", "metrics", "rejected_data_points"),
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse,
               "resource_spans", "scope_spans", "spans", "rejected_spans"),
}


class State:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.path = path
        # A receiver killed while writing may have left half a line: start on a fresh one, so the
        # half line stays unreadable instead of spoiling the next item.
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        else:
            torn = False
        self.out = open(path, "a", encoding="utf-8")
        if torn:
            self.out.write("\n")
            self.out.flush()
        self.fail = 0
        self.grpc_code = grpc.StatusCode.UNAVAILABLE
        self.http_status = 503
        self.retry_after = None
        self.reject = 0
        self.reject_message = ""
        self.record = True
        self.requests = {"logs": 0, "metrics": 0, "traces": 0}
        self.items = {"logs": 0, "metrics": 0, "traces": 0}
        self.seq = 0
        self.failed = 0
        self.rejected = 0

    def control(self, spec):
        with self.lock:
            if "fail" in spec:
                self.fail = int(spec["fail"])
            if "grpc_code" in spec:
                self.grpc_code = grpc.StatusCode[spec["grpc_code"]]
            if "http_status" in spec:
                self.http_status = int(spec["http_status"])
            if "retry_after" in spec:
                self.retry_after = spec["retry_after"]
            if "reject" in spec:
                self.reject = int(spec["reject"])
            if "reject_message" in spec:
                self.reject_message = str(spec["reject_message"])
            if "record" in spec:
                self.record = bool(spec["record"])

    def admit(self):
        """None to accept the next request, or the failure to answer it with."""
        with self.lock:
            if self.fail > 0:
                self.fail -= 1
                self.failed += 1
                return (self.grpc_code, self.http_status, self.retry_after)
            return None

    def store(self, signal, transport, headers, request):
        """Records the items of a decoded request; returns the response message."""
        _, response_cls, resources_f, scopes_f, items_f, rejected_f = SIGNALS[signal]
        lines = []
        count = 0
        with self.lock:
            record = self.record
        for resource in getattr(request, resources_f):
            res = json_format.MessageToDict(resource.resource, preserving_proto_field_name=True)
            for scope in getattr(resource, scopes_f):
                sc = json_format.MessageToDict(scope.scope, preserving_proto_field_name=True)
                for item in getattr(scope, items_f):
                    count += 1
                    if record:
                        lines.append({
                            "signal": signal,
                            "transport": transport,
                            "headers": headers,
                            "resource": res,
                            "resource_schema_url": resource.schema_url,
                            "scope": sc,
                            "item": json_format.MessageToDict(item, preserving_proto_field_name=True),
                        })
        response = response_cls()
        with self.lock:
            self.seq += 1
            for line in lines:
                line["request"] = self.seq
            if lines:
                self.out.write("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
                self.out.flush()
            self.requests[signal] += 1
            self.items[signal] += count
            if self.reject > 0:
                partial = response.partial_success
                setattr(partial, rejected_f, self.reject)
                partial.error_message = self.reject_message
                self.rejected += self.reject
                self.reject = 0
        return response

    def stats(self):
        with self.lock:
            return {"requests": dict(self.requests), "items": dict(self.items), "failed": self.failed,
                    "rejected": self.rejected}


def grpc_servicer(base, signal, state):
    class Servicer(base):
        def Export(self, request, context):
            failure = state.admit()
            if failure is not None:
                context.abort(failure[0], "failing on request (test control)")
            headers = {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}
            return state.store(signal, "grpc", headers, request)
    return Servicer()


def http_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", content_type="text/plain", extra=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                data = gzip.decompress(data)
            return data

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, b"ok")
            elif self.path == "/received":
                with state.lock:
                    state.out.flush()
                with open(state.path, "rb") as f:
                    self.answer(200, f.read(), "application/x-ndjson")
            elif self.path == "/stats":
                self.answer(200, json.dumps(state.stats()).encode(), "application/json")
            else:
                self.answer(404, b"not found")

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            try:
                data = self.body()
            except Exception as e:  # a broken gzip body
                self.answer(400, str(e).encode())
                return
            if path == "/control":
                state.control(json.loads(data or b"{}"))
                self.answer(200, b"ok")
                return
            signal = {"/v1/logs": "logs", "/v1/metrics": "metrics", "/v1/traces": "traces"}.get(path)
            if signal is None:
                self.answer(404, b"not an OTLP path")
                return
            failure = state.admit()
            if failure is not None:
                extra = {"Retry-After": str(failure[2])} if failure[2] is not None else {}
                self.answer(failure[1], b"failing on request (test control)", extra=extra)
                return
            request_cls = SIGNALS[signal][0]
            request = request_cls()
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                if content_type == "application/json":
                    json_format.Parse(data, request)
                elif content_type == "application/x-protobuf":
                    request.ParseFromString(data)
                else:
                    self.answer(415, b"unsupported content type")
                    return
            except Exception as e:
                self.answer(400, ("cannot decode: %s" % e).encode())
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = state.store(signal, "http", headers, request)
            if content_type == "application/json":
                self.answer(200, json_format.MessageToJson(response).encode(), "application/json")
            else:
                self.answer(200, response.SerializeToString(), "application/x-protobuf")

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    state = State(os.path.join(args.dir, "received.jsonl"))

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.so_reuseport", 0)],
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
        grpc_servicer(logs_service_pb2_grpc.LogsServiceServicer, "logs", state), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        grpc_servicer(metrics_service_pb2_grpc.MetricsServiceServicer, "metrics", state), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
        grpc_servicer(trace_service_pb2_grpc.TraceServiceServicer, "traces", state), server)
    if server.add_insecure_port("127.0.0.1:%d" % args.grpc_port) == 0:
        sys.exit("cannot listen on gRPC port %d" % args.grpc_port)
    server.start()

    httpd = ThreadingHTTPServer(("127.0.0.1", args.http_port), http_handler(state))
    httpd.daemon_threads = True
    print("otlp receiver: http %d, grpc %d, items in %s" % (args.http_port, args.grpc_port, state.path),
          flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
