//! The independent peer of the GenAI parity test: OpenTelemetry's official Python OpenAI
//! instrumentation (`opentelemetry-instrumentation-openai-v2`, with the `openai` client) makes a
//! plain, a streamed and a failing chat call against the fake OpenAI server
//! (`tests/support/fake_openai.rs`), and this test pins down what it emits, checking every name
//! against the constants of the `opentelemetry-semantic-conventions` Python package.
//!
//! The conventions we follow are semconv v1.41.1. The Python package pinned beside the SDK is
//! 0.66b2 (schema 1.44.0, since opentelemetry-sdk 1.45.2 pins it exactly); the release whose
//! newest schema is 1.41.1 is 0.64b0. For the modules read here (`gen_ai_attributes`,
//! `gen_ai_metrics`, `openai_attributes`, `error_attributes`, `server_attributes`) both
//! releases define the same constants with the same values, so the check holds for 1.41.1.
//!
//! # What the Rust side will need to compare
//!
//! Once `src/genai` lands, a test beside this one makes the same three calls with our
//! instrumentation against a `FakeOpenAi` (model `gpt-4o-mini`, one user message; the same with
//! `stream: true` and `stream_options.include_usage`; model `does-not-exist`), collects with an
//! in-memory span exporter and metric reader, and compares with [`python_peer_genai`]'s report,
//! call by call:
//!
//! 1. spans: one per call, the same `name` (`chat gpt-4o-mini`, `chat does-not-exist`), kind
//!    `CLIENT`, status (`UNSET` for success, `ERROR` for the failure);
//! 2. span attributes: the same keys with the same types (`PeerSpan::attributes`, key → `string`,
//!    `int`, `double`, `bool`, `array<string>`), except where a divergence below says we follow
//!    the convention instead; values that come from the server (`gen_ai.response.id`,
//!    `gen_ai.response.model`, the token counts) equal (`PeerSpan::values`), `server.port` is
//!    the server's port;
//! 3. metrics: the same names, units and histogram bucket boundaries, and per data point the same
//!    attribute key sets (`PeerPoint::attribute_keys`), the token histogram's `sum` per
//!    `gen_ai.token.type` (12 input, 9 output);
//! 4. `error.type` on the failing call's span and duration point (the value differs, see below).
//!
//! # Where the Python peer departs from semconv v1.41.1
//!
//! - `error.type` is `"<class 'openai.NotFoundError'>"`: openai-v2 2.4b0 passes the exception
//!   class where util-genai 1.1b0 expects a string, and the SDK stringifies it (with a warning).
//!   The convention asks for a low-cardinality identifier: the provider's error code, or the
//!   canonical name of the exception. The Rust side should not copy this value.
//! - The streamed call's span lacks `gen_ai.response.finish_reasons` (Recommended) and
//!   `openai.response.system_fingerprint` (Recommended), though the chunks carry both, and its
//!   metrics lack `openai.response.service_tier` and `openai.response.system_fingerprint`, which
//!   the plain call's metrics carry (Recommended on both OpenAI metrics).
//! - No span carries `gen_ai.usage.cache_read.input_tokens` or
//!   `gen_ai.usage.reasoning.output_tokens`, though the server reports cached and reasoning
//!   tokens and semconv 1.41.1 defines both attributes.
//! - The spans' instrumentation scope (`opentelemetry.util.genai.handler`) carries the schema URL
//!   1.37.0.
//! - With these versions `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` changes
//!   nothing (see the script's docstring): `gen_ai.provider.name` is always emitted and the
//!   v1.30.0 `gen_ai.system` never.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use support::fake_openai::{COMPLETION_ID, COMPLETION_TOKENS, PROMPT_TOKENS};
pub use support::genai_peer::{python_peer_genai, PeerCall, PeerReport};

const DURATION: &str = "gen_ai.client.operation.duration";
const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// The advisory bucket boundaries semconv gives each metric.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const TOKEN_BOUNDARIES: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The attributes every call's span and metric points carry.
const COMMON: [(&str, &str); 5] = [
    ("gen_ai.operation.name", "string"),
    ("gen_ai.provider.name", "string"),
    ("gen_ai.request.model", "string"),
    ("server.address", "string"),
    ("server.port", "int"),
];
/// The attributes a successful call's span adds.
const RESPONSE: [(&str, &str); 4] = [
    ("gen_ai.response.id", "string"),
    ("gen_ai.response.model", "string"),
    ("gen_ai.usage.input_tokens", "int"),
    ("gen_ai.usage.output_tokens", "int"),
];

