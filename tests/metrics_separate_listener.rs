//! `/metrics` on a listener of its own: the public port serves the application and no metrics,
//! the metrics port serves the series of the public port's requests.

use std::time::Duration;

use octollm_telemetry::metrics::{HTTP_SERVER_REQUEST_DURATION_COUNT, LABEL_ROUTE};
use octollm_telemetry::TelemetryConfig;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_on_their_own_listener() {
    let guard = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "metrics-listener"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
    ])
    .unwrap()
    .log_writer(std::io::sink)
    .init()
    .await
    .expect("init");

    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(octollm_telemetry::http::layer());
    let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_addr = public.local_addr().unwrap();
    let private = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let private_addr = private.local_addr().unwrap();
    let app_task = tokio::spawn(async move { axum::serve(public, app).await });
    let metrics_task = tokio::spawn(octollm_telemetry::metrics::serve(private));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    const REQUESTS: usize = 3;
    for id in 0..REQUESTS {
        let r = client
            .get(format!("http://{public_addr}/items/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let on_public = client
        .get(format!("http://{public_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_public.status(), 404, "the public port serves no metrics");

    let scrape = client
        .get(format!("http://{private_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    let route = format!("{LABEL_ROUTE}=\"/items/{{id}}\"");
    let count = text
        .lines()
        .find(|l| l.starts_with(HTTP_SERVER_REQUEST_DURATION_COUNT) && l.contains(&route))
        .unwrap_or_else(|| {
            panic!("no {HTTP_SERVER_REQUEST_DURATION_COUNT} for {route} in:\n{text}")
        });
    assert!(
        count.ends_with(&format!(" {REQUESTS}")),
        "{REQUESTS} requests counted: {count}"
    );

    app_task.abort();
    metrics_task.abort();
    guard.shutdown().expect("shutdown");
}
