//! The Python peer of the GenAI parity tests: OpenTelemetry's own OpenAI instrumentation
//! (`tests/python/genai_openai_v2.py`, packages pinned in `tests/python/requirements.txt`) run
//! against the fake OpenAI server ([`super::fake_openai`]), its telemetry parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

use super::fake_openai::{FakeOpenAi, Received};

const PIP_INSTALL: &str = "python3 -m pip install -r tests/python/requirements.txt";
const PYTHON_MODULES: &str = "openai, opentelemetry.instrumentation.openai_v2, opentelemetry.sdk";

/// What the Python peer emitted for the three calls, and the names it was checked against.
#[derive(Debug, Deserialize)]
pub struct PeerReport {
    /// `plain`, `stream` and `error`.
    pub calls: BTreeMap<String, PeerCall>,
    /// The constants of `opentelemetry-semantic-conventions`, by module (`gen_ai_attributes`,
    /// `gen_ai_metrics`, `openai_attributes`, `error_attributes`, `server_attributes`:
    /// constant name → value) and `schemas` (the schema URLs it knows).
    pub semconv: BTreeMap<String, Value>,
    /// The versions of the Python packages, by name.
    pub versions: BTreeMap<String, String>,
    /// The requests the fake server answered during the run, oldest first (filled in here,
    /// not by Python).
    #[serde(skip)]
    pub requests: Vec<Received>,
}

/// One call's telemetry.
#[derive(Debug, Deserialize)]
pub struct PeerCall {
    /// What the client got back (the model and finish reason, the chunk count, or the error).
    pub outcome: Value,
    pub spans: Vec<PeerSpan>,
    /// Sorted by name.
    pub metrics: Vec<PeerMetric>,
}

#[derive(Debug, Deserialize)]
pub struct PeerSpan {
    pub name: String,
    /// `CLIENT`, `INTERNAL`, …
    pub kind: String,
    /// `UNSET`, `OK` or `ERROR`.
    pub status: String,
    /// The instrumentation scope's name and schema URL.
    pub scope: String,
    pub schema_url: Option<String>,
    /// Attribute key → type: `string`, `int`, `double`, `bool` or `array<string>` (etc.).
    pub attributes: BTreeMap<String, String>,
    /// Attribute key → value.
    pub values: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct PeerMetric {
    pub name: String,
    pub unit: String,
    /// The SDK's data type: `Histogram`, `Sum`, …
    #[serde(rename = "type")]
    pub data_type: String,
    pub scope: String,
    pub data_points: Vec<PeerPoint>,
}

#[derive(Debug, Deserialize)]
pub struct PeerPoint {
    pub attribute_keys: BTreeSet<String>,
    pub attributes: BTreeMap<String, Value>,
    /// Histograms only.
    pub count: Option<u64>,
    pub sum: Option<f64>,
    #[serde(default)]
    pub bucket_boundaries: Vec<f64>,
}

impl PeerReport {
    /// The call named `name` (`plain`, `stream` or `error`).
    pub fn call(&self, name: &str) -> &PeerCall {
        self.calls
            .get(name)
            .unwrap_or_else(|| panic!("the Python peer reports no `{name}` call"))
    }

    /// Every value of the string constants of the semconv module `module`.
    pub fn semconv_values(&self, module: &str) -> BTreeSet<String> {
        self.semconv
            .get(module)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("no semconv module `{module}` in the report"))
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

impl PeerCall {
    /// The one span of the call.
    pub fn span(&self) -> &PeerSpan {
        assert_eq!(self.spans.len(), 1, "one span per call: {:#?}", self.spans);
        &self.spans[0]
    }

    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&PeerMetric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// Runs the Python peer against a fresh fake OpenAI server and parses what it printed.
///
/// `None` when `python3` or the Python packages are missing outside CI (a loud message says
/// so); under `CI=true` that panics instead, so the test fails.
pub fn python_peer_genai() -> Option<PeerReport> {
    let python = super::require_tool("python3")?;
    let check = Command::new(&python)
        .args(["-c", &format!("import {PYTHON_MODULES}")])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    if !check.status.success() {
        let msg = format!(
            "the Python packages of tests/python/genai_openai_v2.py are missing ({}); install them with `{PIP_INSTALL}`",
            String::from_utf8_lossy(&check.stderr).trim().lines().last().unwrap_or_default()
        );
        if super::in_ci() {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
        return None;
    }
    let server = FakeOpenAi::start();
    let out = Command::new(&python)
        .arg(super::repo_root().join("tests/python/genai_openai_v2.py"))
        .args(["--base-url", &server.base_url()])
        .stdin(Stdio::null())
        .output()
        .expect("run tests/python/genai_openai_v2.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "genai_openai_v2.py failed ({}):\n{stderr}",
        out.status
    );
    let mut report: PeerReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "genai_openai_v2.py printed no report ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    report.requests = server.requests();
    Some(report)
}
