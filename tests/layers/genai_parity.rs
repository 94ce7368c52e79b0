//! Our GenAI telemetry against OpenTelemetry's official Python OpenAI instrumentation
//! (`opentelemetry-instrumentation-openai-v2`, see `genai_python_peer.rs`): the same plain,
//! streamed and failing chat calls against the same fake OpenAI server, made once by the
//! Python peer and once by a Rust client through `octollm_telemetry::genai`, must give the same
//! span names, kinds and statuses, the same span attribute keys with the same value types, and
//! the same metric names, units, bucket boundaries and point attribute keys.
//!
//! Where the two differ, it is where the Python peer departs from semconv v1.41.1 (listed in
//! `genai_python_peer.rs`) and we follow the convention; each such key is named below
//! ([`OURS_ONLY`]) with its reason, and nothing else may differ.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use octollm_telemetry::genai::{names, GenAi, Operation, Usage};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use support::fake_openai::{FakeOpenAi, CHAT_MODEL, MISSING_MODEL};
use support::genai_peer::{python_peer_genai, PeerCall};

/// Span attribute keys we emit and the Python peer does not, per call, and why.
const OURS_ONLY: [(&str, &[&str]); 3] = [
    (
        "plain",
        // Both Recommended in 1.41.1; the server reports them, the peer drops them.
        &[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.reasoning.output_tokens",
        ],
    ),
    (
        "stream",
        &[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.reasoning.output_tokens",
            // Conditionally required (the request streams) in 1.41.1.
            "gen_ai.request.stream",
            // Recommended; the chunks carry them.
            "gen_ai.response.finish_reasons",
            "gen_ai.response.time_to_first_chunk",
            "openai.response.system_fingerprint",
        ],
    ),
    ("error", &[]),
];

/// Point attribute keys we emit and the peer does not, per call: the peer puts the
/// `openai.response.*` attributes on the plain call's points only; the convention
/// (Recommended) and we put them on the stream's too.
const OURS_ONLY_POINT_KEYS: [(&str, &[&str]); 1] = [(
    "stream",
    &[
        "openai.response.service_tier",
        "openai.response.system_fingerprint",
    ],
)];

/// Metrics we emit and the peer does not: the streaming pair, Recommended for streams.
const OURS_ONLY_METRICS: [&str; 2] = [
    names::CLIENT_TIME_TO_FIRST_CHUNK,
    names::CLIENT_TIME_PER_OUTPUT_CHUNK,
];

struct Ours {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    genai: GenAi,
}

impl Ours {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let genai = GenAi::with_providers(&tracer_provider, &meter_provider);
        Self {
            spans,
            metrics,
            meter_provider,
            genai,
        }
    }
}

/// One chat call the way an arm makes it: the request, then what the answer says, on the call.
async fn chat(genai: &GenAi, server: &FakeOpenAi, model: &str, stream: bool) {
    let addr = server.addr();
    let mut call = genai
        .call(Operation::Chat, "openai")
        .model(model)
        .server(addr.ip().to_string(), addr.port())
        .stream(stream)
        .start();
    let body = json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "Say this is a test"}]});
    let mut body = body;
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the fake server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    if !status.is_success() {
        call.fail(status.as_u16().to_string());
        return;
    }
    let documents: Vec<serde_json::Value> = if stream {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("a chunk"))
            .collect()
    } else {
        vec![serde_json::from_str(&text).expect("a completion")]
    };
    let mut fingerprint_set = false;
    for document in &documents {
        if stream
            && document["choices"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        {
            call.chunk();
        }
        call.response_id(document["id"].as_str().expect("an id"));
        call.response_model(document["model"].as_str().expect("a model"));
        if let Some(reason) = document["choices"][0]["finish_reason"].as_str() {
            call.finish_reasons(&[reason]);
        }
        if !fingerprint_set {
            fingerprint_set = true;
            let tier = document["service_tier"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let fingerprint = document["system_fingerprint"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            // On the span and the metric points, as the convention has them (the peer leaves
            // them off a stream's points and the fingerprint off its span).
            call.metric_attribute("openai.response.service_tier", tier);
            call.metric_attribute("openai.response.system_fingerprint", fingerprint);
        }
        let usage = &document["usage"];
        if let (Some(input), Some(output)) = (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64(),
        ) {
            call.usage(Usage {
                cache_read_input_tokens: usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
                reasoning_output_tokens: usage["completion_tokens_details"]["reasoning_tokens"]
                    .as_u64(),
                ..Usage::new(input, output)
            });
        }
    }
    call.end();
}

/// The peer's type names for a value.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::I64(_) => "int",
        Value::F64(_) => "double",
        Value::String(_) => "string",
        Value::Array(opentelemetry::Array::String(_)) => "array<string>",
        Value::Array(_) => "array",
        _ => "other",
    }
}

fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "CLIENT",
        SpanKind::Server => "SERVER",
        SpanKind::Internal => "INTERNAL",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
    }
}

fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Unset => "UNSET",
        Status::Ok => "OK",
        Status::Error { .. } => "ERROR",
    }
}

/// Our metrics: name → (unit, [(point attribute keys, bucket bounds, token type, sum)]).
type Points = Vec<(BTreeSet<String>, Vec<f64>, Option<String>, f64)>;

