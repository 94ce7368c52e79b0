//! Run with
//!
//! ```not_rust
//! cargo run --example quickstart
//! ```
//!
//! An Axum service with the telemetry layer, called in-process twice (once as part of a
//! caller's trace), then a short report: each exported span with the log lines written in it.
//! It checks the crate's main promise, that every log line written in a span carries that
//! span's `trace_id` and `span_id`, and exits with an error if one does not.
//!
//! The spans go to a small exporter of the example's own
//! (`TelemetryConfig::span_exporter`) so that it can compare them with the log lines; a
//! service leaves that out and exports over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use octollm_telemetry::opentelemetry_sdk::error::OTelSdkResult;
use octollm_telemetry::opentelemetry_sdk::trace::{SpanData, SpanExporter};
use octollm_telemetry::{LogFormat, TelemetryConfig};
use tower::ServiceExt as _;
use tracing::{info, info_span, warn, Instrument as _};

/// A handler with a nested span of its own and a few log lines.
async fn answer(Path(id): Path<u32>) -> String {
    info!(prompt_tokens = 42, "request received");
    async { info!("plan ready") }
        .instrument(info_span!("plan_task", steps = 3))
        .await;
    async { warn!(retry = 1, "model slow, retried once") }
        .instrument(info_span!("call_model", model = "gpt-small"))
        .await;
    format!("answer {id}\n")
}

/// Keeps every exported span (a service exports over OTLP instead).
#[derive(Debug, Clone, Default)]
struct Exported(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Exported {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// Keeps the JSON log lines (a service writes them to stdout, for Loki).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exported = Exported::default();
    let lines = Lines::default();
    let guard = TelemetryConfig::from_env()?
        .service_name("quickstart")
        .span_exporter(exported.clone())
        .log_format(LogFormat::Json)
        .log_writer({
            let lines = lines.clone();
            move || lines.clone()
        })
        .init()
        .await?;

    let app = Router::new()
        .route("/answers/{id}", get(answer))
        .layer(octollm_telemetry::http::layer());
    // A caller's trace context, as another service would send it.
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (path, traceparent) in [("/answers/7", Some(caller)), ("/answers/8", None)] {
        let mut request = axum::http::Request::get(path);
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        app.clone()
            .oneshot(request.body(axum::body::Body::empty())?)
            .await?;
    }
    guard.shutdown()?; // exports what is left

    let spans = exported.0.lock().unwrap().clone();
    let text = lines.0.lock().unwrap().clone();
    report(&spans, &text)
}

/// Prints each span with its log lines, and checks that every line's ids are a span's.
fn report(spans: &[SpanData], lines: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let short = |id: &str| id[..8].to_owned();
    let mut logs: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let (mut in_spans, mut outside) = (0, 0);
    for line in String::from_utf8_lossy(lines).lines() {
        let json: serde_json::Value = serde_json::from_str(line)?;
        let (Some(trace), Some(span)) = (json["trace_id"].as_str(), json["span_id"].as_str())
        else {
            outside += 1;
            continue;
        };
        in_spans += 1;
        let text = format!(
            "{:5} {}",
            json["level"].as_str().unwrap_or("?"),
            json["message"].as_str().unwrap_or("")
        );
        logs.entry((trace.to_owned(), span.to_owned()))
            .or_default()
            .push(text);
    }
    let mut spans: Vec<&SpanData> = spans.iter().collect();
    spans.sort_by_key(|s| s.start_time);
    let mut matched = 0;
    for span in &spans {
        let (trace, id) = (
            span.span_context.trace_id().to_string(),
            span.span_context.span_id().to_string(),
        );
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        println!(
            "trace {}  span {}  {:<18} {took:.1?}",
            short(&trace),
            short(&id),
            span.name
        );
        for text in logs.remove(&(trace, id)).unwrap_or_default() {
            println!("    {text}");
            matched += 1;
        }
    }
    println!(
        "\n{} spans exported; {matched} of the {in_spans} log lines written in a span carry the \
         trace_id and span_id of one of them ({outside} written outside any span); the first \
         request joined the caller's trace 4bf92f35.",
        spans.len()
    );
    if matched != in_spans || spans.is_empty() {
        return Err(format!("{} log lines name no exported span", in_spans - matched).into());
    }
    Ok(())
}
