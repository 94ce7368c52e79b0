//! A real OTLP receiver for the integration tests: the `rotel` collector on loopback.
//!
//! A test file reaches it through the shared helpers:
//!
//! ```ignore
//! mod support;
//! use support::rotel::{LogCapture, Rotel};
//! ```
//!
//! [`Rotel::start`] runs `rotel-agent` in the foreground on two free loopback ports (gRPC and
//! HTTP) with the `blackhole` exporter and an embedded Python trace processor that appends one
//! JSON object per received span to a file in a temporary directory; [`Rotel::spans`] reads
//! that file back. Attribute values keep their OTLP type (string, int, double, bool, ...).
//!
//! `rotel-agent` is looked up on `PATH`, then in the directory of the `rotel` Python package
//! (`pip install rotel==0.0.1a15`). When it is missing, a CI run (`CI=true`) fails and a local
//! run prints a loud skip message and gets `None`.
//!
//! The process is stopped on drop (SIGTERM, then SIGKILL after a grace period). [`Rotel::stop`]
//! and [`Rotel::restart`] (same ports, same output file) let a test take the receiver away and
//! bring it back.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use octollm_telemetry::{LogFormat, Protocol, TelemetryConfig};
use serde_json::Value;

/// How long the receiver may take to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SIGTERM gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The interval of every polling loop.
const POLL: Duration = Duration::from_millis(25);

/// The processor run inside rotel. An exception in it makes rotel panic and exit, so every
/// error is caught and written as an `{"error": ...}` line instead (which `spans()` reports).
const PROCESSOR: &str = r#"
import json
import os
import threading

_OUT = os.environ["OCTOLLM_TEST_SPANS_FILE"]
_LOCK = threading.Lock()


def _value(v):
    if v is None:
        return {"type": "empty", "value": None}
    # bool before int: a Python bool is an int.
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int):
        return {"type": "int", "value": v}
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return {"type": "double", "value": str(v)}
        return {"type": "double", "value": v}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    if isinstance(v, (bytes, bytearray)):
        return {"type": "bytes", "value": bytes(v).hex()}
    try:
        return {"type": "array", "value": [_value(x.value) for x in v]}
    except Exception:
        pass
    try:
        return {"type": "kvlist", "value": _attrs(v)}
    except Exception:
        return {"type": "unknown", "value": repr(v)}


def _attrs(kvs):
    return [[kv.key, _value(kv.value.value if kv.value is not None else None)] for kv in kvs]


def _hex(b):
    return bytes(b).hex() if b else ""


def process_spans(resource_spans):
    lines = []
    try:
        res = resource_spans.resource
        resource = _attrs(res.attributes) if res is not None else []
        for ss in resource_spans.scope_spans:
            scope = ss.scope
            scope_name = scope.name if scope is not None else ""
            scope_version = scope.version if scope is not None else ""
            for s in ss.spans:
                status = s.status
                lines.append(json.dumps({
                    "resource": resource,
                    "scope_name": scope_name,
                    "scope_version": scope_version,
                    "trace_id": _hex(s.trace_id),
                    "span_id": _hex(s.span_id),
                    "parent_span_id": _hex(s.parent_span_id),
                    "trace_state": s.trace_state or "",
                    "flags": int(s.flags or 0),
                    "name": s.name,
                    "kind": int(s.kind or 0),
                    "start_time_unix_nano": int(s.start_time_unix_nano or 0),
                    "end_time_unix_nano": int(s.end_time_unix_nano or 0),
                    "attributes": _attrs(s.attributes),
                    "status_code": int(status.code) if status is not None else 0,
                    "status_message": (status.message or "") if status is not None else "",
                    "events": [{"name": e.name, "attributes": _attrs(e.attributes)} for e in s.events],
                }))
    except Exception as e:
        lines.append(json.dumps({"error": repr(e)}))
    if lines:
        data = ("\n".join(lines) + "\n").encode()
        with _LOCK:
            fd = os.open(_OUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            finally:
                os.close(fd)
"#;

/// An attribute value as received, with its OTLP type.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Hex of the bytes.
    Bytes(String),
    Array(Vec<AttrValue>),
    KvList(Vec<(String, AttrValue)>),
    Empty,
    /// Something the processor could not classify (its `repr`).
    Unknown(String),
}

