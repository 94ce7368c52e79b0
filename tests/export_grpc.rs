//! Spans exported over OTLP/gRPC reach a real collector (rotel) with the whole resource, the
//! parent/child links, the names and typed attributes.

#[path = "support/rotel.rs"]
mod rotel;
#[path = "support/span_export.rs"]
mod span_export;
mod support;

use std::time::Duration;

use octollm_telemetry::{LogFormat, Protocol, Sampler, TelemetryConfig};
use rotel::{LogCapture, Rotel};

#[tokio::test(flavor = "multi_thread")]
async fn spans_arrive_over_grpc_with_resource_links_and_typed_attributes() {
    let Some(rotel) = Rotel::start() else { return };
    let logs = LogCapture::default();
    let guard = TelemetryConfig::from_vars(span_export::RESOURCE_VARS.iter().copied())
        .unwrap()
        .service_name("from-code")
        .sampler(Sampler::AlwaysOn)
        .endpoint(rotel.grpc_endpoint())
        .protocol(Protocol::Grpc)
        .schedule_delay(Duration::from_millis(100))
        .log_format(LogFormat::Json)
        .log_writer(logs.clone())
        .init()
        .await
        .unwrap();

    let emitted = span_export::emit_parent_and_child();
    guard
        .shutdown()
        .expect("shutdown flushes to a live collector");
    span_export::assert_exported(&rotel, &emitted, &logs);
}
