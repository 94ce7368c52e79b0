//! The default stdout writer queues the log lines and writes them from its own thread: a
//! service that logs and exits through `guard.shutdown()` loses no line, and the lines keep
//! their order (the `worker` example, run as a user would).

use std::process::Command;

#[test]
fn every_line_is_on_stdout_when_the_process_exits() {
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
    let jobs = 100;
    let out = Command::new(&binary)
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
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
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