impl AttrValue {
    fn from_json(v: &Value) -> Self {
        let ty = v["type"].as_str().unwrap_or("unknown");
        let value = &v["value"];
        match ty {
            "string" => AttrValue::Str(value.as_str().unwrap_or_default().to_owned()),
            "int" => AttrValue::Int(value.as_i64().expect("int attribute fits i64")),
            "double" => AttrValue::Double(match value {
                Value::String(s) => s.parse().unwrap_or(f64::NAN),
                other => other.as_f64().unwrap_or(f64::NAN),
            }),
            "bool" => AttrValue::Bool(value.as_bool().unwrap_or_default()),
            "bytes" => AttrValue::Bytes(value.as_str().unwrap_or_default().to_owned()),
            "array" => AttrValue::Array(
                value
                    .as_array()
                    .map(|a| a.iter().map(AttrValue::from_json).collect())
                    .unwrap_or_default(),
            ),
            "kvlist" => AttrValue::KvList(parse_attrs(value)),
            "empty" => AttrValue::Empty,
            _ => AttrValue::Unknown(value.to_string()),
        }
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn parse_attrs(v: &Value) -> Vec<(String, AttrValue)> {
    v.as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap_or_default().to_owned(),
                        AttrValue::from_json(&pair[1]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn to_map(pairs: Vec<(String, AttrValue)>) -> BTreeMap<String, AttrValue> {
    pairs.into_iter().collect()
}

/// A span event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    pub name: String,
    pub attributes: BTreeMap<String, AttrValue>,
}

/// One span as rotel received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The resource attributes of the span's `ResourceSpans`.
    pub resource: BTreeMap<String, AttrValue>,
    pub scope_name: String,
    pub scope_version: String,
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub span_id: String,
    /// 16 lower-case hex digits, or empty for a root span.
    pub parent_span_id: String,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    /// The OTLP `SpanKind` number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i64,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: BTreeMap<String, AttrValue>,
    /// The OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i64,
    pub status_message: String,
    pub events: Vec<ReceivedEvent>,
}

impl ReceivedSpan {
    fn from_json(v: &Value) -> Self {
        let s = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        Self {
            resource: to_map(parse_attrs(&v["resource"])),
            scope_name: s("scope_name"),
            scope_version: s("scope_version"),
            trace_id: s("trace_id"),
            span_id: s("span_id"),
            parent_span_id: s("parent_span_id"),
            trace_state: s("trace_state"),
            flags: v["flags"].as_u64().unwrap_or_default() as u32,
            name: s("name"),
            kind: v["kind"].as_i64().unwrap_or_default(),
            start_time_unix_nano: v["start_time_unix_nano"].as_u64().unwrap_or_default(),
            end_time_unix_nano: v["end_time_unix_nano"].as_u64().unwrap_or_default(),
            attributes: to_map(parse_attrs(&v["attributes"])),
            status_code: v["status_code"].as_i64().unwrap_or_default(),
            status_message: s("status_message"),
            events: v["events"]
                .as_array()
                .map(|events| {
                    events
                        .iter()
                        .map(|e| ReceivedEvent {
                            name: e["name"].as_str().unwrap_or_default().to_owned(),
                            attributes: to_map(parse_attrs(&e["attributes"])),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// A span attribute.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// A resource attribute's string value.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(AttrValue::as_str)
    }
}

/// The two loopback ports of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotelPorts {
    pub grpc: u16,
    pub http: u16,
}

impl RotelPorts {
    /// Two ports that were free a moment ago.
    pub fn free() -> Self {
        loop {
            let ports = Self {
                grpc: super::free_port(),
                http: super::free_port(),
            };
            if ports.grpc != ports.http {
                return ports;
            }
        }
    }
}

/// A running (or stopped) `rotel-agent`; stopped on drop.
#[derive(Debug)]
pub struct Rotel {
    binary: PathBuf,
    ports: RotelPorts,
    child: Option<Child>,
    // Declared last: removed after the process is gone.
    dir: tempfile::TempDir,
}

impl Rotel {
    /// Starts a receiver on free loopback ports; `None` (after a loud message) when rotel is
    /// not installed and this is not a CI run. Panics when it does not come up.
    pub fn start() -> Option<Self> {
        let binary = find_rotel()?;
        // A port picked as free can be taken by someone else before rotel binds it: try again
        // with new ports a couple of times.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::spawn(binary.clone(), RotelPorts::free()) {
                Ok(rotel) => return Some(rotel),
                Err(e) => last_error = e,
            }
        }
        panic!("rotel did not start: {last_error}");
    }

    /// Starts a receiver on the given ports (e.g. those of a receiver stopped earlier).
    pub fn start_on(ports: RotelPorts) -> Option<Self> {
        let binary = find_rotel()?;
        Some(Self::spawn(binary, ports).unwrap_or_else(|e| panic!("rotel did not start: {e}")))
    }

    fn spawn(binary: PathBuf, ports: RotelPorts) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("rotel-test-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        std::fs::write(dir.path().join("dump_spans.py"), PROCESSOR)
            .map_err(|e| format!("write the processor: {e}"))?;
        let mut rotel = Self {
            binary,
            ports,
            child: None,
            dir,
        };
        rotel.launch()?;
        Ok(rotel)
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open the log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let mut child = Command::new(&self.binary)
            .arg("start")
            .args(["--exporter", "blackhole"])
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{}", self.ports.grpc))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{}", self.ports.http))
            .arg("--otlp-with-trace-processor")
            .arg(self.dir.path().join("dump_spans.py"))
            // Received metrics are printed to the log, where `metrics_log` finds them.
            .args([
                "--debug-log",
                "metrics",
                "--debug-log",
                "logs",
                "--debug-log-verbosity",
                "detailed",
            ])
            .env("NO_COLOR", "1")
            .env("OCTOLLM_TEST_SPANS_FILE", self.spans_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "rotel exited with {status} at start; its output:\n{}",
                    self.log()
                ));
            }
            let ready = [self.ports.grpc, self.ports.http].iter().all(|port| {
                let addr = SocketAddr::from(([127, 0, 0, 1], *port));
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            });
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                stop_child(&mut child);
                return Err(format!(
                    "rotel not accepting connections on {:?} after {READY_TIMEOUT:?}; its output:\n{}",
                    self.ports,
                    self.log()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// `http://127.0.0.1:<grpc port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.grpc)
    }

    /// `http://127.0.0.1:<http port>` (the base URL: exporters append `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.http)
    }

    /// The ports, to start a receiver on them again.
    pub fn ports(&self) -> RotelPorts {
        self.ports
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL); the spans received so far stay readable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// Stops the process if it runs and starts it again on the same ports; the spans received
    /// before and after are read from the same file.
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        // The ports were just released: give the kernel a few tries.
        for _ in 0..20 {
            match self.launch() {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("rotel did not restart on {:?}: {last_error}", self.ports);
    }

    /// Every span received so far, in arrival order.
    ///
    /// Panics when the processor reported an error (the data would be incomplete).
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let text = std::fs::read_to_string(self.spans_path()).unwrap_or_default();
        // Only complete lines: the processor may be writing the last one.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad line from the processor ({e}): {line}"));
                if let Some(err) = v.get("error") {
                    panic!(
                        "the rotel span processor failed: {err}; rotel output:\n{}",
                        self.log()
                    );
                }
                ReceivedSpan::from_json(&v)
            })
            .collect()
    }

    /// Polls until at least `n` spans arrived or `timeout` passed; returns what arrived.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls until a span for which `found` holds has arrived; returns it, or `None` when
    /// `timeout` passes first. Spans of one process may arrive in several batches, so a check
    /// for one particular span waits for that span rather than for a count.
    pub fn wait_for_span(
        &self,
        found: impl Fn(&ReceivedSpan) -> bool,
        timeout: Duration,
    ) -> Option<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(span) = self.spans().into_iter().find(&found) {
                return Some(span);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls until no new span arrived for `quiet` (or `max` passed); returns every span.
    /// Use it to check that nothing more (or nothing at all) arrives.
    pub fn wait_until_quiet(&self, quiet: Duration, max: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + max;
        let mut count = self.spans().len();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(POLL);
            let spans = self.spans();
            if spans.len() != count {
                count = spans.len();
                since = Instant::now();
            }
            if since.elapsed() >= quiet || Instant::now() >= deadline {
                return spans;
            }
        }
    }

    /// Sends one span named `name` straight to the receiver (OTLP/HTTP JSON, without this
    /// crate): a control that the receiver works, for tests that expect nothing from the app.
    /// Returns the trace id used.
    pub fn send_control_span(&self, name: &str) -> String {
        use std::io::{Read as _, Write as _};
        let trace_id = format!("{:032x}", u128::from(std::process::id()) << 64 | 0x5eed);
        let body = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"control"}}}}]}},"scopeSpans":[{{"scope":{{"name":"control"}},"spans":[{{"traceId":"{trace_id}","spanId":"00000000000000c1","name":{name:?},"kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.ports.http)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send the control span");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "rotel refused the control span: {response}"
        );
        trace_id
    }

    /// rotel's own output (stdout and stderr), for failure messages.
    /// rotel's log, where received metrics are printed (`--debug-log metrics`).
    pub fn metrics_log(&self) -> String {
        self.log()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spans_path(&self) -> PathBuf {
        self.dir.path().join("spans.jsonl")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("rotel.log")
    }

    /// The temporary directory holding the processor, its output and rotel's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL and reap.
fn stop_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `rotel-agent` on `PATH`, else in the `rotel` Python package; CI fails without it.
fn find_rotel() -> Option<PathBuf> {
    if let Some(path) = on_path("rotel-agent").or_else(in_pip_package) {
        return Some(path);
    }
    let msg = "external tool `rotel-agent` not found on PATH nor in the `rotel` Python package; \
               install it with `pip install rotel==0.0.1a15`, as scripts/test.sh does (see the \
               README's \"The two commands\")";
    if super::in_ci() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn in_pip_package() -> Option<PathBuf> {
    let script = "import importlib.util, os; s = importlib.util.find_spec('rotel'); \
                  print(os.path.dirname(s.origin) if s and s.origin else '')";
    for python in ["python3", "python"] {
        let Ok(out) = Command::new(python)
            .args(["-c", script])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !dir.is_empty() {
            let candidate = Path::new(&dir).join("rotel-agent");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Log lines captured in memory (`TelemetryConfig::log_writer(capture.clone())`), to compare
/// the ids in JSON log lines with the spans the receiver got.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line parsed as JSON; panics on a line that is not a JSON object.
    pub fn json_lines(&self) -> Vec<serde_json::Map<String, Value>> {
        self.text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => map,
                other => panic!("log line is not a JSON object ({other:?}): {line}"),
            })
            .collect()
    }

    /// The JSON lines whose `message` is `message`.
    pub fn with_message(&self, message: &str) -> Vec<serde_json::Map<String, Value>> {
        self.json_lines()
            .into_iter()
            .filter(|l| l.get("message").and_then(Value::as_str) == Some(message))
            .collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The configuration most tests start from to export to a live receiver: `vars` as the
/// environment, the receiver's endpoint for `protocol`, a 100 ms schedule delay and JSON log
/// lines written to `logs`. The test adds its own setters (sampler, service name, another
/// schedule delay, ...) before `.init().await`.
pub fn config_against<'a>(
    rotel: &Rotel,
    protocol: Protocol,
    vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    logs: &LogCapture,
) -> TelemetryConfig {
    let endpoint = match protocol {
        Protocol::Grpc => rotel.grpc_endpoint(),
        Protocol::HttpProtobuf => rotel.http_endpoint(),
    };
    TelemetryConfig::from_vars(vars)
        .unwrap()
        .endpoint(endpoint)
        .protocol(protocol)
        .schedule_delay(Duration::from_millis(100))
        .log_format(LogFormat::Json)
        .log_writer(logs.clone())
}
