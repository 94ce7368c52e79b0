//! Run with
//!
//! ```not_rust
//! cargo run --example quickstart
//! ```
//!
//! An Axum service with the telemetry layer, called in-process. With no collector configured
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_TRACES_EXPORTER` unset) spans are printed on
//! stderr by the console exporter and log lines are JSON on stdout: the `trace_id`/`span_id`
//! of each line are those of the span printed for it. Point it at a collector with
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use octollm_telemetry::{LogFormat, TelemetryConfig, TracesExporter};
use tower::ServiceExt as _;
use tracing::{info, info_span, warn, Instrument as _};

/// A handler with a nested span of its own and a few log lines.
async fn answer(Path(id): Path<u32>) -> String {
    info!(prompt_tokens = 42, "request received");
    let plan = info_span!("plan_task", steps = 3);
    async {
        info!("plan ready");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    .instrument(plan)
    .await;
    let call = info_span!("call_model", model = "gpt-small");
    async { warn!(retry = 1, "model slow, retried once") }
        .instrument(call)
        .await;
    format!("answer {id}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = TelemetryConfig::from_env()?
        .service_name("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"));
    let no_collector = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
    ]
    .iter()
    .all(|v| std::env::var(v).map_or(true, |s| s.trim().is_empty()));
    if no_collector {
        config = config
            .traces_exporter(TracesExporter::Console)
            .log_format(LogFormat::Json);
    }
    let guard = config.init().await?;

    let app = Router::new()
        .route("/answers/{id}", get(answer))
        .route("/health", get(|| async { "ok" }))
        .layer(octollm_telemetry::http::layer());

    // A caller's trace context, as another service would send it.
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (path, traceparent) in [
        ("/answers/7", Some(caller)),
        ("/answers/8", None),
        ("/health", None),
    ] {
        let mut request = axum::http::Request::get(path);
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::empty())?)
            .await?;
        let trace = response.headers().get("traceparent").cloned();
        eprintln!("GET {path} -> {} traceparent={trace:?}", response.status());
    }
    info!("outside any request: this line has no trace_id");

    let stats = guard.export_stats();
    guard.shutdown()?;
    eprintln!(
        "\nEach JSON line on stdout carries the trace_id/span_id of a [span] block on stderr; \
         the first request joined the caller's trace 4bf92f3577b34da6a3ce929d0e0e4736. \
         Spans dropped: {}.",
        stats.dropped_spans
    );
    Ok(())
}
