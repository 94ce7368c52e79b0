//! `OTEL_METRICS_EXPORTER=otlp`: the HTTP metrics are pushed to a real collector, over HTTP/protobuf (the HTTP client runs on the export runtime, the periodic reader on its own thread).

#[path = "support/metrics_push.rs"]
mod metrics_push;
#[path = "support/rotel.rs"]
mod rotel;
mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_arrive_at_the_collector() {
    metrics_push::http_metrics_arrive("http/protobuf").await;
}
