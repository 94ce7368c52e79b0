//! `OTEL_LOGS_EXPORTER=otlp`: `tracing` events reach the real collector (rotel) as OTLP log
//! records, over gRPC and HTTP, each with exactly the ids of the span it was written in, its
//! severity, body and typed attributes, and the service's resource; stdout keeps its lines;
//! the export path's own events are not exported.

use crate::support;

use std::time::{Duration, Instant};

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::TelemetryConfig;
use opentelemetry::trace::TraceContextExt as _;
use support::rotel::Rotel;
use tracing_subscriber::prelude::*;

/// The `LogRecord` blocks of rotel's debug output.
fn records(log: &str) -> Vec<String> {
    log.split("LogRecord #")
        .skip(1)
        .map(|block| {
            block
                .split("ResourceLog")
                .next()
                .unwrap_or(block)
                .to_owned()
        })
        .collect()
}

async fn records_arrive(protocol: &str) {
    let Some(rotel) = Rotel::start() else { return };
    let endpoint = if protocol == "grpc" {
        rotel.grpc_endpoint()
    } else {
        rotel.http_endpoint()
    };
    let service = format!("logs-{}", protocol.replace('/', "-"));
    let lines = support::lines::Lines::default();
    let config = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", service.as_str()),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap();
    let effective = config.effective().unwrap();
    assert_eq!(
        effective.logs_exporter(),
        octollm_telemetry::LogsExporter::Otlp
    );
    assert!(effective.logs_endpoint().is_some());
    let telemetry = config.log_writer(lines.clone()).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    let (trace_id, span_id) = tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("charge_card");
        let ids = span.in_scope(|| {
            tracing::warn!(
                amount_cents = 1250_i64,
                card_ok = false,
                ratio = 0.5,
                who = "ana",
                "card declined"
            );
            let cx = tracing::Span::current().context();
            let sc = cx.span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        });
        tracing::info!("outside any span");
        tracing::warn!(target: "opentelemetry_sdk", "export path noise");
        ids
    });
    let stats = telemetry.guard().stats_handle();
    tokio::task::spawn_blocking(move || telemetry.into_guard().shutdown())
        .await
        .unwrap()
        .expect("shutdown flushes the log records");

    let deadline = Instant::now() + Duration::from_secs(15);
    let (declined, outside) = loop {
        let log = rotel.metrics_log();
        let all = records(&log);
        let declined = all.iter().find(|r| r.contains("card declined")).cloned();
        let outside = all.iter().find(|r| r.contains("outside any span")).cloned();
        if let (Some(d), Some(o)) = (&declined, &outside) {
            assert!(
                !log.contains("export path noise"),
                "the export path is not exported:\n{log}"
            );
            assert!(
                log.contains(&service),
                "the resource travels with the records:\n{log}"
            );
            break (d.clone(), o.clone());
        }
        assert!(
            Instant::now() < deadline,
            "no log records reached the collector:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let declined_lower = declined.to_lowercase();
    assert!(
        declined_lower.contains(&trace_id),
        "the span's trace id:\n{declined}"
    );
    assert!(
        declined_lower.contains(&span_id),
        "the span's span id:\n{declined}"
    );
    assert!(declined.contains("WARN"), "severity text:\n{declined}");
    assert!(
        declined.contains("Int(1250)"),
        "integers stay integers:\n{declined}"
    );
    assert!(
        declined.contains("Bool(false)"),
        "booleans stay booleans:\n{declined}"
    );
    assert!(
        declined.contains("Double(0.5)"),
        "floats stay floats:\n{declined}"
    );
    assert!(declined.contains("Str(ana)"), "strings:\n{declined}");
    assert!(
        !outside.to_lowercase().contains(&trace_id),
        "outside the span, not its ids:\n{outside}"
    );

    let stats = stats.get();
    assert_eq!(stats.exported_logs, 2, "{stats:?}");
    assert_eq!(stats.lost_logs(), 0, "{stats:?}");
    // stdout still has every line.
    let json = lines.json();
    assert!(json
        .iter()
        .any(|l| l["message"] == "card declined" && l["trace_id"] == trace_id.as_str()));
    assert!(json.iter().any(|l| l["message"] == "outside any span"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_arrive_over_grpc_with_their_span_ids() {
    records_arrive("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_arrive_over_http_with_their_span_ids() {
    records_arrive("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_to_a_dead_collector_are_counted_and_shutdown_keeps_its_deadline() {
    // A port nothing listens on.
    let port = support::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let telemetry = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "logs-dead"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ])
    .unwrap()
    .log_writer(std::io::sink)
    .shutdown_timeout(Duration::from_secs(2))
    .build()
    .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3 {
            tracing::info!(i, "into the void");
        }
    });
    let stats = telemetry.guard().stats_handle();
    let started = Instant::now();
    // Whether shutdown itself reports an error depends on whether a batch was still queued.
    let _ = tokio::task::spawn_blocking(move || telemetry.into_guard().shutdown())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "shutdown kept its 2 s deadline: {took:?}"
    );
    let stats = stats.get();
    assert_eq!(stats.exported_logs, 0, "{stats:?}");
    assert_eq!(
        stats.lost_logs(),
        3,
        "every record is counted as lost: {stats:?}"
    );
}

/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY`: a model call's messages reach
/// the collector as a `gen_ai.client.inference.operation.details` log record (the event name of
/// the convention) carrying the call span's ids and the messages' JSON, and not as span
/// attributes; without the variable nothing of the content leaves the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_content_is_a_log_record_named_by_the_convention_only_when_asked() {
    use octollm_telemetry::genai::{Message, Operation};
    let Some(rotel) = Rotel::start() else { return };
    let endpoint = rotel.grpc_endpoint();
    for (capture, secret) in [
        ("EVENT_ONLY", "ask-rotel-4242"),
        ("NO_CONTENT", "keep-me-7373"),
    ] {
        let config = TelemetryConfig::from_vars([
            ("OTEL_SERVICE_NAME", "genai-content"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            (
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                capture,
            ),
        ])
        .unwrap();
        let telemetry = config.build().unwrap();
        let genai = telemetry.genai();
        let dispatch =
            tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
        let span_id = tracing::dispatcher::with_default(&dispatch, || {
            let mut call = genai.call(Operation::Chat, "openai").model("m").start();
            call.input_messages(&[Message::text("user", secret)]);
            let id = call.context().span().span_context().span_id().to_string();
            call.end();
            id
        });
        tokio::task::spawn_blocking(move || telemetry.into_guard().shutdown())
            .await
            .unwrap()
            .expect("shutdown flushes the log records");
        if capture == "NO_CONTENT" {
            // The EVENT_ONLY record arrived already; give this one the same time, then look.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert!(
                !rotel.metrics_log().contains(secret),
                "content left the process without being asked for"
            );
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let record = loop {
            if let Some(r) = records(&rotel.metrics_log())
                .into_iter()
                .find(|r| r.contains(secret))
            {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "no content record:\n{}",
                rotel.metrics_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            record.contains("gen_ai.client.inference.operation.details"),
            "the convention's event name:\n{record}"
        );
        assert!(
            record.contains("gen_ai.input.messages"),
            "which list:\n{record}"
        );
        assert!(
            record.to_lowercase().contains(&span_id),
            "the call span's id:\n{record}"
        );
    }
}
