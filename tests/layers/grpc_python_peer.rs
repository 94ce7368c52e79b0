//! An independent gRPC peer: grpcio with OpenTelemetry's own gRPC instrumentation
//! (`tests/python/grpc_peer.py`, `opentelemetry-instrumentation-grpc` pinned in
//! `tests/python/requirements.txt`) calls and serves the test service `octollm.test.v1.Echo`
//! (`tests/support/grpc_echo.rs`), and one trace runs across the hops: first with plain tonic
//! and a hand-made `traceparent` (the peer itself), then with the crate's layers on our side
//! (`python_client_to_our_server_layer`, `our_client_layer_to_python_server`).
//!
//! # What the tests with our layers check
//!
//! - **Python client → our server layer.** `grpc_echo::serve(<our server layer>)`, then
//!   [`python_client`] with a `traceparent` of the caller's. Our server span (collected with an
//!   in-memory exporter) must have the Python `CLIENT` span's `trace_id` and its `span_id` as
//!   parent; `Served::traceparents()` shows what reached the handler.
//! - **Our client layer → Python server.** `grpc_echo::EchoClient::new(ServiceBuilder::new()
//!   .layer(<our client layer>).service(channel))` against [`PythonServer::start`], inside a
//!   span of ours; [`PythonServer::stop`] gives the Python `SERVER` span, whose `trace_id` and
//!   `parent_span_id` must be our client span's.
//! - **Names to compare** (what the Python instrumentation 0.66b2 emits, grpcio 1.85.3):
//!   - span name `/octollm.test.v1.Echo/Get` on both sides (the full path with its leading
//!     slash; semconv asks for `octollm.test.v1.Echo/Get`, so ours should not copy this);
//!   - client span attributes `rpc.system` = `grpc`, `rpc.service` = `octollm.test.v1.Echo`,
//!     `rpc.method` = `Get`, `rpc.grpc.status_code` (int: 0, 5, …);
//!   - server span adds `rpc.user_agent`, `net.peer.ip`, `net.peer.port` (a *string*) and
//!     `net.peer.name` (old conventions: no `server.address`/`network.peer.*`);
//!   - status: a successful call `UNSET`; a failing call on the client `ERROR` (description
//!     the Python exception's text) with an `exception` event; on the server `NOT_FOUND`
//!     leaves the span `UNSET` (with an `exception` event), as semconv wants for server spans.
//! - **tonic deadlines.** A `Request::set_timeout` deadline ends with `CANCELLED` "Timeout
//!   expired" on the tonic client, not `DEADLINE_EXCEEDED` (`tests/layers/grpc_echo_harness.rs`).
//!
//! The Python packages come from `tests/python/requirements.txt`; when they are missing a CI
//! run (`CI=true`) fails and a local run is skipped with a loud message.

use crate::support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde::Deserialize;
use serde_json::Value;
use support::grpc_echo::{self, EchoClient, GetRequest};
use tonic::transport::Channel;
use tonic::{Code, Request};

const PIP_INSTALL: &str = "python3 -m pip install -r tests/python/requirements.txt";
const PYTHON_MODULES: &str = "grpc, opentelemetry.instrumentation.grpc, opentelemetry.sdk";
/// A hand-made caller context: trace id and parent span id.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const GET_NAME: &str = "/octollm.test.v1.Echo/Get";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

/// What `grpc_peer.py` printed.
#[derive(Debug, Deserialize)]
pub struct PeerReport {
    pub spans: Vec<PeerSpan>,
    /// Client mode: `{"code": "OK", "value": …}` or `{"code": "NOT_FOUND", "details": …}`.
    #[serde(default)]
    pub outcome: Value,
    /// Package name → version.
    pub versions: Value,
}

#[derive(Debug, Deserialize)]
pub struct PeerSpan {
    pub name: String,
    /// `SERVER`, `CLIENT`, …
    pub kind: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub attributes: serde_json::Map<String, Value>,
    /// `{"code": "UNSET" | "OK" | "ERROR", "description": …}`.
    pub status: Value,
    /// Event names (`exception`).
    pub events: Vec<String>,
}

/// Whether `python3` can import the peer's packages; CI fails without them.
fn python_ready() -> bool {
    if support::require_tool("python3").is_none() {
        return false;
    }
    let out = Command::new("python3")
        .args(["-c", &format!("import {PYTHON_MODULES}")])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    if out.status.success() {
        return true;
    }
    let msg = format!(
        "the Python packages of tests/python/grpc_peer.py are missing ({}); install them with `{PIP_INSTALL}`",
        String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or_default()
    );
    if support::in_ci() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    false
}

fn peer_command() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(support::repo_root().join("tests/python/grpc_peer.py"));
    // Nothing from the caller's environment may change the peer's telemetry.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(&name);
        }
    }
    cmd
}

