//! Run with
//!
//! ```not_rust
//! cargo run --example reflex_service              # serves on 127.0.0.1:8080 until Ctrl-C
//! cargo run --example reflex_service -- --self-test
//! ```
//!
//! A service shaped like the platform's reflex layer: `POST /detect-pii` (answering a repeated
//! text from its cache, whose hits and misses it counts), `/health` for the
//! probes, `/metrics` for Prometheus, and a graceful shutdown that flushes telemetry. Copy it
//! as the skeleton of a new service. `PORT` sets the port (0 picks a free one); `--self-test`
//! sends a few requests to itself, prints what `/metrics` says and exits; `REFLEX_TELEMETRY=off`
//! runs it with no instrumentation at all (the baseline of `scripts/load.sh`).

use std::future::IntoFuture as _;
use std::net::SocketAddr;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octollm_telemetry::metrics::CacheMetrics;
use serde_json::{json, Value};
use tracing::{info, info_span, Instrument as _};

/// Results of recent scans by text: the reflex layer answers a repeated text from memory.
struct Reflex {
    recent: Mutex<HashMap<String, Value>>,
    /// Hit and miss counts (`octollm_cache_lookups_total{cache_name="reflex"}`).
    metrics: Option<CacheMetrics>,
}

/// The most results kept; the cache starts over when it is full.
const RECENT_MAX: usize = 1024;

/// Finds e-mail addresses and long digit runs (phone, card or account numbers).
async fn detect_pii(State(reflex): State<Arc<Reflex>>, Json(body): Json<Value>) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let cached = reflex.recent.lock().unwrap().get(&text).cloned();
    if let Some(m) = &reflex.metrics {
        m.record(cached.is_some());
    }
    if let Some(answer) = cached {
        return Json(answer);
    }
    let scan = info_span!("scan_text", text_len = text.len());
    let entities = async {
        let mut found = Vec::new();
        for word in text.split_whitespace() {
            let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '.');
            let digits = word.chars().filter(char::is_ascii_digit).count();
            if word.contains('@') && word.contains('.') {
                found.push(json!({"type": "email"}));
            } else if digits >= 9 {
                found.push(json!({"type": "number"}));
            }
        }
        info!(entities = found.len(), "pii scan finished");
        found
    }
    .instrument(scan)
    .await;
    let answer = json!({ "pii_found": !entities.is_empty(), "entities": entities });
    let mut recent = reflex.recent.lock().unwrap();
    if recent.len() >= RECENT_MAX {
        recent.clear();
    }
    recent.insert(text, answer.clone());
    Json(answer)
}

fn app(instrumented: bool) -> Router {
    let reflex = Arc::new(Reflex {
        recent: Mutex::new(HashMap::new()),
        metrics: instrumented.then(|| CacheMetrics::new("reflex")),
    });
    let app = Router::new()
        .route("/detect-pii", post(detect_pii))
        .route("/health", get(|| async { "ok" }))
        .with_state(reflex)
        .merge(octollm_telemetry::metrics::router());
    // The layer goes last so that every request is traced, a 404 too; it skips the probe and
    // the scrape by itself.
    if instrumented {
        app.layer(octollm_telemetry::http::layer())
    } else {
        app
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    info!("shutdown signal received");
}

/// Sends `request` and returns the status, the `traceparent` answered and the body.
async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<(http::StatusCode, Option<http::HeaderValue>, String), Box<dyn std::error::Error>> {
    let response = client.request(request).await?;
    let status = response.status();
    let trace = response.headers().get("traceparent").cloned();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, trace, String::from_utf8(body.to_vec())?))
}

async fn self_test(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    for text in [
        "mail me at ana@example.com",
        "nothing to see",
        "call 0612345678 now",
        "mail me at ana@example.com",
    ] {
        let request = http::Request::post(format!("http://{addr}/detect-pii"))
            .header("content-type", "application/json")
            .body(Full::from(json!({ "text": text }).to_string()))?;
        let (status, trace, body) = send(&client, request).await?;
        println!("POST /detect-pii -> {status} {body} traceparent={trace:?}");
    }
    let request = http::Request::get(format!("http://{addr}/metrics")).body(Full::default())?;
    let (_, _, metrics) = send(&client, request).await?;
    let count = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_server_request_duration_seconds_count") && l.contains("/detect-pii")
        })
        .ok_or("no request count for /detect-pii in /metrics")?;
    println!("{count}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let instrumented = std::env::var("REFLEX_TELEMETRY").map_or(true, |v| v != "off");
    let mut appender = None;
    let guard = if instrumented {
        let config = octollm_telemetry::TelemetryConfig::from_env()?
            .service_name("reflex-layer")
            .service_version(env!("CARGO_PKG_VERSION"));
        // `REFLEX_LOG_WRITER=appender`: lines through tracing-appender's lossy non-blocking
        // writer instead of the crate's (the comparison of `scripts/load.sh`).
        let config = if std::env::var("REFLEX_LOG_WRITER").is_ok_and(|v| v == "appender") {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(true)
                .finish(std::io::stdout());
            appender = Some((writer.error_counter(), guard));
            config.log_writer(writer)
        } else {
            config
        };
        Some(config.init().await?)
    } else {
        None
    };
    let self_testing = std::env::args().any(|a| a == "--self-test");
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse()?,
        Err(_) if self_testing => 0,
        Err(_) => 8080,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "reflex layer listening");

    let server = axum::serve(
        listener,
        app(instrumented).into_make_service_with_connect_info::<SocketAddr>(),
    );
    if self_testing {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(
            server
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let result = self_test(addr).await;
        let _ = stop.send(());
        serving.await??;
        result?;
    } else {
        server.with_graceful_shutdown(shutdown_signal()).await?;
    }

    // Flush spans and metrics before the process exits.
    if let Some(Err(e)) = guard.map(|g| g.shutdown()) {
        eprintln!("telemetry shutdown: {e}");
    }
    if let Some((dropped, worker)) = appender {
        drop(worker);
        eprintln!("log lines dropped: {}", dropped.dropped_lines());
    }
    Ok(())
}
