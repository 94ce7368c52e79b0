//! One trace across languages: a Rust service (this crate's server and client layers) and a
//! Python service (`tests/python/service.py`, the standard OpenTelemetry Python packages) call
//! each other over loopback and export to the same collector (rotel).
//!
//! 1. Python calls Rust: Python server span → Python client span → Rust server span.
//! 2. Rust calls Python: Rust server span → Rust client span → Python server span.
//!
//! In both traces the resources follow the same conventions (`service.namespace`,
//! `deployment.environment.name`, `deployment.environment`) and the JSON log lines of both
//! services carry the trace id (and the span id of the server span that wrote them).
//!
//! The Python packages come from `tests/python/requirements.txt`; when they are missing a CI
//! run (`CI=true`) fails and a local run is skipped with a loud message.

mod support;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octollm_telemetry::Protocol;
use serde_json::{Map, Value};
use support::rotel::{config_against, AttrValue, LogCapture, ReceivedSpan, Rotel};
use tower::{Layer as _, ServiceExt as _};

const PIP_INSTALL: &str = "python3 -m pip install -r tests/python/requirements.txt";
const PYTHON_MODULES: &str = "opentelemetry.instrumentation.fastapi, \
     opentelemetry.instrumentation.httpx, opentelemetry.exporter.otlp.proto.http.trace_exporter, \
     fastapi, httpx, uvicorn";
const RUST_SERVICE: &str = "rust-continuity";
const PYTHON_SERVICE: &str = "python-continuity";
const ENVIRONMENT: &str = "staging";
/// How long the Python service may take to import its packages and listen.
const PYTHON_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long SIGTERM may take to stop it (including the span flush).
const PYTHON_STOP_TIMEOUT: Duration = Duration::from_secs(20);
const SPAN_KIND_SERVER: i64 = 2;
const SPAN_KIND_CLIENT: i64 = 3;

type TracedClient = octollm_telemetry::http::OtelClient<Client<HttpConnector, Empty<bytes::Bytes>>>;

/// Whether `python3` can import the service's packages; CI fails without them.
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
        "the Python packages of tests/python/service.py are missing ({}); install them with `{PIP_INSTALL}`",
        String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or_default()
    );
    if support::in_ci() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    false
}

/// `tests/python/service.py` running as a child process; stopped (SIGTERM, then SIGKILL) on
/// drop. Its stdout (the JSON log lines) and stderr go to files in a temporary directory.
struct PythonService {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl PythonService {
    fn start(otlp_http_endpoint: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("python-service-")
            .tempdir()
            .expect("tempdir");
        let stdout = File::create(dir.path().join("stdout.log")).expect("stdout file");
        let stderr = File::create(dir.path().join("stderr.log")).expect("stderr file");
        let mut cmd = Command::new("python3");
        cmd.arg(support::repo_root().join("tests/python/service.py"));
        // Nothing from the caller's environment may change the service's telemetry.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let platform = [
                "SERVICE_NAMESPACE",
                "APP_VERSION",
                "ENVIRONMENT",
                "POD_NAME",
                "POD_NAMESPACE",
                "NODE_NAME",
                "HOST",
                "PORT",
                "LOG_LEVEL",
            ];
            if name.starts_with("OTEL_") || platform.contains(&name.as_str()) {
                cmd.env_remove(&name);
            }
        }
        let child = cmd
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("OTEL_SERVICE_NAME", PYTHON_SERVICE),
                ("APP_VERSION", "3.4.5"),
                ("ENVIRONMENT", ENVIRONMENT),
                ("POD_NAME", "python-continuity-0"),
                ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_http_endpoint),
                // Nothing is exported before SIGTERM: the spans arrive only if the shutdown
                // flushes them.
                ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
                ("PYTHONUNBUFFERED", "1"),
                ("PYTHONDONTWRITEBYTECODE", "1"),
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn python3 tests/python/service.py");
        let mut service = Self {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        service.addr = service.wait_listening();
        service
    }

    /// The address of its "listening" log line.
    fn wait_listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + PYTHON_READY_TIMEOUT;
        loop {
            let listening = self
                .stdout_lines()
                .into_iter()
                .find(|l| l["message"] == "listening");
            if let Some(line) = listening {
                let addr = line["address"]
                    .as_str()
                    .expect("address in the listening line");
                return addr.parse().expect("a socket address");
            }
            let child = self.child.as_mut().expect("running");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the Python service exited with {status} at start:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the Python service did not listen within {PYTHON_READY_TIMEOUT:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Every complete stdout line, each of which must be a JSON object.
    fn stdout_lines(&self) -> Vec<Map<String, Value>> {
        let text = self.stdout();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => map,
                other => panic!("Python log line is not a JSON object ({other:?}): {line}"),
            })
            .collect()
    }

    fn output(&self) -> String {
        let stderr =
            std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        format!("--- stdout\n{}--- stderr\n{stderr}", self.stdout())
    }

    /// SIGTERM, then SIGKILL after `grace`; the exit status.
    fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for PythonService {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

async fn serve(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// Aborts the server task when the test ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn rust_service(client: TracedClient, python: SocketAddr) -> Router {
    Router::new()
        .route(
            "/rust",
            get(|| async {
                tracing::info!(side = "rust", route = "/rust", "rust handled");
                "from rust"
            }),
        )
        .route(
            "/rust-calls-py",
            get(
                |State((client, python)): State<(TracedClient, SocketAddr)>| async move {
                    tracing::info!(
                        side = "rust",
                        route = "/rust-calls-py",
                        "rust calling python"
                    );
                    let req = http::Request::get(format!("http://{python}/py"))
                        .body(Empty::new())
                        .unwrap();
                    let res = client.oneshot(req).await.expect("call the Python service");
                    let status = res.status().as_u16();
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    format!("{status} {}", String::from_utf8_lossy(&body))
                },
            ),
        )
        .with_state((client, python))
        .layer(octollm_telemetry::http::layer())
}

/// One service of the test, as its spans and log lines must show it.
struct Side<'a> {
    service: &'static str,
    version: &'static str,
    instance: &'static str,
    sdk: &'static str,
    lines: &'a [Map<String, Value>],
}

