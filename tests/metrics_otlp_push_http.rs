//! `OTEL_METRICS_EXPORTER=otlp`: the HTTP metrics are pushed to a real collector, over HTTP/protobuf with gzip (the HTTP client runs on the export runtime, the periodic reader on its own thread).

mod support;

use support::metrics_push;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compressed_metrics_arrive_at_the_collector() {
    metrics_push::http_metrics_arrive("http/protobuf", "gzip").await;
}