fn attrs(groups: &[&[(&str, &str)]]) -> BTreeMap<String, String> {
    groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|(k, t)| (k.to_string(), t.to_string()))
        .collect()
}

fn keys(groups: &[&[&str]]) -> BTreeSet<String> {
    groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|k| k.to_string())
        .collect()
}

fn common_keys() -> Vec<&'static str> {
    COMMON.iter().map(|(k, _)| *k).collect()
}

#[test]
fn the_python_peer_emits_the_genai_conventions_for_chat_calls() {
    let Some(peer) = python_peer_genai() else {
        return;
    };
    names_are_semconv_constants(&peer);
    plain_call(peer.call("plain"));
    streamed_call(peer.call("stream"));
    failing_call(peer.call("error"));

    let chats: Vec<_> = peer
        .requests
        .iter()
        .filter(|r| r.path == "chat/completions")
        .collect();
    assert_eq!(chats.len(), 3, "{:#?}", peer.requests);
    assert_eq!(chats[0].body["model"], "gpt-4o-mini");
    assert_eq!(chats[1].body["stream"], true);
    assert_eq!(chats[1].body["stream_options"]["include_usage"], true);
    assert_eq!(chats[2].body["model"], "does-not-exist");
}

/// Every span attribute key, metric attribute key and metric name is a constant of the
/// semantic-conventions package, which knows the schema 1.41.1; the packages are the pinned ones.
fn names_are_semconv_constants(peer: &PeerReport) {
    let attribute_names: BTreeSet<String> = [
        "gen_ai_attributes",
        "openai_attributes",
        "error_attributes",
        "server_attributes",
    ]
    .iter()
    .flat_map(|m| peer.semconv_values(m))
    .collect();
    let metric_names = peer.semconv_values("gen_ai_metrics");
    for (call, telemetry) in &peer.calls {
        for span in &telemetry.spans {
            for key in span.attributes.keys() {
                assert!(
                    attribute_names.contains(key),
                    "{call}: span attribute {key} is no semconv constant"
                );
            }
        }
        for metric in &telemetry.metrics {
            assert!(
                metric_names.contains(&metric.name),
                "{call}: metric {} is no semconv constant",
                metric.name
            );
            for point in &metric.data_points {
                for key in &point.attribute_keys {
                    assert!(
                        attribute_names.contains(key),
                        "{call}: {} attribute {key} is no semconv constant",
                        metric.name
                    );
                }
            }
        }
    }
    assert!(metric_names.contains(DURATION) && metric_names.contains(TOKEN_USAGE));
    let schemas = peer.semconv["schemas"].as_array().expect("schemas");
    assert!(
        schemas
            .iter()
            .any(|s| s == "https://opentelemetry.io/schemas/1.41.1"),
        "{schemas:?}"
    );

    let requirements =
        std::fs::read_to_string(support::repo_root().join("tests/python/requirements.txt"))
            .expect("read tests/python/requirements.txt");
    for (package, version) in &peer.versions {
        let pinned = format!("{package}=={version}");
        assert!(
            requirements.lines().any(|l| l.trim() == pinned),
            "{package} {version} is installed, requirements.txt pins another version"
        );
    }
}

