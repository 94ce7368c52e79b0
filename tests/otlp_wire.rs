//! The crate's OTLP client against a receiver that is not ours (tests/python/otlp_receiver.py:
//! grpcio, Python's HTTP server and the `opentelemetry-proto` package), for spans, metrics and
//! log records over gRPC and HTTP/protobuf:
//! - what arrives: the configured API-key header, gzip-compressed bodies, a `User-Agent` naming
//!   the exporter, its language and version;
//! - what is counted: a partial success counts its items as rejected (not exported) and warns
//!   with the collector's message, credentials blanked; a retryable answer is sent again (after
//!   the `RetryInfo` or `Retry-After` delay when there is one) and the items are exported; a
//!   refusal is sent once and its items are counted as failed, and the warning shows no
//!   credential.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octollm_telemetry::{ExportStats, TelemetryConfig};
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

/// The API key every request carries; it must never show in a warning.
const TOKEN: &str = "sk-live-wire-7f3a9c";

const PIP_INSTALL: &str = "python3 -m pip install -r tests/python/requirements.txt";

/// Whether `python3` has the receiver's packages; CI fails without them.
fn python_ready() -> bool {
    if support::require_tool("python3").is_none() {
        return false;
    }
    let out = Command::new("python3")
        .args(["-c", "import grpc, grpc_status, opentelemetry.proto"])
        .output()
        .expect("run python3");
    if out.status.success() {
        return true;
    }
    let msg = format!(
        "the packages of tests/python/otlp_receiver.py are missing ({}); install them with `{PIP_INSTALL}`",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(!support::in_ci(), "{msg}");
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    false
}

/// `tests/python/otlp_receiver.py` as a child process, its report lines collected; stopped by
/// PID when dropped.
struct Receiver {
    child: Child,
    grpc: u16,
    http: u16,
    entries: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(script: &Value) -> Option<Self> {
        if !python_ready() {
            return None;
        }
        let mut child = Command::new("python3")
            .arg(support::repo_root().join("tests/python/otlp_receiver.py"))
            .arg(script.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3 tests/python/otlp_receiver.py");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut ready = String::new();
        stdout
            .read_line(&mut ready)
            .expect("read the receiver's ports");
        let ports: Vec<u16> = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the receiver did not start: {ready:?}"))
            .split_whitespace()
            .map(|p| p.parse().expect("a port"))
            .collect();
        let entries = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&entries);
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let entry: Value = serde_json::from_str(&line).expect("a JSON report line");
                sink.lock().unwrap().push(entry);
            }
        });
        Some(Self {
            child,
            grpc: ports[0],
            http: ports[1],
            entries,
        })
    }

    fn endpoint(&self, protocol: &str) -> String {
        let port = if protocol == "grpc" {
            self.grpc
        } else {
            self.http
        };
        format!("http://127.0.0.1:{port}")
    }

    /// Waits (at most 3 s) until the report lines of the requests answered so far have been
    /// read: no new one for 200 ms. The receiver reports a request before answering it, but
    /// its line reaches this process through a pipe and a reader thread.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = self.entries.lock().unwrap().len();
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.entries.lock().unwrap().len();
            if now != seen {
                seen = now;
                quiet_since = Instant::now();
            }
        }
    }

    /// The requests of `signal` received so far.
    fn requests(&self, signal: &str) -> Vec<Value> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .filter(|e| e["signal"] == signal)
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run left: the requests of each signal, the pipeline's counts and its log lines.
struct Run {
    traces: Vec<Value>,
    metrics: Vec<Value>,
    logs: Vec<Value>,
    stats: ExportStats,
    lines: String,
}

/// Three spans (one batch, sent at shutdown), three log records (flushed at shutdown, in one
/// or more batches) and the pipeline's own metrics (one collection, at shutdown), exported over `protocol` with gzip and the API
/// key to a receiver answering as `script` says.
async fn run(protocol: &str, script: &Value) -> Option<Run> {
    let receiver = Receiver::start(script)?;
    let endpoint = receiver.endpoint(protocol);
    let headers = format!("api-key={TOKEN}");
    let lines = support::lines::Lines::default();
    let telemetry = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "otlp-wire"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "60000"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "60000"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap()
    .log_writer(lines.clone())
    .shutdown_timeout(Duration::from_secs(20))
    .build()
    .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3 {
            tracing::info_span!("work", i).in_scope(|| tracing::info!(i, "working"));
        }
    });
    let stats = telemetry.guard().stats_handle();
    // Whether shutdown reports an error depends on the script; what was counted is asserted.
    let _ = tokio::task::spawn_blocking(move || telemetry.into_guard().shutdown())
        .await
        .unwrap();
    receiver.settle();
    let run = Run {
        traces: receiver.requests("traces"),
        metrics: receiver.requests("metrics"),
        logs: receiver.requests("logs"),
        stats: stats.get(),
        lines: lines.text(),
    };
    drop(dispatch);
    Some(run)
}

