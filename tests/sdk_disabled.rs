//! `OTEL_SDK_DISABLED=true`: a running collector configured as the endpoint (with the OTLP
//! exporter selected) receives nothing, while log lines and propagation keep their trace ids.

mod support;

use octollm_telemetry::MetricsExporter;
use support::no_export;

#[tokio::test(flavor = "multi_thread")]
async fn sdk_disabled_sends_nothing_but_keeps_ids() {
    let vars = [
        ("OTEL_SERVICE_NAME", "sdk-disabled"),
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ];
    no_export::nothing_exported_ids_kept(&vars, |config| {
        assert_eq!(
            config.effective().unwrap().metrics_exporter(),
            MetricsExporter::None
        );
    })
    .await;
}
