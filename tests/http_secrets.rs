//! Credentials sent in headers and query strings never reach a span, a metric or a log line.

#[path = "support/http.rs"]
mod http_support;

use axum::body::Body;
use axum::http::Request;
use http_support::{send, Pipelines};
use opentelemetry_sdk::trace::Sampler;

const SECRET: &str = "s3cr3t-Value-9f8e7d";

#[tokio::test]
async fn sensitive_headers_and_query_values_are_never_recorded() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = http_support::app(pipes.layer());
    let query = format!(
        "q=ok&access_token={SECRET}&password={SECRET}&client_secret={SECRET}&api_key={SECRET}&X-Amz-Signature={SECRET}"
    );
    let (response, _) = send(
        &app,
        Request::post(format!("/items/1?{query}"))
            .header("authorization", format!("Bearer {SECRET}"))
            .header("proxy-authorization", format!("Basic {SECRET}"))
            .header("cookie", format!("session={SECRET}"))
            .header("x-api-key", SECRET)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
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
    assert_eq!(
        query_attr,
        "q=ok&access_token=REDACTED&password=REDACTED&client_secret=REDACTED&api_key=REDACTED&X-Amz-Signature=REDACTED"
    );
}