/// A server of one trace: its route and the message it logs while handling the request.
struct Hop<'a> {
    side: &'a Side<'a>,
    route: &'static str,
    message: &'static str,
}

/// Checks the trace started by a request to `caller`, whose handler calls `callee` at `url`:
/// exactly three spans (caller server, caller client, callee server) linked parent to child,
/// their names, routes and HTTP attributes, the resource of each side, and each server's log
/// line carrying the trace id. Returns the trace id.
fn check_call_trace(spans: &[ReceivedSpan], caller: Hop<'_>, callee: Hop<'_>, url: &str) -> String {
    let root_name = format!("GET {}", caller.route);
    let root = spans
        .iter()
        .find(|s| s.name == root_name)
        .unwrap_or_else(|| panic!("no span {root_name}: {spans:#?}"));
    let trace = root.trace_id.clone();
    assert_eq!(
        spans.iter().filter(|s| s.trace_id == trace).count(),
        3,
        "{spans:#?}"
    );
    let server = span(spans, &trace, caller.side.service, SPAN_KIND_SERVER);
    let client = span(spans, &trace, caller.side.service, SPAN_KIND_CLIENT);
    let remote = span(spans, &trace, callee.side.service, SPAN_KIND_SERVER);
    assert_eq!(
        server.parent_span_id, "",
        "the caller's server span is the root"
    );
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(remote.parent_span_id, client.span_id);
    assert_eq!(server.name, root_name);
    assert_eq!(client.name, "GET");
    assert_eq!(remote.name, format!("GET {}", callee.route));
    assert_eq!(str_attr(server, "http.route"), Some(caller.route));
    assert_eq!(str_attr(remote, "http.route"), Some(callee.route));
    assert_eq!(str_attr(client, "url.full"), Some(url));
    for s in [server, client, remote] {
        assert_eq!(
            int_attr(s, "http.response.status_code"),
            Some(200),
            "{s:#?}"
        );
        assert_eq!(str_attr(s, "http.request.method"), Some("GET"), "{s:#?}");
    }
    for (s, side) in [
        (server, caller.side),
        (client, caller.side),
        (remote, callee.side),
    ] {
        check_resource(s, side.service, side.version, side.instance, side.sdk);
    }
    check_log_line(
        caller.side.lines,
        caller.message,
        caller.side.service,
        &trace,
        server,
    );
    check_log_line(
        callee.side.lines,
        callee.message,
        callee.side.service,
        &trace,
        remote,
    );
    trace
}

