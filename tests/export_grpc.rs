//! Spans exported over OTLP/gRPC, gzip-compressed, reach a real collector (rotel) with the
//! whole resource, the parent/child links, the names and typed attributes.

mod support;

use octollm_telemetry::{Protocol, Sampler};
use support::rotel::{config_against, LogCapture, Rotel};
use support::span_export;

#[tokio::test(flavor = "multi_thread")]
async fn spans_arrive_over_grpc_gzip_with_resource_links_and_typed_attributes() {
    let Some(rotel) = Rotel::start() else { return };
    let logs = LogCapture::default();
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        span_export::RESOURCE_VARS
            .iter()
            .copied()
            .chain([("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]),
        &logs,
    )
    .service_name("from-code")
    .sampler(Sampler::AlwaysOn)
    .init()
    .await
    .unwrap();

    let emitted = span_export::emit_parent_and_child();
    guard
        .shutdown()
        .expect("shutdown flushes to a live collector");
    span_export::assert_exported(&rotel, &emitted, &logs);
}
