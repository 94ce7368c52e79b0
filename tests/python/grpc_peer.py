"""An independent gRPC peer for tests/layers/grpc_python_peer.rs: grpcio with OpenTelemetry's own gRPC
instrumentation (opentelemetry-instrumentation-grpc), speaking the test service
`octollm.test.v1.Echo` of tests/support/grpc_echo.rs without generated stubs (grpcio's generic
API, the protobuf messages encoded by hand).

    grpc_peer.py client --target 127.0.0.1:PORT --key K [--traceparent TP]
        Calls Get once through an instrumented channel (inside the context of TP when given),
        then prints one JSON object: {"outcome": ..., "spans": [...], "versions": {...}}.
    grpc_peer.py server --port 0
        Serves Echo (Get, List) instrumented; prints its port on the first stdout line, and on
        SIGTERM or when stdin closes prints the same JSON object (no outcome) and exits.

Each span: name, kind (SERVER, CLIENT, ...), trace_id (32 hex), span_id (16 hex),
parent_span_id (16 hex or null), attributes (key -> value), status {code: UNSET|OK|ERROR,
description}, events (names).
"""

import argparse
import json
import signal
import sys
import threading
import time
from concurrent import futures
from importlib import metadata

import grpc
from opentelemetry import context, trace
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE = "octollm.test.v1.Echo"
PACKAGES = ["grpcio", "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-instrumentation-grpc"]


# === the messages: protobuf wire format by hand ===


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data, i):
    shift = n = 0
    while True:
        byte = data[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i


def encode(fields):
    """fields: {tag: str | int}; strings are length-delimited, ints varints (0 omitted)."""
    out = bytearray()
    for tag, value in sorted(fields.items()):
        if isinstance(value, str):
            raw = value.encode()
            if raw:
                out += _varint(tag << 3 | 2) + _varint(len(raw)) + raw
        elif value:
            out += _varint(tag << 3 | 0) + _varint(value)
    return bytes(out)


def decode(data):
    """{tag: str | int} of a message with string and varint fields."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        tag, wire = key >> 3, key & 7
        if wire == 0:
            fields[tag], i = _read_varint(data, i)
        elif wire == 2:
            size, i = _read_varint(data, i)
            fields[tag] = data[i : i + size].decode()
            i += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def string_message(value):
    return encode({1: value})


def string_field(data):
    return decode(data).get(1, "")


# === telemetry ===


def tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, exporter


def _value(v):
    return list(v) if isinstance(v, tuple) else v


def report(exporter, outcome=None):
    spans = []
    for s in exporter.get_finished_spans():
        ctx = s.get_span_context()
        spans.append(
            {
                "name": s.name,
                "kind": s.kind.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(s.parent.span_id, "016x") if s.parent else None,
                "attributes": {k: _value(v) for k, v in (s.attributes or {}).items()},
                "status": {"code": s.status.status_code.name, "description": s.status.description},
                "events": [e.name for e in s.events],
                "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
            }
        )
    out = {"spans": spans, "versions": {p: metadata.version(p) for p in PACKAGES}}
    if outcome is not None:
        out["outcome"] = outcome
    print(json.dumps(out), flush=True)


# === modes ===


def client(args):
    provider, exporter = tracing()
    GrpcInstrumentorClient().instrument(tracer_provider=provider)
    token = None
    if args.traceparent:
        parent = TraceContextTextMapPropagator().extract({"traceparent": args.traceparent})
        token = context.attach(parent)
    try:
        with grpc.insecure_channel(args.target) as channel:
            get = channel.unary_unary(
                f"/{SERVICE}/Get",
                request_serializer=string_message,
                response_deserializer=string_field,
            )
            try:
                value = get(args.key, timeout=args.timeout)
                outcome = {"code": "OK", "value": value}
            except grpc.RpcError as err:
                outcome = {"code": err.code().name, "details": err.details()}
    finally:
        if token is not None:
            context.detach(token)
    provider.force_flush()
    report(exporter, outcome)


def _get(request, ctx):
    key = string_field(request)
    if key == "missing":
        ctx.abort(grpc.StatusCode.NOT_FOUND, f"no value for key {key!r}")
    if key == "slow":
        time.sleep(2)
    return string_message(f"echo:{key}")


def _list(request, ctx):
    fields = decode(request)
    count, fail_after = fields.get(1, 0), fields.get(2, 0)
    for i in range(count):
        if fail_after and i == fail_after:
            ctx.abort(grpc.StatusCode.ABORTED, f"aborted after {fail_after} items")
        time.sleep(0.02)
        yield string_message(f"item-{i}")
    if fail_after and fail_after >= count:
        ctx.abort(grpc.StatusCode.ABORTED, f"aborted after {fail_after} items")


def server(args):
    provider, exporter = tracing()
    GrpcInstrumentorServer().instrument(tracer_provider=provider)
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Get": grpc.unary_unary_rpc_method_handler(_get),
            "List": grpc.unary_stream_rpc_method_handler(_list),
        },
    )
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_insecure_port(f"127.0.0.1:{args.port}")
    srv.start()
    print(port, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def read_stdin():
        for _ in sys.stdin:
            pass
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not stop.wait(0.1):
        pass
    srv.stop(grace=2).wait()
    provider.force_flush()
    report(exporter)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    c = modes.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--key", required=True)
    c.add_argument("--traceparent")
    c.add_argument("--timeout", type=float, default=10.0)
    s = modes.add_parser("server")
    s.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    (client if args.mode == "client" else server)(args)


if __name__ == "__main__":
    main()