/// The one span of `trace` from `service` with this kind.
fn span<'a>(spans: &'a [ReceivedSpan], trace: &str, service: &str, kind: i64) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.trace_id == trace && s.resource_str("service.name") == Some(service) && s.kind == kind
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one span of kind {kind} from {service} in trace {trace}: {spans:#?}"
    );
    found[0]
}

fn int_attr(span: &ReceivedSpan, key: &str) -> Option<i64> {
    match span.attr(key) {
        Some(AttrValue::Int(v)) => Some(*v),
        _ => None,
    }
}

fn str_attr<'a>(span: &'a ReceivedSpan, key: &str) -> Option<&'a str> {
    span.attr(key).and_then(AttrValue::as_str)
}

/// The resource conventions, the same on both sides.
fn check_resource(span: &ReceivedSpan, service: &str, version: &str, instance: &str, sdk: &str) {
    let r = |key: &str| span.resource_str(key);
    assert_eq!(r("service.name"), Some(service), "{span:#?}");
    assert_eq!(r("service.namespace"), Some("octollm"), "{span:#?}");
    assert_eq!(r("service.version"), Some(version), "{span:#?}");
    assert_eq!(r("service.instance.id"), Some(instance), "{span:#?}");
    assert_eq!(
        r("deployment.environment.name"),
        Some(ENVIRONMENT),
        "{span:#?}"
    );
    assert_eq!(r("deployment.environment"), Some(ENVIRONMENT), "{span:#?}");
    assert_eq!(r("k8s.pod.name"), Some(instance), "{span:#?}");
    assert_eq!(r("telemetry.sdk.language"), Some(sdk), "{span:#?}");
}

