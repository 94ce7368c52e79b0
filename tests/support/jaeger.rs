//! The real Jaeger v2 for the integration tests, on loopback.
//!
//! [`Jaeger::start`] runs the `jaeger` binary (built by `scripts/test.sh` from the Go module
//! proxy, found on `PATH`) in the foreground with a configuration of the test's: an OTLP
//! receiver, an in-memory store, the query API, and the `remote_sampling` extension serving
//! either a strategies file or the `adaptive` provider (with the `adaptive_sampling`
//! processor in the traces pipeline). Every port is a free loopback port. When the binary is
//! missing, a CI run (`CI=true`) fails and a local run gets `None` after a loud message.
//!
//! The adaptive provider keeps its throughput and probabilities in Badger under the test's
//! temporary directory, so that [`Jaeger::restart`] (same ports, same store) shows what a
//! single Jaeger serves after a restart: Jaeger 2.x serves the probabilities it calculates
//! only from its store, which its leader (a single Jaeger on Badger or memory always is)
//! reads when it starts.
//!
//! The process is stopped on drop (SIGTERM, then SIGKILL after a grace period), by PID.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Jaeger may take to open its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the strategies come from.
pub enum Strategies<'a> {
    /// A strategies file with this JSON.
    File(&'a str),
    /// The adaptive provider with these options (`key: value` lines under `adaptive:`), on
    /// a Badger store.
    Adaptive(&'a [(&'a str, &'a str)]),
}

/// A running Jaeger.
pub struct Jaeger {
    child: Child,
    binary: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
    pub otlp_grpc: u16,
    pub query_http: u16,
    pub sampling_http: u16,
    pub sampling_grpc: u16,
}

impl Jaeger {
    /// Starts Jaeger with `strategies`; `None` (locally) when the binary is missing.
    pub fn start(strategies: Strategies<'_>) -> Option<Self> {
        let binary = super::require_tool("jaeger")?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let [otlp_grpc, otlp_http, query_http, query_grpc, sampling_http, sampling_grpc] =
            [(); 6].map(|()| super::free_port());
        let mut store = String::from("memory:\n          max_traces: 100000");
        let (source, processors) = match strategies {
            Strategies::File(json) => {
                let path = dir.path().join("strategies.json");
                std::fs::write(&path, json).expect("write the strategies");
                (
                    format!(
                        "    file:\n      path: {}\n      reload_interval: 0s\n",
                        path.display()
                    ),
                    "[batch]",
                )
            }
            Strategies::Adaptive(options) => {
                let data = dir.path().join("badger");
                store = format!(
                    "badger:\n          directories:\n            keys: {0}\n            values: {0}\n          ephemeral: false",
                    data.display()
                );
                let mut s = String::from("    adaptive:\n      sampling_store: mem\n");
                for (key, value) in options {
                    s.push_str(&format!("      {key}: {value}\n"));
                }
                (s, "[adaptive_sampling, batch]")
            }
        };
        let config = format!(
            "service:
  extensions: [jaeger_storage, jaeger_query, remote_sampling]
  pipelines:
    traces:
      receivers: [otlp]
      processors: {processors}
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      mem:
        {store}
  remote_sampling:
{source}    http:
      endpoint: 127.0.0.1:{sampling_http}
    grpc:
      endpoint: 127.0.0.1:{sampling_grpc}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
processors:
  batch:
    timeout: 100ms
  adaptive_sampling:
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
"
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).expect("write the configuration");
        let child = spawn(&binary, &config_path, dir.path());
        let mut jaeger = Self {
            child,
            binary,
            config: config_path,
            dir,
            otlp_grpc,
            query_http,
            sampling_http,
            sampling_grpc,
        };
        jaeger.wait_ready();
        Some(jaeger)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for port in [
            self.otlp_grpc,
            self.query_http,
            self.sampling_http,
            self.sampling_grpc,
        ] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("jaeger exited ({status}):\n{}", self.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "jaeger did not open port {port} within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Stops Jaeger and starts it again on the same ports and the same store.
    pub fn restart(&mut self) {
        super::daemon::stop_child(&mut self.child);
        self.child = spawn(&self.binary, &self.config, self.dir.path());
        self.wait_ready();
    }

    /// What Jaeger wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jaeger.log")).unwrap_or_default()
    }

    /// The OTLP/gRPC endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_grpc)
    }

    /// The gRPC sampling endpoint (no path), as `OTEL_TRACES_SAMPLER_ARG` takes it.
    pub fn sampling_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.sampling_grpc)
    }

    /// The HTTP sampling endpoint (with its path).
    pub fn sampling_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/sampling", self.sampling_http)
    }

    /// The strategy Jaeger serves `service` now, as JSON.
    pub fn strategy(&self, service: &str) -> serde_json::Value {
        let body = http_get(self.sampling_http, &format!("/sampling?service={service}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("strategy {body:?}: {e}"))
    }

    /// A query API answer (`/api/...`), as JSON.
    pub fn query(&self, path_and_query: &str) -> serde_json::Value {
        let body = http_get(self.query_http, path_and_query);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("query {body:?}: {e}"))
    }

    /// The binary's path (for tests that run it with other arguments).
    pub fn binary() -> Option<PathBuf> {
        super::require_tool("jaeger")
    }
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        super::daemon::stop_child(&mut self.child);
    }
}

/// Runs the binary with the configuration, its output appended to `jaeger.log`.
fn spawn(binary: &std::path::Path, config: &std::path::Path, dir: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("jaeger.log"))
        .expect("log file");
    Command::new(binary)
        .arg(format!("--config={}", config.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start jaeger")
}

/// A plain HTTP/1.1 GET on loopback; the body of a 200 answer (panics otherwise).
pub fn http_get(port: u16, path_and_query: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "GET {path_and_query}: {head}"
    );
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return dechunk(body);
    }
    body.to_owned()
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