fn items(request: &Value) -> u64 {
    request["items"].as_u64().expect("items")
}

/// The items of all `requests`.
fn total(requests: &[Value]) -> u64 {
    requests.iter().map(items).sum()
}

/// The seconds between the first two requests.
fn gap(requests: &[Value]) -> f64 {
    requests[1]["time"].as_f64().unwrap() - requests[0]["time"].as_f64().unwrap()
}

async fn everything_arrives_with_the_key_gzip_and_the_agent(protocol: &str) {
    let Some(run) = run(protocol, &json!({})).await else {
        return;
    };
    for (signal, requests) in [
        ("traces", &run.traces),
        ("metrics", &run.metrics),
        ("logs", &run.logs),
    ] {
        assert!(!requests.is_empty(), "{signal}: nothing arrived");
        for request in requests {
            let headers = &request["headers"];
            assert_eq!(headers["api-key"], TOKEN, "{signal}: {request}");
            assert_eq!(request["encoding"], "gzip", "{signal}: {request}");
            let agent = headers["user-agent"].as_str().unwrap_or_default();
            assert!(
                agent.starts_with(concat!(
                    "OctoLLM-OTLP-Exporter-Rust/",
                    env!("CARGO_PKG_VERSION")
                )),
                "{signal}: the User-Agent names the exporter, its language and version: {agent:?}"
            );
            if protocol != "grpc" {
                assert_eq!(
                    headers["content-type"], "application/x-protobuf",
                    "{request}"
                );
            }
        }
    }
    assert_eq!(run.traces.len(), 1, "{:?}", run.traces);
    assert_eq!(items(&run.traces[0]), 3);
    assert_eq!(total(&run.logs), 3, "{:?}", run.logs);
    assert!(items(&run.metrics[0]) > 0, "{:?}", run.metrics);
    let stats = run.stats;
    assert_eq!(
        (stats.exported_spans, stats.lost_spans()),
        (3, 0),
        "{stats:?}"
    );
    assert_eq!(
        (stats.exported_logs, stats.lost_logs()),
        (3, 0),
        "{stats:?}"
    );
    assert_eq!(stats.rejected_metric_points, 0, "{stats:?}");
}

async fn a_partial_success_is_counted_as_rejected_and_warned_about(protocol: &str) {
    let message = format!("too old; your key {TOKEN} is fine");
    let script = json!({
        "traces": [{"partial": 1, "message": message}],
        "logs": [{"partial": 1, "message": message}],
        "metrics": [{"partial": 1, "message": message}],
    });
    let Some(run) = run(protocol, &script).await else {
        return;
    };
    let stats = run.stats;
    assert_eq!(run.traces.len(), 1, "a partial success is not retried");
    assert_eq!(stats.rejected_spans, 1, "{stats:?}");
    assert_eq!(
        stats.exported_spans, 2,
        "rejected is not exported: {stats:?}"
    );
    assert_eq!(stats.lost_spans(), 1, "{stats:?}");
    assert_eq!(stats.rejected_logs, 1, "{stats:?}");
    assert_eq!(stats.exported_logs, 2, "{stats:?}");
    assert_eq!(stats.lost_logs(), 1, "{stats:?}");
    assert_eq!(stats.rejected_metric_points, 1, "{stats:?}");
    let warnings = run
        .lines
        .lines()
        .filter(|l| l.contains("accepted the export only in part"))
        .count();
    assert_eq!(warnings, 3, "one warning per signal:\n{}", run.lines);
    assert!(
        run.lines.contains("too old; your key <redacted> is fine"),
        "the collector's message, its credential blanked:\n{}",
        run.lines
    );
    assert!(!run.lines.contains(TOKEN), "{}", run.lines);
}

