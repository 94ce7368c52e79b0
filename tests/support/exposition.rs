//! `promtool check metrics` on an exposition text, tolerating exactly the lint that the
//! OpenTelemetry semantic-convention names `process.thread.count`,
//! `process.open_file_descriptor.count` and `db.client.connection.count` trigger (a gauge
//! whose name ends in `_count`); any other complaint fails.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The gauges whose semantic-convention names end in `_count`.
pub const SEMCONV_COUNT_GAUGES: &[&str] = &[
    "process_thread_count",
    "process_open_file_descriptor_count",
    "db_client_connection_count",
];

/// `Ok` when promtool accepts `text` but for the `_count` lint of [`SEMCONV_COUNT_GAUGES`].
pub fn promtool_check(promtool: &Path, text: &str) -> Result<(), String> {
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run promtool: {e}"))?;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .map_err(|e| format!("write to promtool: {e}"))?;
    let out = check.wait_with_output().map_err(|e| e.to_string())?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let other: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !SEMCONV_COUNT_GAUGES.iter().any(|name| {
                *l == format!(
                    "{name} non-histogram and non-summary metrics should not have \"_count\" suffix"
                )
            })
        })
        .collect();
    if other.is_empty() {
        Ok(())
    } else {
        Err(format!("promtool check metrics: {}", other.join("\n")))
    }
}