fn parse(stdout: &str) -> PeerReport {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("peer report {stdout:?}: {e}"))
}

/// Runs the Python client once: `Get { key }` against `target` (`127.0.0.1:PORT`), inside
/// the context of `traceparent` when given.
pub async fn python_client(target: &str, key: &str, traceparent: Option<&str>) -> PeerReport {
    let mut cmd = tokio::process::Command::from(peer_command());
    cmd.args(["client", "--target", target, "--key", key]);
    if let Some(tp) = traceparent {
        cmd.args(["--traceparent", tp]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run grpc_peer.py client");
    assert!(
        out.status.success(),
        "grpc_peer.py client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// The Python Echo server; [`PythonServer::stop`] closes its stdin and returns its spans.
pub struct PythonServer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `127.0.0.1:PORT`.
    pub target: String,
}

impl PythonServer {
    pub fn start() -> Self {
        let mut child = peer_command()
            .args(["server", "--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start grpc_peer.py server");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .expect("read the port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("port line {line:?}: {e}"));
        Self {
            child,
            stdin,
            target: format!("127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.target)
    }

    /// Stops the server (stdin closed) and returns what it exported.
    pub fn stop(mut self) -> PeerReport {
        drop(self.stdin.take());
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .expect("read the report");
        let status = self.child.wait().expect("wait for grpc_peer.py server");
        assert!(status.success(), "grpc_peer.py server exited with {status}");
        parse(&out)
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `00-<trace id>-<parent id>-<flags>` → (trace id, parent id).
fn split_traceparent(tp: &str) -> (&str, &str) {
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {tp:?}");
    (parts[1], parts[2])
}

#[tokio::test(flavor = "multi_thread")]
async fn python_client_to_tonic_server() {
    if !python_ready() {
        return;
    }
    let server = grpc_echo::serve_plain().await;
    let target = server.addr.to_string();
    let report = python_client(&target, "k", Some(&traceparent())).await;
    assert_eq!(report.outcome["code"], "OK", "{report:?}");
    assert_eq!(report.outcome["value"], grpc_echo::get_value("k"));
    let [span] = &report.spans[..] else {
        panic!("one client span: {report:?}")
    };
    assert_eq!(
        (span.name.as_str(), span.kind.as_str()),
        (GET_NAME, "CLIENT")
    );
    assert_eq!(
        span.trace_id, TRACE_ID,
        "the client span continues the caller's trace"
    );
    assert_eq!(span.parent_span_id.as_deref(), Some(PARENT_ID));
    assert_eq!(span.attributes["rpc.grpc.status_code"], 0);

    let seen = server.traceparents();
    let [Some(tp)] = &seen[..] else {
        panic!("one request with a traceparent: {seen:?}")
    };
    let (trace_id, parent_id) = split_traceparent(tp);
    assert_eq!(trace_id, TRACE_ID, "one trace id across the hops");
    assert_eq!(
        parent_id, span.span_id,
        "the server's parent is the Python client span"
    );

    // A failing call: the client span's status and code.
    let report = python_client(&target, grpc_echo::KEY_MISSING, None).await;
    assert_eq!(report.outcome["code"], "NOT_FOUND", "{report:?}");
    let [span] = &report.spans[..] else {
        panic!("one client span: {report:?}")
    };
    assert_eq!(span.status["code"], "ERROR");
    assert_eq!(span.attributes["rpc.grpc.status_code"], 5);
    assert_eq!(span.parent_span_id, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn tonic_client_to_python_server() {
    if !python_ready() {
        return;
    }
    let python = tokio::task::spawn_blocking(PythonServer::start)
        .await
        .unwrap();
    let channel = Channel::from_shared(python.uri())
        .unwrap()
        .connect()
        .await
        .expect("connect to the Python server");
    let mut client = EchoClient::new(channel);
    let mut request = Request::new(GetRequest { key: "k".into() });
    request
        .metadata_mut()
        .insert("traceparent", traceparent().parse().unwrap());
    let value = client
        .get_request(request)
        .await
        .unwrap()
        .into_inner()
        .value;
    assert_eq!(value, grpc_echo::get_value("k"));
    let status = client.get(grpc_echo::KEY_MISSING).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let (items, end) = grpc_echo::collect(&mut client.list(3, 2).await.unwrap()).await;
    assert_eq!(items.len(), 2);
    assert_eq!(end.unwrap_err().code(), Code::Aborted);

    let report = tokio::task::spawn_blocking(move || python.stop())
        .await
        .unwrap();
    let servers: Vec<&PeerSpan> = report.spans.iter().filter(|s| s.kind == "SERVER").collect();
    assert_eq!(servers.len(), 3, "{report:?}");
    let get = servers
        .iter()
        .find(|s| s.parent_span_id.as_deref() == Some(PARENT_ID))
        .unwrap_or_else(|| panic!("a server span under the hand-made parent: {report:?}"));
    assert_eq!(get.name, GET_NAME);
    assert_eq!(get.trace_id, TRACE_ID, "one trace id across the hops");
    assert_eq!(get.status["code"], "UNSET");
    assert_eq!(get.attributes["rpc.service"], grpc_echo::SERVICE);
    assert_eq!(get.attributes["rpc.method"], "Get");
    // Without a traceparent the Python server starts new traces.
    for s in servers.iter().filter(|s| s.span_id != get.span_id) {
        assert_ne!(s.trace_id, TRACE_ID);
        assert_eq!(s.parent_span_id, None);
    }
}

// === with the crate's layers ===

#[cfg(feature = "tonic")]
mod with_our_layers {
    use super::*;

    struct Ours {
        spans: opentelemetry_sdk::trace::InMemorySpanExporter,
        tracer_provider: opentelemetry_sdk::trace::SdkTracerProvider,
        meter_provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    }

    fn ours() -> Ours {
        let spans = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        Ours {
            tracer_provider: opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .build(),
            meter_provider: opentelemetry_sdk::metrics::SdkMeterProvider::default(),
            spans,
        }
    }

    fn w3c() -> std::sync::Arc<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync> {
        std::sync::Arc::new(opentelemetry_sdk::propagation::TraceContextPropagator::new())
    }

    /// The Python client (instrumented) calls our server layer: our server span is a child of
    /// the Python client span, in the trace of the Python caller's context.
    #[tokio::test(flavor = "multi_thread")]
    async fn python_client_to_our_server_layer() {
        if !python_ready() {
            return;
        }
        let ours = ours();
        let server = grpc_echo::serve(
            octollm_telemetry::grpc::layer()
                .providers(&ours.tracer_provider, &ours.meter_provider)
                .propagator(w3c()),
        )
        .await;
        let report = python_client(&server.addr.to_string(), "k", Some(&traceparent())).await;
        assert_eq!(report.outcome["code"], "OK", "{report:?}");
        let [python_span] = &report.spans[..] else {
            panic!("one client span: {report:?}")
        };
        server.shutdown().await;
        let spans = ours.spans.get_finished_spans().unwrap();
        let [span] = &spans[..] else {
            panic!("one server span of ours: {spans:?}")
        };
        assert_eq!(span.name, GET_NAME.trim_start_matches('/'));
        assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Server);
        assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
        assert_eq!(
            span.parent_span_id.to_string(),
            python_span.span_id,
            "our server span's parent is the Python client span"
        );
    }

    /// Our client layer calls the Python server (instrumented) inside a span of ours: the Python
    /// server span continues our trace, its parent our client span.
    #[tokio::test(flavor = "multi_thread")]
    async fn our_client_layer_to_python_server() {
        use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
        if !python_ready() {
            return;
        }
        let python = tokio::task::spawn_blocking(PythonServer::start)
            .await
            .unwrap();
        let port: u16 = python.target.rsplit(':').next().unwrap().parse().unwrap();
        let ours = ours();
        let channel = Channel::from_shared(python.uri())
            .unwrap()
            .connect()
            .await
            .expect("connect to the Python server");
        let channel = tower::ServiceBuilder::new()
            .layer(
                octollm_telemetry::grpc::client_layer()
                    .providers(&ours.tracer_provider, &ours.meter_provider)
                    .propagator(w3c())
                    .server("127.0.0.1", port),
            )
            .service(channel);
        let mut client = EchoClient::new(channel);
        let root = ours.tracer_provider.tracer("caller").start("caller");
        let cx = opentelemetry::Context::current_with_span(root);
        {
            let _attached = cx.clone().attach();
            assert_eq!(client.get("k").await.unwrap(), grpc_echo::get_value("k"));
        }
        cx.span().end();
        let report = tokio::task::spawn_blocking(move || python.stop())
            .await
            .unwrap();
        let spans = ours.spans.get_finished_spans().unwrap();
        let client_span = spans
            .iter()
            .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Client)
            .expect("our client span");
        let [server] = &report
            .spans
            .iter()
            .filter(|s| s.kind == "SERVER")
            .collect::<Vec<_>>()[..]
        else {
            panic!("one Python server span: {report:?}")
        };
        assert_eq!(
            server.trace_id,
            client_span.span_context.trace_id().to_string(),
            "one trace id across the hops"
        );
        assert_eq!(
            server.parent_span_id.as_deref(),
            Some(client_span.span_context.span_id().to_string().as_str()),
            "the Python server span's parent is our client span"
        );
    }
}
