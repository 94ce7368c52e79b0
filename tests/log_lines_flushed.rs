//! The default stdout writer queues the log lines and writes them from its own thread: a
//! service that logs and exits through `guard.shutdown()` loses no line, and the lines keep
//! their order (the `worker` example, run as a user would), also when a collector that never
//! answers holds the span and log record pipelines until the shutdown deadline runs out.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `worker` example, built by `cargo test`.
fn worker() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir")
        .join("examples")
        .join("worker");
    assert!(
        binary.is_file(),
        "{} is built by `cargo test`",
        binary.display()
    );
    binary
}

/// Every job's line and the last line are on stdout, in order.
fn assert_every_line(stdout: &str, jobs: usize) {
    // The example also prints one plain line of its own.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ended = lines
        .iter()
        .filter(|l| l["message"] == "job done" || l["message"] == "job failed")
        .count();
    assert_eq!(ended, jobs, "one line per job, none lost:\n{stdout}");
    let last = lines.last().expect("lines");
    assert_eq!(
        last["message"], "all jobs processed",
        "the last line is the last one written"
    );
    assert_eq!(last["jobs"], jobs);
}

#[test]
fn every_line_is_on_stdout_when_the_process_exits() {
    let jobs = 100;
    let out = Command::new(worker())
        .env("JOBS", jobs.to_string())
        .env("LOG_FORMAT", "json")
        .env("OTEL_TRACES_EXPORTER", "none")
        .env("OTEL_METRICS_EXPORTER", "none")
        .output()
        .expect("run the worker example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_every_line(&String::from_utf8(out.stdout).expect("utf-8"), jobs);
}

#[test]
fn every_line_is_on_stdout_when_a_silent_collector_uses_up_the_shutdown_deadline() {
    // A collector that accepts connections and never answers: the exports in flight hold
    // both pipelines until the deadline (5 s) runs out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.extend(stream.ok());
        }
    });
    let jobs = 100;
    let start = Instant::now();
    let out = Command::new(worker())
        .env("JOBS", jobs.to_string())
        .env("LOG_FORMAT", "json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "60000")
        .env("OTEL_BSP_SCHEDULE_DELAY", "10")
        .env("OTEL_LOGS_EXPORTER", "otlp")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "10")
        .env("OTEL_METRICS_EXPORTER", "none")
        .output()
        .expect("run the worker example");
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The shutdown ran out of its deadline, and said so: the collector never answered.
    assert!(
        !out.status.success(),
        "a timed-out shutdown is an error:\n{stderr}"
    );
    assert!(
        stderr.contains("timed out") || stderr.contains("Timeout"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(60),
        "bounded by the deadline: {took:?}"
    );
    assert_every_line(&String::from_utf8(out.stdout).expect("utf-8"), jobs);
}