/// The one log line with this message; it must carry `trace` and `span_id` and the schema keys.
fn check_log_line(
    lines: &[Map<String, Value>],
    message: &str,
    service: &str,
    trace: &str,
    server_span: &ReceivedSpan,
) {
    let found: Vec<_> = lines
        .iter()
        .filter(|l| l.get("message").and_then(Value::as_str) == Some(message))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one line {message:?} from {service}: {lines:#?}"
    );
    let line = found[0];
    let timestamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap();
    let s = |key: &str| line.get(key).and_then(Value::as_str).unwrap_or_default();
    assert!(timestamp.is_match(s("timestamp")), "timestamp: {line:?}");
    assert_eq!(s("level"), "info", "{line:?}");
    assert!(!s("target").is_empty(), "target: {line:?}");
    assert_eq!(s("service"), service, "{line:?}");
    assert_eq!(s("trace_id"), trace, "{line:?}");
    assert_eq!(s("span_id"), server_span.span_id, "{line:?}");
    assert_eq!(
        line.get("trace_sampled"),
        Some(&Value::Bool(true)),
        "{line:?}"
    );
    // `span` names the current `tracing` span; the Rust HTTP layer's server span is an
    // OpenTelemetry span only, so the Rust handler's line has the ids but no `span` key.
    if service == PYTHON_SERVICE || line.contains_key("span") {
        assert_eq!(s("span"), server_span.name, "{line:?}");
    }
    assert!(!s("request_id").is_empty(), "request_id: {line:?}");
    assert_eq!(
        s("side"),
        if service == RUST_SERVICE {
            "rust"
        } else {
            "python"
        },
        "{line:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_across_rust_and_python_in_both_directions() {
    let started = Instant::now();
    if !python_ready() {
        return;
    }
    let Some(rotel) = Rotel::start() else { return };

    let rust_logs = LogCapture::default();
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        [
            ("OTEL_SERVICE_NAME", RUST_SERVICE),
            ("APP_VERSION", "1.2.3"),
            ("ENVIRONMENT", ENVIRONMENT),
            ("POD_NAME", "rust-continuity-0"),
            ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ],
        &rust_logs,
    )
    .init()
    .await
    .unwrap();

    let mut python = PythonService::start(&rotel.http_endpoint());
    let client: TracedClient = octollm_telemetry::http::client_layer()
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let (rust_addr, rust_task) = serve(rust_service(client, python.addr)).await;
    let _rust_task = AbortOnDrop(rust_task);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // 1. Python calls Rust.
    let target = format!("http%3A%2F%2F127.0.0.1%3A{}%2Frust", rust_addr.port());
    let res = http
        .get(python.url(&format!("/py-calls-rust?target={target}")))
        .send()
        .await
        .expect("call the Python service");
    assert_eq!(res.status(), 200, "{}", python.output());
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"], "from rust", "{body}");

    // 2. Rust calls Python.
    let res = http
        .get(format!("http://{rust_addr}/rust-calls-py"))
        .send()
        .await
        .expect("call the Rust service");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"200 {"from":"python"}"#);

    // SIGTERM: the Python service stops cleanly and flushes its spans on the way out.
    let status = tokio::task::block_in_place(|| python.stop(PYTHON_STOP_TIMEOUT));
    assert!(
        status.is_some_and(|s| s.success()),
        "the Python service did not exit cleanly on SIGTERM ({status:?}):\n{}",
        python.output()
    );
    tokio::task::block_in_place(|| guard.shutdown()).expect("the Rust side flushes");

    let spans = tokio::task::block_in_place(|| {
        rotel.wait_for_spans(6, Duration::from_secs(20));
        rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(5))
    });
    let services: BTreeSet<_> = spans
        .iter()
        .filter_map(|s| s.resource_str("service.name"))
        .collect();
    assert_eq!(
        services,
        BTreeSet::from([PYTHON_SERVICE, RUST_SERVICE]),
        "both services exported: {spans:#?}"
    );
    let py_lines = python.stdout_lines();
    let rust_lines = rust_logs.json_lines();

    let python_side = Side {
        service: PYTHON_SERVICE,
        version: "3.4.5",
        instance: "python-continuity-0",
        sdk: "python",
        lines: &py_lines,
    };
    let rust_side = Side {
        service: RUST_SERVICE,
        version: "1.2.3",
        instance: "rust-continuity-0",
        sdk: "rust",
        lines: &rust_lines,
    };
    let trace1 = check_call_trace(
        &spans,
        Hop {
            side: &python_side,
            route: "/py-calls-rust",
            message: "python calling rust",
        },
        Hop {
            side: &rust_side,
            route: "/rust",
            message: "rust handled",
        },
        &format!("http://{rust_addr}/rust"),
    );
    let trace2 = check_call_trace(
        &spans,
        Hop {
            side: &rust_side,
            route: "/rust-calls-py",
            message: "rust calling python",
        },
        Hop {
            side: &python_side,
            route: "/py",
            message: "python handled",
        },
        &python.url("/py"),
    );
    assert_ne!(trace2, trace1);

    // Both sides write the same schema: the keys of the matching lines are the same.
    let keys = |lines: &[Map<String, Value>], message: &str| -> BTreeSet<String> {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let mut rust_keys = keys(&rust_lines, "rust handled");
    let mut py_keys = keys(&py_lines, "python calling rust");
    rust_keys.remove("span");
    py_keys.remove("span");
    assert_eq!(
        rust_keys, py_keys,
        "Rust {rust_keys:?} vs Python {py_keys:?}"
    );
    eprintln!(
        "Python: {}\nRust:   {}\n(test took {:?})",
        raw_line(&python.stdout(), "python calling rust"),
        raw_line(&rust_logs.text(), "rust handled"),
        started.elapsed()
    );
}

/// The raw text of the line with this message, for the output.
fn raw_line(text: &str, message: &str) -> String {
    let needle = format!(r#""message":"{message}""#);
    text.lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_default()
        .to_owned()
}

/// What `monitoring/README.md` warns about: the staging and prod `service-env` sampler,
/// `parentbased_jaeger_remote`, is unknown to the OpenTelemetry Python SDK, which then keeps
/// every trace; the ratio sampler the README tells Python services to set is honoured.
#[test]
fn the_python_sdk_keeps_every_trace_under_the_remote_sampler_setting() {
    if !python_ready() {
        return;
    }
    let sampler = |vars: &[(&str, &str)]| {
        let out = Command::new("python3")
            .args([
                "-c",
                "from opentelemetry.sdk.trace import TracerProvider; \
                 print(TracerProvider().sampler.get_description())",
            ])
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let remote = sampler(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "endpoint=http://jaeger-collector.octollm-monitoring.svc:5779,pollingIntervalMs=60000,initialSamplingRate=0.1",
        ),
    ]);
    assert!(
        remote.starts_with("ParentBased{root:AlwaysOnSampler"),
        "{remote}"
    );
    let ratio = sampler(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
    ]);
    assert!(ratio.contains("TraceIdRatioBased{0.1}"), "{ratio}");
}
