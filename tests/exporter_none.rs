//! `OTEL_TRACES_EXPORTER=none`: a running collector configured as the endpoint receives nothing,
//! while log lines and propagation keep their trace ids.

mod support;

use support::no_export;

#[tokio::test(flavor = "multi_thread")]
async fn exporter_none_sends_nothing_but_keeps_ids() {
    let vars = [
        ("OTEL_SERVICE_NAME", "exporter-none"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    no_export::nothing_exported_ids_kept(&vars, |_| {}).await;
}
