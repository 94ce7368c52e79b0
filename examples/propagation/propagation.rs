//! Run with
//!
//! ```not_rust
//! cargo run --example propagation
//! ```
//!
//! Two services on loopback: `gateway` handles `GET /ask` by calling `planner` through the
//! client layer (hyper-util's client), and once more with reqwest and
//! [`inject_context`](octollm_telemetry::http::inject_context). Every span of both services
//! lands in one trace: the planner's server span is a child of the gateway's client span.

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octollm_telemetry::http::{client_layer, inject_context, layer, OtelClient};
use tower::{Layer as _, ServiceExt as _};
use tracing::info;

type HttpClient =
    OtelClient<Client<hyper_util::client::legacy::connect::HttpConnector, Empty<bytes::Bytes>>>;

#[derive(Clone)]
struct Gateway {
    planner: SocketAddr,
    client: HttpClient,
}

/// The gateway's handler: two downstream calls, both carrying the trace.
async fn ask(State(gw): State<Gateway>) -> Result<String, String> {
    // 1. Through the client layer: a client span, the duration metric, the headers.
    let request = http::Request::get(format!("http://{}/plan", gw.planner))
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = gw
        .client
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let plan = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();

    // 2. With reqwest: inject the current context by hand.
    let mut headers = http::HeaderMap::new();
    inject_context(&mut headers);
    let again = reqwest::Client::new()
        .get(format!("http://{}/plan", gw.planner))
        .headers(headers)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    info!(plan_len = plan.len(), "plans received");
    Ok(format!("{}{again}", String::from_utf8_lossy(&plan)))
}

async fn plan() -> &'static str {
    info!("planning");
    "step 1: think\n"
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config =
        octollm_telemetry::TelemetryConfig::from_env()?.service_name("propagation-demo");
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_err()
        && std::env::var("OTEL_TRACES_EXPORTER").is_err()
    {
        config = config
            .traces_exporter(octollm_telemetry::TracesExporter::Console)
            .log_format(octollm_telemetry::LogFormat::Json);
    }
    let guard = config.init().await?;

    let planner = serve(Router::new().route("/plan", get(plan)).layer(layer())).await?;
    let client = client_layer().layer(Client::builder(TokioExecutor::new()).build_http());
    let gateway = serve(
        Router::new()
            .route("/ask", get(ask))
            .with_state(Gateway { planner, client })
            .layer(layer()),
    )
    .await?;

    let response = reqwest::get(format!("http://{gateway}/ask")).await?;
    let traceparent = response.headers().get("traceparent").cloned();
    println!(
        "GET /ask -> {} traceparent={traceparent:?}",
        response.status()
    );
    print!("{}", response.text().await?);

    guard.shutdown()?;
    eprintln!("Every span above shares the trace id of that traceparent.");
    Ok(())
}
