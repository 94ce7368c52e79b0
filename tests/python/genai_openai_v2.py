"""The Python peer of the GenAI parity test (tests/layers/genai_python_peer.rs).

Runs OpenTelemetry's own OpenAI instrumentation (`opentelemetry-instrumentation-openai-v2`)
with the `openai` client against an OpenAI-compatible server (the test's fake one), makes three
calls, and prints one JSON document to stdout describing what the instrumentation emitted:

- `plain`: `chat.completions.create(model="gpt-4o-mini", one user message)`;
- `stream`: the same with `stream=True, stream_options={"include_usage": True}`, every chunk
  consumed;
- `error`: the same with `model="does-not-exist"`, whose `openai.NotFoundError` is caught.

For each call: its spans (`name`, `kind`, `status`, `attributes` as {key: type name}, and
`values`, the attribute values themselves) and its metrics (`name`, `unit`, `type`, and per
data point the attribute keys and values, plus the histogram's bucket boundaries). The SDK's
in-memory exporter and reader are cleared between calls, so each call's telemetry stands alone.

`semconv` lists the constants of the `opentelemetry-semantic-conventions` package (GenAI
attributes and metrics, `error.type`, `server.*`) so that the Rust test can check every name
against them, and `versions` the versions of the packages used.

Usage: python genai_openai_v2.py --base-url http://127.0.0.1:PORT/v1 [--opt-in]

`--opt-in` sets `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` first. With the
versions pinned in requirements.txt it changes nothing: both runs emit exactly the same spans
and metrics, with `gen_ai.provider.name` = "openai" and no `gen_ai.system`. The
instrumentation branches on `opentelemetry.util.genai.utils.is_experimental_mode()`, which
`opentelemetry-util-genai` 1.1b0 hard-wires to True ("the utils in this library only support
the experimental mode sem convs now"), so its v1.30.0 "legacy path" (`gen_ai.system`) is never
taken. The variable is therefore not set by default.
"""

import argparse
import importlib.metadata
import json
import os
import sys

PACKAGES = (
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-util-genai",
    "openai",
    "opentelemetry-sdk",
    "opentelemetry-semantic-conventions",
)

SEMCONV_MODULES = (
    "opentelemetry.semconv._incubating.attributes.gen_ai_attributes",
    "opentelemetry.semconv._incubating.metrics.gen_ai_metrics",
    "opentelemetry.semconv._incubating.attributes.openai_attributes",
    "opentelemetry.semconv.attributes.error_attributes",
    "opentelemetry.semconv.attributes.server_attributes",
)

MESSAGES = [{"role": "user", "content": "Name the three signals of OpenTelemetry."}]


def type_name(value):
    """The OTLP-ish type of an attribute value: bool, int, double, string or array<...>."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        inner = sorted({type_name(v) for v in value}) or ["empty"]
        return f"array<{'|'.join(inner)}>"
    return type(value).__name__


def plain(value):
    return list(value) if isinstance(value, tuple) else value


def semconv_constants():
    import importlib

    out = {}
    for name in SEMCONV_MODULES:
        module = importlib.import_module(name)
        out[name.rsplit(".", 1)[1]] = {
            key: value
            for key, value in vars(module).items()
            if key.isupper() and isinstance(value, str)
        }
    from opentelemetry.semconv.schemas import Schemas

    out["schemas"] = [s.value for s in Schemas]
    return out


def spans_of(exporter):
    return [
        {
            "name": span.name,
            "kind": span.kind.name,
            "status": span.status.status_code.name,
            "scope": span.instrumentation_scope.name,
            "schema_url": span.instrumentation_scope.schema_url,
            "attributes": {k: type_name(v) for k, v in sorted(span.attributes.items())},
            "values": {k: plain(v) for k, v in sorted(span.attributes.items())},
        }
        for span in exporter.get_finished_spans()
    ]


def metrics_of(reader):
    data = reader.get_metrics_data()
    out = []
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = []
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    entry = {
                        "attribute_keys": sorted(attrs),
                        "attributes": {k: plain(v) for k, v in sorted(attrs.items())},
                    }
                    if hasattr(point, "explicit_bounds"):
                        entry["count"] = point.count
                        entry["sum"] = point.sum
                        entry["bucket_boundaries"] = list(point.explicit_bounds)
                    points.append(entry)
                out.append(
                    {
                        "name": metric.name,
                        "unit": metric.unit,
                        "type": type(metric.data).__name__,
                        "scope": scope_metrics.scope.name,
                        "data_points": sorted(
                            points, key=lambda p: json.dumps(p["attributes"], sort_keys=True)
                        ),
                    }
                )
    return sorted(out, key=lambda m: m["name"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--opt-in", action="store_true")
    args = parser.parse_args()

    # Nothing from the caller's environment may change what is emitted; set before the
    # instrumentation reads it.
    for name in list(os.environ):
        if name.startswith("OTEL_") or name.startswith("OPENAI_"):
            del os.environ[name]
    if args.opt_in:
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"

    import openai
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    # Delta temporality, so that each collection holds only what the call since the last made.
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: delta, UpDownCounter: delta, Histogram: delta}
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)
    OpenAIInstrumentor().instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider
    )

    client = openai.OpenAI(base_url=args.base_url, api_key="sk-test-dummy", max_retries=0)

    def collect(call):
        exporter.clear()
        reader.get_metrics_data()  # drops what earlier calls recorded
        outcome = call()
        return {"outcome": outcome, "spans": spans_of(exporter), "metrics": metrics_of(reader)}

    def plain_call():
        response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return {"model": response.model, "finish_reason": response.choices[0].finish_reason}

    def stream_call():
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        return {"chunks": len(chunks), "usage": chunks[-1].usage.total_tokens}

    def error_call():
        try:
            client.chat.completions.create(model="does-not-exist", messages=MESSAGES)
        except openai.NotFoundError as error:
            return {"error": type(error).__name__, "status": error.status_code}
        raise SystemExit("the call for model does-not-exist did not fail")

    report = {
        "opt_in": os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN"),
        "versions": {p: importlib.metadata.version(p) for p in PACKAGES},
        "calls": {
            "plain": collect(plain_call),
            "stream": collect(stream_call),
            "error": collect(error_call),
        },
        "semconv": semconv_constants(),
    }
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
