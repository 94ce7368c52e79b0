//! Credentials sent in headers and query strings never reach a span, a metric or a log line.

use crate::support;

use axum::body::Body;
use axum::http::Request;
use octollm_telemetry::http::SENSITIVE_QUERY_KEYS;
use opentelemetry_sdk::trace::Sampler;
use support::http::{send, Pipelines};

const SECRET: &str = "s3cr3t-Value-9f8e7d";

#[tokio::test]
async fn sensitive_headers_and_query_values_are_never_recorded() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    // Every key the crate treats as sensitive, once as written and once in another case and
    // with a prefix, as real services spell them (`access_token`, `X-Amz-Signature`).
    let mut pairs = vec!["q=ok".to_string()];
    for key in SENSITIVE_QUERY_KEYS {
        pairs.push(format!("{key}={SECRET}"));
        pairs.push(format!("X-{}={SECRET}", key.to_uppercase()));
    }
    let query = pairs.join("&");
    let mut request = Request::post(format!("/items/1?{query}"));
    for (name, value) in [
        ("authorization", format!("Bearer {SECRET}")),
        ("proxy-authorization", format!("Basic {SECRET}")),
        ("cookie", format!("session={SECRET}")),
        ("set-cookie", format!("session={SECRET}")),
        ("x-api-key", SECRET.to_string()),
        ("x-auth-token", SECRET.to_string()),
        ("x-csrf-token", SECRET.to_string()),
        ("x-amz-security-token", SECRET.to_string()),
    ] {
        request = request.header(name, value);
    }
    let (response, _) = send(&app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), 200);

    let spans = pipes.finished_spans();
    assert_eq!(spans.len(), 1);
    let everything = format!(
        "{:?}\n{}\n{}",
        spans,
        pipes.metrics_text(),
        pipes.logs.text()
    );
    assert!(
        !everything.contains(SECRET),
        "a secret leaked:\n{everything}"
    );
    let query_attr = spans[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "url.query")
        .map(|kv| kv.value.to_string())
        .unwrap();
    let want: Vec<String> = std::iter::once("q=ok".to_string())
        .chain(SENSITIVE_QUERY_KEYS.iter().flat_map(|key| {
            [
                format!("{key}=REDACTED"),
                format!("X-{}=REDACTED", key.to_uppercase()),
            ]
        }))
        .collect();
    assert_eq!(query_attr, want.join("&"));
}
