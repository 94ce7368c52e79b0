use std::collections::BTreeMap;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

use super::*;

struct Pipeline {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

impl Pipeline {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        Self {
            tracer_provider: SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .build(),
            meter_provider: SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(metrics.clone()).build())
                .build(),
            spans,
            metrics,
        }
    }

    fn genai(&self) -> GenAi {
        GenAi::with_providers(&self.tracer_provider, &self.meter_provider)
    }

    fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().expect("spans")
    }

    /// Metric name → (unit, [(sorted `key=value` attributes, count, sum, bucket bounds)]).
    fn histograms(&self) -> BTreeMap<String, (String, Vec<Point>)> {
        self.meter_provider.force_flush().expect("flush");
        let mut out: BTreeMap<String, (String, Vec<Point>)> = BTreeMap::new();
        for rm in self.metrics.get_finished_metrics().expect("metrics") {
            for sm in rm.scope_metrics() {
                assert_eq!(sm.scope().name(), names::SCOPE);
                assert_eq!(sm.scope().schema_url(), Some(names::SCHEMA_URL));
                for m in sm.metrics() {
                    let points: Vec<Point> = match m.data() {
                        AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                            .data_points()
                            .map(|p| Point {
                                attributes: sorted(p.attributes()),
                                count: p.count(),
                                sum: p.sum(),
                                bounds: p.bounds().collect(),
                            })
                            .collect(),
                        AggregatedMetrics::U64(MetricData::Histogram(h)) => h
                            .data_points()
                            .map(|p| Point {
                                attributes: sorted(p.attributes()),
                                count: p.count(),
                                #[allow(clippy::cast_precision_loss)]
                                sum: p.sum() as f64,
                                bounds: p.bounds().collect(),
                            })
                            .collect(),
                        other => panic!("{}: not a histogram: {other:?}", m.name()),
                    };
                    out.insert(m.name().to_owned(), (m.unit().to_owned(), points));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Point {
    attributes: Vec<String>,
    count: u64,
    sum: f64,
    bounds: Vec<f64>,
}

fn sorted<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<String> {
    let mut v: Vec<String> = attributes
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    v.sort();
    v
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn keys(span: &SpanData) -> Vec<&str> {
    let mut keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn a_chat_call_is_one_client_span_and_the_duration_and_token_records_of_the_conventions() {
    let p = Pipeline::new();
    let mut call = p
        .genai()
        .call(Operation::Chat, "openai")
        .model("gpt-4o-mini")
        .server("api.openai.com", 443)
        .temperature(0.2)
        .max_tokens(200)
        .start();
    call.response_id("chatcmpl-1");
    call.response_model("gpt-4o-mini-2024-07-18");
    call.finish_reasons(&["stop"]);
    call.usage(Usage {
        input_tokens: Some(12),
        output_tokens: Some(30),
        cache_read_input_tokens: Some(4),
        reasoning_output_tokens: Some(8),
        ..Usage::default()
    });
    call.end();

    let spans = p.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "chat gpt-4o-mini");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(span.instrumentation_scope.name(), names::SCOPE);
    assert_eq!(
        span.instrumentation_scope.schema_url(),
        Some(names::SCHEMA_URL)
    );
    assert_eq!(
        keys(span),
        [
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.max_tokens",
            "gen_ai.request.model",
            "gen_ai.request.temperature",
            "gen_ai.response.finish_reasons",
            "gen_ai.response.id",
            "gen_ai.response.model",
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.reasoning.output_tokens",
            "server.address",
            "server.port",
        ]
    );
    assert_eq!(
        attribute(span, names::USAGE_INPUT_TOKENS),
        Some(&Value::I64(12))
    );
    assert_eq!(attribute(span, names::SERVER_PORT), Some(&Value::I64(443)));
    assert_eq!(
        attribute(span, names::RESPONSE_FINISH_REASONS),
        Some(&Value::Array(
            vec![opentelemetry::StringValue::from("stop")].into()
        ))
    );
    assert!(attribute(span, "gen_ai.system").is_none());
    assert_chat_metrics(&p);
}

/// The duration and token records of the call above.
fn assert_chat_metrics(p: &Pipeline) {
    let metrics = p.histograms();
    let base = [
        "gen_ai.operation.name=chat",
        "gen_ai.provider.name=openai",
        "gen_ai.request.model=gpt-4o-mini",
        "gen_ai.response.model=gpt-4o-mini-2024-07-18",
        "server.address=api.openai.com",
        "server.port=443",
    ];
    let (unit, duration) = &metrics[names::CLIENT_OPERATION_DURATION];
    assert_eq!(unit, "s");
    assert_eq!(duration.len(), 1);
    assert_eq!(duration[0].attributes, base);
    assert_eq!(duration[0].count, 1);
    assert_eq!(duration[0].bounds, names::DURATION_BUCKETS);
    let (unit, tokens) = &metrics[names::CLIENT_TOKEN_USAGE];
    assert_eq!(unit, "{token}");
    assert_eq!(tokens[0].bounds, names::TOKEN_BUCKETS);
    let by_type: BTreeMap<String, f64> = tokens
        .iter()
        .map(|p| {
            let kind = p
                .attributes
                .iter()
                .find_map(|a| a.strip_prefix("gen_ai.token.type="))
                .expect("a token type")
                .to_owned();
            let mut rest = p.attributes.clone();
            rest.retain(|a| !a.starts_with("gen_ai.token.type="));
            assert_eq!(rest, base);
            (kind, p.sum)
        })
        .collect();
    assert_eq!(
        by_type,
        BTreeMap::from([("input".to_owned(), 12.0), ("output".to_owned(), 30.0)])
    );
    // Not a stream: no chunk metrics.
    assert!(!metrics.contains_key(names::CLIENT_TIME_TO_FIRST_CHUNK));
}

#[test]
fn a_stream_records_its_first_chunk_and_the_time_between_the_others() {
    let p = Pipeline::new();
    let mut call = p
        .genai()
        .call(Operation::Chat, "openai")
        .model("gpt-4o-mini")
        .stream(true)
        .start();
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        call.chunk();
    }
    call.usage(Usage::new(5, 4));
    call.end();

    let span = &p.spans()[0];
    assert_eq!(
        attribute(span, names::REQUEST_STREAM),
        Some(&Value::Bool(true))
    );
    let Some(Value::F64(first)) = attribute(span, names::RESPONSE_TIME_TO_FIRST_CHUNK) else {
        panic!("no time to first chunk: {:?}", span.attributes);
    };
    assert!(*first >= 0.002, "{first}");
    let metrics = p.histograms();
    let (unit, first_chunk) = &metrics[names::CLIENT_TIME_TO_FIRST_CHUNK];
    assert_eq!(unit, "s");
    assert_eq!(first_chunk[0].count, 1);
    assert!((first_chunk[0].sum - first).abs() < 1e-9);
    let (_, per_chunk) = &metrics[names::CLIENT_TIME_PER_OUTPUT_CHUNK];
    assert_eq!(
        per_chunk[0].count, 3,
        "one record per chunk after the first"
    );
    assert_eq!(per_chunk[0].bounds, names::DURATION_BUCKETS);
}

#[test]
fn a_failed_call_carries_its_error_type_and_a_dropped_one_ends_as_cancelled() {
    let p = Pipeline::new();
    let genai = p.genai();
    genai
        .call(Operation::Chat, "openai")
        .model("does-not-exist")
        .start()
        .fail("404");
    {
        let _abandoned = genai
            .call(Operation::Embeddings, "openai")
            .model("text-embedding-3-small")
            .start();
    }
    let spans = p.spans();
    assert_eq!(spans.len(), 2);
    for (span, name, error) in [
        (&spans[0], "chat does-not-exist", "404"),
        (&spans[1], "embeddings text-embedding-3-small", "cancelled"),
    ] {
        assert_eq!(span.name, name);
        assert_eq!(
            attribute(span, names::ERROR_TYPE),
            Some(&Value::from(error))
        );
        assert!(matches!(span.status, Status::Error { .. }), "{name}");
    }
    let metrics = p.histograms();
    let (_, duration) = &metrics[names::CLIENT_OPERATION_DURATION];
    let errors: Vec<&str> = duration
        .iter()
        .filter_map(|p| {
            p.attributes
                .iter()
                .find_map(|a| a.strip_prefix("error.type="))
        })
        .collect();
    assert_eq!(errors.len(), 2);
    assert!(errors.contains(&"404") && errors.contains(&"cancelled"));
    // No usage was recorded: no token records.
    assert!(!metrics.contains_key(names::CLIENT_TOKEN_USAGE));
}

#[test]
fn a_tool_is_an_internal_span_and_a_served_model_records_the_server_metrics() {
    let p = Pipeline::new();
    let genai = p.genai();
    genai.tool("get_weather").start().end();
    let mut served = genai
        .serve(Operation::Chat, "octollm")
        .model("llama-3-8b")
        .stream(true)
        .start();
    served.chunk();
    served.chunk();
    served.end();
    let spans = p.spans();
    assert_eq!(spans[0].name, "execute_tool get_weather");
    assert_eq!(spans[0].span_kind, SpanKind::Internal);
    assert_eq!(
        attribute(&spans[0], names::TOOL_NAME),
        Some(&Value::from("get_weather"))
    );
    assert_eq!(spans[1].name, "chat llama-3-8b");
    assert_eq!(spans[1].span_kind, SpanKind::Server);
    let metrics = p.histograms();
    assert_eq!(
        metrics[names::SERVER_TIME_TO_FIRST_TOKEN].1[0].bounds,
        names::TIME_TO_FIRST_TOKEN_BUCKETS
    );
    assert_eq!(
        metrics[names::SERVER_TIME_PER_OUTPUT_TOKEN].1[0].bounds,
        names::TIME_PER_OUTPUT_TOKEN_BUCKETS
    );
    assert_eq!(metrics[names::SERVER_REQUEST_DURATION].1[0].count, 1);
    assert!(!metrics.contains_key(names::CLIENT_TIME_TO_FIRST_CHUNK));
}

#[test]
fn content_is_captured_only_when_asked_as_the_conventions_json_and_bounded() {
    let messages = [Message::text("user", "What is \"2+2\"?\n")];
    let run = |content: CaptureContent| {
        let p = Pipeline::new();
        let mut call = p
            .genai()
            .capture_content(content)
            .call(Operation::Chat, "openai")
            .model("m")
            .start();
        call.input_messages(&messages);
        call.output_messages(&[Message::text("assistant", "4").finish_reason("stop")]);
        call.system_instructions("be brief");
        call.end();
        p.spans().remove(0)
    };
    let span = run(CaptureContent::NoContent);
    assert!(keys(&span).iter().all(|k| !k.contains("messages")));
    let span = run(CaptureContent::EventOnly);
    assert!(keys(&span).iter().all(|k| !k.contains("messages")));
    for content in [CaptureContent::SpanOnly, CaptureContent::SpanAndEvent] {
        let span = run(content);
        assert_eq!(
            attribute(&span, names::INPUT_MESSAGES).map(Value::as_str),
            Some(
                r#"[{"role":"user","parts":[{"type":"text","content":"What is \"2+2\"?\n"}]}]"#
                    .into()
            )
        );
        assert_eq!(
            attribute(&span, names::OUTPUT_MESSAGES).map(Value::as_str),
            Some(r#"[{"role":"assistant","parts":[{"type":"text","content":"4"}],"finish_reason":"stop"}]"#.into())
        );
        assert_eq!(
            attribute(&span, names::SYSTEM_INSTRUCTIONS).map(Value::as_str),
            Some(r#"[{"type":"text","content":"be brief"}]"#.into())
        );
    }
    let long = "é".repeat(MAX_CONTENT_BYTES);
    let cut = bounded(messages_json(&[Message::text("user", long)]));
    assert!(cut.len() <= MAX_CONTENT_BYTES && cut.ends_with('…'));
}

#[test]
fn the_capture_variable_takes_the_convention_words_and_refuses_others_by_name() {
    use crate::config::TelemetryConfig;
    let effective = |value: &str| {
        TelemetryConfig::from_vars([(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            value.to_owned(),
        )])
        .and_then(|c| c.effective().map(|e| e.genai_content()))
    };
    for (value, expected) in [
        ("NO_CONTENT", CaptureContent::NoContent),
        ("span_only", CaptureContent::SpanOnly),
        ("EVENT_ONLY", CaptureContent::EventOnly),
        ("SPAN_AND_EVENT", CaptureContent::SpanAndEvent),
        ("true", CaptureContent::EventOnly),
        ("false", CaptureContent::NoContent),
    ] {
        assert_eq!(effective(value).expect(value), expected, "{value}");
    }
    let e = effective("yes").unwrap_err();
    assert_eq!(e.name, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");
    assert!(e.expected.contains("SPAN_ONLY"), "{}", e.expected);
    assert_eq!(
        TelemetryConfig::from_vars(std::iter::empty::<(&str, String)>())
            .unwrap()
            .effective()
            .unwrap()
            .genai_content(),
        CaptureContent::NoContent
    );
}