fn plain_call(call: &PeerCall) {
    let span = call.span();
    assert_eq!(span.name, "chat gpt-4o-mini");
    assert_eq!(span.kind, "CLIENT");
    assert_eq!(span.status, "UNSET");
    let extra = [
        ("gen_ai.response.finish_reasons", "array<string>"),
        ("openai.response.service_tier", "string"),
        ("openai.response.system_fingerprint", "string"),
    ];
    assert_eq!(span.attributes, attrs(&[&COMMON, &RESPONSE, &extra]));
    assert_eq!(span.values["gen_ai.provider.name"], "openai");
    assert_eq!(span.values["gen_ai.operation.name"], "chat");
    assert_eq!(span.values["gen_ai.response.id"], COMPLETION_ID);
    assert_eq!(
        span.values["gen_ai.response.model"],
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(span.values["gen_ai.response.finish_reasons"][0], "stop");
    assert_eq!(span.values["gen_ai.usage.input_tokens"], PROMPT_TOKENS);
    assert_eq!(span.values["gen_ai.usage.output_tokens"], COMPLETION_TOKENS);
    assert_eq!(span.values["server.address"], "127.0.0.1");

    let point_keys = keys(&[
        &common_keys(),
        &[
            "gen_ai.response.model",
            "openai.response.service_tier",
            "openai.response.system_fingerprint",
        ],
    ]);
    metrics(call, &point_keys, true);
}

/// Follows semconv where the Python peer does not: a streamed call's span should carry
/// `gen_ai.response.finish_reasons` and `openai.response.system_fingerprint` like the plain one
/// (both Recommended, both in the chunks); its metrics should carry the `openai.response.*`
/// attributes like the plain call's. The Rust side should emit them; here we pin what Python does.
fn streamed_call(call: &PeerCall) {
    let span = call.span();
    assert_eq!(span.name, "chat gpt-4o-mini");
    assert_eq!(span.kind, "CLIENT");
    assert_eq!(span.status, "UNSET");
    let extra = [("openai.response.service_tier", "string")];
    assert_eq!(span.attributes, attrs(&[&COMMON, &RESPONSE, &extra]));
    assert_eq!(span.values["gen_ai.usage.input_tokens"], PROMPT_TOKENS);
    assert_eq!(span.values["gen_ai.usage.output_tokens"], COMPLETION_TOKENS);
    assert_eq!(call.outcome["chunks"], 7, "every chunk consumed");

    let point_keys = keys(&[&common_keys(), &["gen_ai.response.model"]]);
    metrics(call, &point_keys, true);
}

/// The convention wants a low-cardinality `error.type` (the provider's code or the canonical
/// exception name); the Python peer writes the class's repr (see the file's docs), so only its
/// presence, type and the exception it names are pinned.
fn failing_call(call: &PeerCall) {
    assert_eq!(call.outcome["status"], 404);
    let span = call.span();
    assert_eq!(span.name, "chat does-not-exist");
    assert_eq!(span.kind, "CLIENT");
    assert_eq!(span.status, "ERROR");
    assert_eq!(
        span.attributes,
        attrs(&[&COMMON, &[("error.type", "string")]])
    );
    let error_type = span.values["error.type"].as_str().unwrap();
    assert!(error_type.contains("NotFoundError"), "{error_type}");

    let point_keys = keys(&[&common_keys(), &["error.type"]]);
    metrics(call, &point_keys, false);
}

/// The duration histogram, and when the call succeeded the token histogram with one point per
/// `gen_ai.token.type`, with semconv's units and advisory boundaries and the given keys.
fn metrics(call: &PeerCall, point_keys: &BTreeSet<String>, tokens: bool) {
    let duration = call.metric(DURATION).expect("the duration histogram");
    assert_eq!(duration.unit, "s");
    assert_eq!(duration.data_type, "Histogram");
    assert_eq!(duration.data_points.len(), 1);
    let point = &duration.data_points[0];
    assert_eq!(&point.attribute_keys, point_keys);
    assert_eq!(point.count, Some(1));
    assert_eq!(point.bucket_boundaries, DURATION_BOUNDARIES);

    let names: Vec<_> = call.metrics.iter().map(|m| m.name.as_str()).collect();
    if !tokens {
        assert_eq!(names, [DURATION], "no token usage for a failed call");
        return;
    }
    assert_eq!(names, [DURATION, TOKEN_USAGE]);
    let usage = call.metric(TOKEN_USAGE).unwrap();
    assert_eq!(usage.unit, "{token}");
    assert_eq!(usage.data_type, "Histogram");
    let mut with_type = point_keys.clone();
    with_type.insert("gen_ai.token.type".into());
    let sums: BTreeMap<_, _> = usage
        .data_points
        .iter()
        .map(|p| {
            assert_eq!(p.attribute_keys, with_type);
            assert_eq!(p.bucket_boundaries, TOKEN_BOUNDARIES);
            (p.attributes["gen_ai.token.type"].to_string(), p.sum)
        })
        .collect();
    assert_eq!(sums.len(), 2, "{sums:?}");
    assert_eq!(sums["\"input\""], Some(PROMPT_TOKENS as f64));
    assert_eq!(sums["\"output\""], Some(COMPLETION_TOKENS as f64));
}
