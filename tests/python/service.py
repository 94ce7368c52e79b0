"""A small Python service of the OctoLLM platform, instrumented with the standard
OpenTelemetry Python packages and following the same conventions as the Rust services that
use octollm-telemetry (see docs/other-languages.md).

Endpoints:
  GET /py                       answers {"from": "python"} and writes one log line
  GET /py-calls-rust?target=URL calls URL (an http:// URL, e.g. a Rust service) and answers
                                {"status": <its status>, "body": <its body>}

Configuration (environment):
  HOST, PORT                    listen address; default 127.0.0.1:8000 (PORT=0: any free port)
  OTEL_SERVICE_NAME             service.name (default: service.name in
                                OTEL_RESOURCE_ATTRIBUTES, else "python-service")
  SERVICE_NAMESPACE             service.namespace (default octollm)
  APP_VERSION                   service.version (default 0.0.0)
  ENVIRONMENT                   dev | staging | prod (development, production accepted);
                                deployment.environment.name and deployment.environment
  POD_NAME, HOSTNAME            service.instance.id (else a random UUID); POD_NAME,
  POD_NAMESPACE, NODE_NAME      also k8s.pod.name, k8s.namespace.name, k8s.node.name
  OTEL_RESOURCE_ATTRIBUTES      extra resource attributes (read by the SDK)
  OTEL_TRACES_SAMPLER(_ARG)     read by the SDK; when unset, OTEL_SAMPLING_RATE (default 1.0
                                in dev, 0.1 in staging and prod) gives parentbased_traceidratio
  OTEL_EXPORTER_OTLP_ENDPOINT   collector base URL (read by the exporter; /v1/traces is
                                appended for http/protobuf); OTEL_EXPORTER_OTLP_PROTOCOL
                                http/protobuf (default) or grpc (needs
                                opentelemetry-exporter-otlp-proto-grpc)
  OTEL_TRACES_EXPORTER          otlp (default), console or none
  OTEL_BSP_*                    batch span processor settings (read by the SDK)
  OTEL_PROPAGATORS              read by the SDK; default tracecontext,baggage

Log lines are JSON objects on stdout with the schema of octollm-telemetry: timestamp (RFC 3339,
UTC, microseconds), level (lower case), target, message, extra fields, span, trace_id, span_id,
trace_sampled, request_id, service.

SIGTERM (or SIGINT) stops the server; the span processor is then shut down, which exports every
span still queued, and the process exits with status 0.
"""

import datetime
import json
import logging
import os
import signal
import socket
import sys
import uuid
from contextvars import ContextVar

# Stable HTTP semantic conventions (http.request.method, url.full, http.response.status_code,
# ...), as the Rust layer records them. Must be set before the instrumentations are imported.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException, Request  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: E402
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    ConsoleSpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio  # noqa: E402

RESERVED_KEYS = (
    "timestamp",
    "level",
    "target",
    "message",
    "span",
    "trace_id",
    "span_id",
    "trace_sampled",
    "request_id",
    "service",
)
ENVIRONMENTS = {
    "dev": "dev",
    "staging": "staging",
    "prod": "prod",
    "development": "dev",
    "production": "prod",
}
LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}
# Attributes every logging.LogRecord has: anything else was passed with `extra=`.
# (uvicorn adds color_message, a copy of the message with terminal colours.)
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

REQUEST_ID: ContextVar = ContextVar("request_id", default=None)


def env(name, default=None):
    """An environment variable; empty counts as unset."""
    value = os.environ.get(name, "")
    return value if value else default


def fail(name, value, accepted):
    sys.exit(f"invalid value {value!r} for {name}: {accepted}")


def build_resource():
    environment = env("ENVIRONMENT", "dev")
    if environment not in ENVIRONMENTS:
        fail("ENVIRONMENT", environment, "dev, staging or prod (development, production accepted)")
    environment = ENVIRONMENTS[environment]
    attrs = {
        "service.namespace": env("SERVICE_NAMESPACE", "octollm"),
        "service.instance.id": env("POD_NAME") or env("HOSTNAME") or str(uuid.uuid4()),
        "service.version": env("APP_VERSION", "0.0.0"),
        "deployment.environment.name": environment,
        "deployment.environment": environment,
    }
    for var, key in (
        ("POD_NAME", "k8s.pod.name"),
        ("POD_NAMESPACE", "k8s.namespace.name"),
        ("NODE_NAME", "k8s.node.name"),
    ):
        if env(var):
            attrs[key] = env(var)
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME under these.
    resource = Resource.create(attrs)
    if resource.attributes.get("service.name", "unknown_service") == "unknown_service":
        resource = resource.merge(Resource({"service.name": "python-service"}))
    return resource, environment


