//! `OTEL_METRICS_EXPORTER=otlp`: the HTTP metrics are pushed to a real collector, over gRPC.

mod support;

use support::metrics_push;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_arrive_at_the_collector() {
    metrics_push::http_metrics_arrive("grpc", "none").await;
}
