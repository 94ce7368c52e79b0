//! Hostile requests: floods of random paths, methods and header values keep the number of span
//! names and metric series bounded; oversized and non-UTF-8 header values neither panic nor
//! grow what is recorded.

use crate::support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use opentelemetry_sdk::trace::Sampler;
use support::http::{attr, send, Pipelines};

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

#[tokio::test]
async fn a_flood_of_random_requests_yields_bounded_names_and_series() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    const REQUESTS: usize = 1500;
    let mut names = BTreeSet::new();
    for i in 0..REQUESTS {
        let method = match rng.next() % 4 {
            0 => Method::GET,
            1 => Method::POST,
            _ => {
                let len = 1 + (rng.next() % 12) as usize;
                Method::from_bytes(rng.token(len).to_uppercase().as_bytes()).unwrap()
            }
        };
        let path = match rng.next() % 3 {
            0 => format!("/items/{}", rng.next()),
            _ => format!("/{}/{}", rng.token(8), rng.token(5)),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", rng.token(30))
            .header("x-request-id", rng.token(20))
            .header(
                "x-forwarded-for",
                format!("10.{}.{}.{}", i % 256, rng.next() % 256, rng.next() % 256),
            )
            .body(Body::empty())
            .unwrap();
        send(&app, req).await;
        for span in pipes.finished_spans() {
            names.insert(span.name.to_string());
        }
        pipes.spans.reset();
    }
    // GET/POST/_OTHER, each routed to /items/{id} or unmatched: at most 6 names.
    assert!(names.len() <= 6, "span names: {names:?}");
    assert!(names.contains("_OTHER"), "{names:?}");
    let text = pipes.metrics_text();
    let series: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_server_request_duration_seconds_count"))
        .collect();
    assert!(series.len() <= 6, "series: {series:#?}");
    let active = text
        .lines()
        .filter(|l| l.starts_with("http_server_active_requests{"))
        .count();
    assert!(active <= 3, "{text}");
}

#[tokio::test]
async fn oversized_and_non_utf8_header_values_are_bounded() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    let huge = "A".repeat(64 * 1024);
    let binary = HeaderValue::from_bytes(b"\xff\xfe\xfd binary \x80").unwrap();
    let cases: Vec<(&str, HeaderValue)> = vec![
        ("user-agent", HeaderValue::from_str(&huge).unwrap()),
        ("user-agent", binary.clone()),
        ("x-forwarded-for", HeaderValue::from_str(&huge).unwrap()),
        ("forwarded", binary.clone()),
        ("x-request-id", HeaderValue::from_str(&huge).unwrap()),
        ("x-request-id", binary.clone()),
        ("traceparent", HeaderValue::from_str(&huge).unwrap()),
        ("tracestate", HeaderValue::from_str(&huge).unwrap()),
        ("baggage", HeaderValue::from_str(&huge).unwrap()),
        ("host", binary.clone()),
    ];
    for (name, value) in cases {
        pipes.spans.reset();
        let req = Request::get(format!("/items/1?q={}", "x".repeat(16 * 1024)))
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let (response, _) = send(&app, req).await;
        assert_eq!(response.status(), 200, "{name}");
        let spans = pipes.finished_spans();
        assert_eq!(spans.len(), 1, "{name}");
        let span = &spans[0];
        for kv in &span.attributes {
            assert!(
                kv.value.as_str().len() <= 1024,
                "{name}: {} is {} bytes",
                kv.key,
                kv.value.as_str().len()
            );
        }
        if name == "user-agent" {
            let ua = attr(span, "user_agent.original").map(|v| v.as_str().len());
            assert!(ua.is_none_or(|len| len <= 1024), "{name}");
        }
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(id.len() <= 128, "{name}: request id {} bytes", id.len());
    }
    // Log lines stayed valid JSON and bounded.
    for line in pipes.logs.lines() {
        assert!(line.to_string().len() < 8 * 1024, "{line}");
    }
}
