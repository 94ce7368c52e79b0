//! Run with
//!
//! ```not_rust
//! cargo run --example quickstart
//! ```
//!
//! With no collector configured (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_TRACES_EXPORTER`
//! unset) spans are printed on stderr by the console exporter and log lines are JSON on
//! stdout: the `trace_id`/`span_id` of each line are those of the span printed for it.
//! Point it at a collector with `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317`.

use octollm_telemetry::opentelemetry::trace::TraceContextExt as _;
use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{LogFormat, TelemetryConfig, TracesExporter};
use tracing::{info, info_span, warn, Instrument as _};

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

    let request = info_span!("handle_request", user_tier = "free");
    let trace_id = request.context().span().span_context().trace_id();
    async {
        info!(prompt_tokens = 42, "request received");
        let plan = info_span!("plan_task");
        async {
            info!(steps = 3, "plan ready");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        .instrument(plan)
        .await;
        let call = info_span!("call_model", model = "gpt-small");
        async { warn!(retry = 1, "model slow, retried once") }
            .instrument(call)
            .await;
        info!(status = 200, "request done");
    }
    .instrument(request)
    .await;
    info!("outside any span: this line has no trace_id");

    guard.shutdown()?;
    eprintln!(
        "\ntrace_id of this run: {trace_id} (in every JSON line above and every [span] block)"
    );
    Ok(())
}
