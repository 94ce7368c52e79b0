"""An OTLP receiver built on grpcio, the standard library's HTTP server and the
`opentelemetry-proto` package: an implementation of the protocol independent of the crate's
exporters, for tests/otlp_wire.rs.

It listens on 127.0.0.1 (gRPC on one port, HTTP/protobuf on another, both chosen by the OS),
prints `ready <grpc port> <http port>` once both accept, then one JSON line per request it
received on stdout: the transport, the signal, the headers or metadata (names lower-cased), the
body's encoding, how many items the request carried, and what it answered. Its answers come from
the script given as the first argument, a JSON object mapping a signal (`traces`, `metrics`,
`logs`) to a list of answers used one per request in order (`ok` once the list is used up):

    "ok"                                   accept everything
    {"partial": N, "message": "..."}       partial success: N items rejected
    {"grpc": "UNAVAILABLE", "message": "...", "retry_ms": 300}
                                           a gRPC status, with google.rpc.RetryInfo when
                                           retry_ms is given (HTTP requests answer 503)
    {"http": 429, "retry_after": "1"}      an HTTP status, with Retry-After when given (gRPC
                                           requests answer UNAVAILABLE)
    {"http": 503, "retry_after_date": 2}   Retry-After as the HTTP date that many seconds on

Each line also carries `time`, the receiver's monotonic clock in seconds.

It stops on SIGTERM or when stdin closes.
"""

import email.utils
import gzip
import http.server
import json
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

SCRIPT = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
LOCK = threading.Lock()
USED = {"traces": 0, "metrics": 0, "logs": 0}


def next_answer(signal_name):
    with LOCK:
        answers = SCRIPT.get(signal_name, [])
        i = USED[signal_name]
        USED[signal_name] += 1
    return answers[i] if i < len(answers) else "ok"


def report(entry):
    entry["time"] = time.monotonic()
    with LOCK:
        sys.stdout.write(json.dumps(entry, sort_keys=True) + "\n")
        sys.stdout.flush()


def count_items(signal_name, request):
    if signal_name == "traces":
        return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if signal_name == "logs":
        return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    points = 0
    for r in request.resource_metrics:
        for s in r.scope_metrics:
            for m in s.metrics:
                kind = m.WhichOneof("data")
                if kind is not None:
                    points += len(getattr(m, kind).data_points)
    return points


SIGNALS = {
    "traces": (
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
        "rejected_spans",
    ),
    "metrics": (
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "logs": (
        logs_pb.ExportLogsServiceRequest,
        logs_pb.ExportLogsServiceResponse,
        "rejected_log_records",
    ),
}


def success(signal_name, answer):
    """The response message of an accepted request (a partial success when scripted)."""
    _, response_type, field = SIGNALS[signal_name]
    response = response_type()
    if isinstance(answer, dict) and "partial" in answer:
        setattr(response.partial_success, field, answer["partial"])
        response.partial_success.error_message = answer.get("message", "")
    return response


def grpc_status_of(answer):
    if isinstance(answer, dict) and "grpc" in answer:
        return answer["grpc"], answer.get("message", ""), answer.get("retry_ms")
    if isinstance(answer, dict) and "http" in answer:
        return "UNAVAILABLE", "", None
    return None


def handle_grpc(signal_name, body, context):
    """One gRPC `Export` call. The server leaves the message compressed (per-message
    decompression is off), so the body shows whether the client sent it gzip-compressed."""
    metadata = {k.lower(): v for k, v in context.invocation_metadata()}
    encoding = "identity"
    if body[:2] == GZIP_MAGIC:
        encoding = "gzip"
        body = gzip.decompress(body)
    request = SIGNALS[signal_name][0].FromString(body)
    answer = next_answer(signal_name)
    report(
        {
            "transport": "grpc",
            "signal": signal_name,
            "headers": metadata,
            "encoding": encoding,
            "items": count_items(signal_name, request),
            "answer": answer,
        }
    )
    failure = grpc_status_of(answer)
    if failure is None:
        return success(signal_name, answer)
    code_name, message, retry_ms = failure
    status = status_pb2.Status(code=getattr(code_pb2, code_name), message=message)
    if retry_ms is not None:
        info = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(
                seconds=retry_ms // 1000, nanos=(retry_ms % 1000) * 1_000_000
            )
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        status.details.append(detail)
    context.abort_with_status(rpc_status.to_status(status))


GZIP_MAGIC = b"\x1f\x8b"
SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def grpc_handler(signal_name):
    def export(body, context):
        return handle_grpc(signal_name, body, context)

    method = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=lambda b: b,
        response_serializer=lambda m: m.SerializeToString(),
    )
    return grpc.method_handlers_generic_handler(SERVICES[signal_name], {"Export": method})


PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        signal_name = PATHS.get(self.path.split("?")[0])
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if signal_name is None:
            self.reply(404, b"", {})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        encoding = headers.get("content-encoding", "identity")
        if encoding == "gzip":
            body = gzip.decompress(body)
        request_type = SIGNALS[signal_name][0]
        request = request_type.FromString(body)
        answer = next_answer(signal_name)
        report(
            {
                "transport": "http",
                "signal": signal_name,
                "headers": headers,
                "encoding": encoding,
                "items": count_items(signal_name, request),
                "answer": answer,
            }
        )
        if isinstance(answer, dict) and "http" in answer:
            extra = {}
            if "retry_after" in answer:
                extra["Retry-After"] = answer["retry_after"]
            if "retry_after_date" in answer:
                at = time.time() + answer["retry_after_date"]
                extra["Retry-After"] = email.utils.formatdate(at, usegmt=True)
            message = answer.get("message", "refused").encode()
            status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message.decode())
            self.reply(answer["http"], status.SerializeToString(), extra)
            return
        if isinstance(answer, dict) and "grpc" in answer:
            self.reply(503, b"", {})
            return
        self.reply(200, success(signal_name, answer).SerializeToString(), {})

    def reply(self, code, body, extra):
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def main():
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.per_message_decompression", 0)],
    )
    server.add_generic_rpc_handlers(tuple(grpc_handler(name) for name in SERVICES))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"ready {grpc_port} {httpd.server_address[1]}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    httpd.shutdown()
    server.stop(0)


if __name__ == "__main__":
    main()