def build_sampler(environment):
    """None lets the SDK read OTEL_TRACES_SAMPLER; else the platform's OTEL_SAMPLING_RATE."""
    if env("OTEL_TRACES_SAMPLER"):
        return None
    default = "1.0" if environment == "dev" else "0.1"
    raw = env("OTEL_SAMPLING_RATE", default)
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        fail("OTEL_SAMPLING_RATE", raw, "a number from 0.0 to 1.0 (e.g. 0.1 for 10%)")
    return ParentBasedTraceIdRatio(rate)


def build_exporter():
    kind = env("OTEL_TRACES_EXPORTER", "otlp")
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if kind != "otlp":
        fail("OTEL_TRACES_EXPORTER", kind, "otlp, console or none")
    protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        fail("OTEL_EXPORTER_OTLP_PROTOCOL", protocol, "grpc or http/protobuf")
    # Endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_* variables.
    return OTLPSpanExporter()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the trace context of the current span."""

    def __init__(self, service):
        super().__init__()
        self.service = service

    def format(self, record):
        ts = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        line = {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": LEVELS.get(record.levelname, record.levelname.lower()),
            "target": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            if not isinstance(value, (str, int, float, bool)) or value is None:
                value = repr(value)
            line[f"fields.{key}" if key in RESERVED_KEYS else key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        span = trace.get_current_span()
        ctx = span.get_span_context()
        if ctx.is_valid:
            name = getattr(span, "name", None)
            if name:
                line["span"] = name
            line["trace_id"] = format(ctx.trace_id, "032x")
            line["span_id"] = format(ctx.span_id, "016x")
            line["trace_sampled"] = ctx.trace_flags.sampled
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        line["service"] = self.service
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def setup_logging(service):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL", "INFO").upper())


resource, environment = build_resource()
SERVICE = resource.attributes["service.name"]
setup_logging(SERVICE)
log = logging.getLogger("octollm_python_service")

provider = TracerProvider(resource=resource, sampler=build_sampler(environment))
exporter = build_exporter()
if exporter is not None:
    provider.add_span_processor(BatchSpanProcessor(exporter))
trace.set_tracer_provider(provider)
HTTPXClientInstrumentor().instrument(tracer_provider=provider)

app = FastAPI()


def valid_request_id(value):
    return value is not None and 1 <= len(value) <= 128 and all(33 <= ord(c) <= 126 for c in value)


@app.middleware("http")
async def request_id(request: Request, call_next):
    rid = request.headers.get("x-request-id")
    if not valid_request_id(rid):
        rid = str(uuid.uuid4())
    token = REQUEST_ID.set(rid)
    try:
        response = await call_next(request)
    finally:
        REQUEST_ID.reset(token)
    response.headers["x-request-id"] = rid
    return response


@app.get("/py")
async def py():
    log.info("python handled", extra={"side": "python", "route": "/py"})
    return {"from": "python"}


@app.get("/py-calls-rust")
async def py_calls_rust(target: str):
    if not target.startswith("http://"):
        raise HTTPException(status_code=400, detail="target must be an http:// URL")
    log.info("python calling rust", extra={"side": "python", "route": "/py-calls-rust"})
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(target)
    return {"status": response.status_code, "body": response.text}


# The server span of each request; the per-message ASGI "send"/"receive" spans are left out.
FastAPIInstrumentor.instrument_app(
    app, tracer_provider=provider, exclude_spans=["receive", "send"]
)


def main():
    host = env("HOST", "127.0.0.1")
    port_raw = env("PORT", "8000")
    if not port_raw.isdigit() or int(port_raw) > 65535:
        fail("PORT", port_raw, "a TCP port number (0 for any free port)")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port_raw)))
    # Listening now: connections made as soon as the line below is out wait in the backlog
    # until uvicorn accepts them.
    sock.listen(2048)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)

    def stop(signum, frame):
        server.should_exit = True

    # uvicorn replaces these handlers while it serves (SIGTERM and SIGINT become a graceful
    # stop), restores them afterwards and raises the signal it caught once more: with the
    # default handlers that would kill the process before the spans are flushed.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    log.info("listening", extra={"address": address, "port": port})
    try:
        server.run(sockets=[sock])
    finally:
        provider.shutdown()  # exports the spans still queued
        log.info("stopped")
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