async fn a_retryable_answer_is_sent_again(protocol: &str, script: &Value, delays: [f64; 3]) {
    let Some(run) = run(protocol, script).await else {
        return;
    };
    for ((signal, requests), delay) in [
        ("traces", &run.traces),
        ("metrics", &run.metrics),
        ("logs", &run.logs),
    ]
    .into_iter()
    .zip(delays)
    {
        // The first request is refused once and sent again; any later batch is accepted.
        assert!(requests.len() >= 2, "{signal}: sent again: {requests:?}");
        assert_eq!(requests[0]["items"], requests[1]["items"], "{signal}");
        assert_eq!(
            requests[2..].iter().filter(|r| r["answer"] != "ok").count(),
            0
        );
        assert!(
            gap(requests) >= delay,
            "{signal}: the second attempt waited the {delay} s asked for: {requests:?}"
        );
    }
    let stats = run.stats;
    assert_eq!(
        (stats.exported_spans, stats.lost_spans()),
        (3, 0),
        "{stats:?}"
    );
    assert_eq!(
        (stats.exported_logs, stats.lost_logs()),
        (3, 0),
        "{stats:?}"
    );
}

async fn a_refusal_is_sent_once_and_counted_as_failed(protocol: &str, script: &Value) {
    let Some(run) = run(protocol, script).await else {
        return;
    };
    // Every batch is refused; none is sent twice.
    assert_eq!(run.traces.len(), 1, "not retried: {:?}", run.traces);
    assert_eq!(run.metrics.len(), 1, "not retried: {:?}", run.metrics);
    assert_eq!(total(&run.logs), 3, "not retried: {:?}", run.logs);
    let stats = run.stats;
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert_eq!(stats.failed_spans, 3, "{stats:?}");
    assert_eq!(stats.exported_logs, 0, "{stats:?}");
    assert_eq!(stats.failed_logs, 3, "{stats:?}");
    assert!(
        run.lines.contains("span export failed"),
        "the failure is warned about:\n{}",
        run.lines
    );
    assert!(!run.lines.contains(TOKEN), "{}", run.lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_requests_carry_the_key_gzip_and_the_agent() {
    everything_arrives_with_the_key_gzip_and_the_agent("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_carry_the_key_gzip_and_the_agent() {
    everything_arrives_with_the_key_gzip_and_the_agent("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_partial_success_is_counted_as_rejected() {
    a_partial_success_is_counted_as_rejected_and_warned_about("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_partial_success_is_counted_as_rejected() {
    a_partial_success_is_counted_as_rejected_and_warned_about("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_retryable_statuses_are_sent_again_after_the_retry_info_delay() {
    let script = json!({
        "traces": [{"grpc": "RESOURCE_EXHAUSTED", "retry_ms": 600, "message": TOKEN}],
        "metrics": [{"grpc": "UNAVAILABLE"}],
        "logs": [{"grpc": "UNAVAILABLE", "retry_ms": 400}],
    });
    a_retryable_answer_is_sent_again("grpc", &script, [0.6, 0.09, 0.4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_and_503_are_sent_again_after_retry_after() {
    let script = json!({
        "traces": [{"http": 429, "retry_after": "1"}],
        "metrics": [{"http": 502}],
        "logs": [{"http": 503, "retry_after_date": 2}],
    });
    // The HTTP date has whole seconds: two seconds on is at least one away.
    a_retryable_answer_is_sent_again("http/protobuf", &script, [1.0, 0.09, 1.0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refusals_and_resource_exhausted_without_retry_info_are_not_retried() {
    let denied = json!({"grpc": "PERMISSION_DENIED", "message": format!("bad key {TOKEN}")});
    let script = json!({
        "traces": [{"grpc": "RESOURCE_EXHAUSTED", "message": format!("quota of {TOKEN}")}],
        "metrics": [{"grpc": "INVALID_ARGUMENT"}],
        "logs": [denied, denied, denied],
    });
    a_refusal_is_sent_once_and_counted_as_failed("grpc", &script).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_400_and_other_refusals_are_not_retried() {
    let unauthorized = json!({"http": 401, "retry_after": "1"});
    let script = json!({
        "traces": [{"http": 400, "message": format!("bad key {TOKEN}")}],
        "metrics": [{"http": 413}],
        "logs": [unauthorized, unauthorized, unauthorized],
    });
    a_refusal_is_sent_once_and_counted_as_failed("http/protobuf", &script).await;
}