fn our_metrics(ours: &Ours) -> BTreeMap<String, (String, Points)> {
    ours.meter_provider.force_flush().expect("flush");
    let mut out = BTreeMap::new();
    for rm in ours.metrics.get_finished_metrics().expect("metrics") {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let mut points = Points::new();
                let mut push =
                    |attrs: Vec<&opentelemetry::KeyValue>, bounds: Vec<f64>, sum: f64| {
                        let token_type = attrs
                            .iter()
                            .find(|kv| kv.key.as_str() == names::TOKEN_TYPE)
                            .map(|kv| kv.value.to_string());
                        let keys = attrs.iter().map(|kv| kv.key.to_string()).collect();
                        points.push((keys, bounds, token_type, sum));
                    };
                match m.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            push(p.attributes().collect(), p.bounds().collect(), p.sum());
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            #[allow(clippy::cast_precision_loss)]
                            push(
                                p.attributes().collect(),
                                p.bounds().collect(),
                                p.sum() as f64,
                            );
                        }
                    }
                    other => panic!("{}: {other:?}", m.name()),
                }
                out.insert(m.name().to_owned(), (m.unit().to_owned(), points));
            }
        }
    }
    out
}

fn compare_span(call: &str, ours: &SpanData, peer: &PeerCall) {
    let theirs = peer.span();
    assert_eq!(ours.name, theirs.name, "{call}: span name");
    assert_eq!(kind_name(&ours.span_kind), theirs.kind, "{call}: span kind");
    assert_eq!(status_name(&ours.status), theirs.status, "{call}: status");
    let our_attributes: BTreeMap<String, String> = ours
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), type_name(&kv.value).to_owned()))
        .collect();
    let ours_only: BTreeSet<&str> = OURS_ONLY
        .iter()
        .find(|(c, _)| *c == call)
        .map(|(_, keys)| keys.iter().copied().collect())
        .unwrap_or_default();
    for (key, peer_type) in &theirs.attributes {
        assert_eq!(
            our_attributes.get(key),
            Some(peer_type),
            "{call}: the peer's span attribute {key} ({peer_type}); ours: {our_attributes:?}"
        );
    }
    for key in our_attributes.keys() {
        assert!(
            theirs.attributes.contains_key(key) || ours_only.contains(key.as_str()),
            "{call}: our span attribute {key} is neither the peer's nor a named difference"
        );
    }
    for key in &ours_only {
        assert!(
            our_attributes.contains_key(*key) && !theirs.attributes.contains_key(*key),
            "{call}: {key} is listed as ours only"
        );
    }
    assert!(!our_attributes.contains_key("gen_ai.system"));
}

fn compare_metrics(call: &str, ours: &BTreeMap<String, (String, Points)>, peer: &PeerCall) {
    let their_names: BTreeSet<&str> = peer.metrics.iter().map(|m| m.name.as_str()).collect();
    for name in ours.keys() {
        assert!(
            their_names.contains(name.as_str()) || OURS_ONLY_METRICS.contains(&name.as_str()),
            "{call}: our metric {name} is neither the peer's nor a named difference"
        );
    }
    for metric in &peer.metrics {
        let (unit, points) = ours
            .get(&metric.name)
            .unwrap_or_else(|| panic!("{call}: we emit no {}", metric.name));
        assert_eq!(unit, &metric.unit, "{call}: {} unit", metric.name);
        let ours_only: &[&str] = OURS_ONLY_POINT_KEYS
            .iter()
            .find(|(c, _)| *c == call)
            .map_or(&[], |(_, keys)| keys);
        let mut our_points: Vec<(BTreeSet<String>, Vec<f64>, Option<String>)> = points
            .iter()
            .map(|(k, b, t, _)| {
                let mut keys = k.clone();
                for key in ours_only {
                    assert!(keys.remove(*key), "{call}: {key} is listed as ours only");
                }
                (keys, b.clone(), t.clone())
            })
            .collect();
        let mut their_points: Vec<(BTreeSet<String>, Vec<f64>, Option<String>)> = metric
            .data_points
            .iter()
            .map(|p| {
                (
                    p.attribute_keys.clone(),
                    p.bucket_boundaries.clone(),
                    p.attributes
                        .get(names::TOKEN_TYPE)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                )
            })
            .collect();
        our_points.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        their_points.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(our_points, their_points, "{call}: {} points", metric.name);
        if metric.name == names::CLIENT_TOKEN_USAGE {
            for point in &metric.data_points {
                let kind = point.attributes[names::TOKEN_TYPE].as_str().unwrap();
                let ours = points
                    .iter()
                    .find(|(_, _, t, _)| t.as_deref() == Some(kind))
                    .map(|p| p.3);
                assert_eq!(ours, point.sum, "{call}: {kind} tokens");
            }
        }
    }
}

#[test]
fn our_genai_telemetry_matches_the_official_python_instrumentation() {
    let Some(peer) = python_peer_genai() else {
        return;
    };
    let server = FakeOpenAi::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (call, model, stream) in [
        ("plain", CHAT_MODEL, false),
        ("stream", CHAT_MODEL, true),
        ("error", MISSING_MODEL, false),
    ] {
        let ours = Ours::new();
        runtime.block_on(chat(&ours.genai, &server, model, stream));
        let spans = ours.spans.get_finished_spans().expect("spans");
        assert_eq!(spans.len(), 1, "{call}: one span");
        let peer_call = peer.call(call);
        compare_span(call, &spans[0], peer_call);
        compare_metrics(call, &our_metrics(&ours), peer_call);
    }
}
