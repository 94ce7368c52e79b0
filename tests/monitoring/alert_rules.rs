//! The Prometheus alert rules in `monitoring/prometheus/rules/`: promtool validation and unit
//! tests, the severity split, annotations, runbook sections, test coverage per alert, and the
//! metric contract.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::support::{self, promql};

const RUNBOOK_BASE: &str =
    "https://github.com/octollm/octollm-telemetry/blob/main/monitoring/RUNBOOK.md#";

/// Rule file, the severity of every alert in it, and how many alerts it holds.
const RULE_FILES: [(&str, &str, usize); 3] = [
    ("critical.yaml", "critical", 16),
    ("warning.yaml", "warning", 29),
    ("info.yaml", "info", 16),
];

const COMPONENTS: [&str; 6] = [
    "application",
    "telemetry",
    "workload",
    "node",
    "storage",
    "monitoring",
];

const PRODUCERS: [&str; 13] = [
    "octollm-telemetry",
    "kube-state-metrics",
    "node-exporter",
    "cadvisor",
    "kubelet",
    "prometheus",
    "alertmanager",
    "loki",
    "alloy",
    "jaeger",
    "grafana",
    "cert-manager",
    "otel-collector",
];

const METRIC_TYPES: [&str; 4] = ["counter", "gauge", "histogram", "info"];

// === rule and test file model ===

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct TestFile {
    rule_files: Vec<String>,
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertRuleTest>,
}

#[derive(Debug, Deserialize)]
struct InputSeries {
    series: String,
}

#[derive(Debug, Deserialize)]
struct AlertRuleTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

/// One alerting rule with the file it comes from.
#[derive(Debug)]
struct Alert {
    file: &'static str,
    name: String,
    rule: Rule,
}

// === shared functions ===

fn rules_dir() -> PathBuf {
    support::repo_root().join("monitoring/prometheus/rules")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn load_alerts() -> Vec<Alert> {
    let mut alerts = Vec::new();
    for (file, _, _) in RULE_FILES {
        let path = rules_dir().join(file);
        let parsed: RuleFile = serde_norway::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        for group in parsed.groups {
            assert!(!group.name.is_empty(), "{file}: a group has no name");
            for rule in group.rules {
                assert!(
                    rule.record.is_none(),
                    "{file}: recording rule {:?} found; the rule files hold alerts only",
                    rule.record
                );
                let name = rule
                    .alert
                    .clone()
                    .unwrap_or_else(|| panic!("{file}: rule without `alert`"));
                alerts.push(Alert { file, name, rule });
            }
        }
    }
    alerts
}

fn test_files() -> Vec<PathBuf> {
    let dir = rules_dir().join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no promtool test files in {}",
        dir.display()
    );
    files
}

fn load_test_file(path: &Path) -> TestFile {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The metric name of an input series written as `name{labels}`.
fn series_name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series).trim()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// GitHub's heading anchor: lower case, punctuation other than `-` and `_` removed, spaces to `-`.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

// === promtool ===

/// The rules are tested with the promtool of the Prometheus the stack ships (3.x), which
/// `scripts/test.sh` builds (`scripts/go-tools/prometheus`) and puts first on `PATH`; Debian's
/// 2.x promtool, also installed for the `prometheus` daemon, must not stand in for it unnoticed.
/// Locally an older promtool only prints a note.
#[test]
fn promtool_is_the_prometheus_3_one() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    let (ok, out) = run(Command::new(&promtool).arg("--version"));
    assert!(ok, "promtool --version failed:\n{out}");
    let version = out
        .lines()
        .find_map(|l| l.strip_prefix("promtool, version "))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("no version in promtool --version:\n{out}"));
    if version.starts_with("3.") {
        return;
    }
    let msg = format!(
        "{} is promtool {version}, not 3.x: run scripts/test.sh, which builds it",
        promtool.display()
    );
    assert!(!support::in_ci(), "{msg}");
    eprintln!("note: {msg}");
}

#[test]
fn promtool_check_rules_accepts_every_rule_file() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    for (file, _, count) in RULE_FILES {
        let path = rules_dir().join(file);
        let (ok, out) = run(Command::new(&promtool).arg("check").arg("rules").arg(&path));
        assert!(ok, "promtool check rules {file} failed:\n{out}");
        assert!(
            out.contains(&format!("SUCCESS: {count} rules found")),
            "promtool check rules {file}: expected {count} rules:\n{out}"
        );
    }
}

#[test]
fn promtool_unit_tests_pass() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    for path in test_files() {
        // rule_files are relative to the test file, so run from its directory.
        let (ok, out) = run(Command::new(&promtool)
            .current_dir(path.parent().expect("test file has a parent"))
            .arg("test")
            .arg("rules")
            .arg(path.file_name().expect("test file name")));
        assert!(ok, "promtool test rules {} failed:\n{out}", path.display());
        assert!(
            out.contains("SUCCESS"),
            "promtool test rules {}:\n{out}",
            path.display()
        );
    }
}

// === rule file content ===

#[test]
fn sixty_one_unique_alerts_split_sixteen_twenty_nine_sixteen_by_severity() {
    let alerts = load_alerts();
    for (file, severity, count) in RULE_FILES {
        let in_file: Vec<&Alert> = alerts.iter().filter(|a| a.file == file).collect();
        assert_eq!(in_file.len(), count, "{file} must hold {count} alerts");
        for alert in in_file {
            assert_eq!(
                alert.rule.labels.get("severity").map(String::as_str),
                Some(severity),
                "{} in {file} must have severity={severity}",
                alert.name
            );
        }
    }
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(alerts.len(), 61, "expected 61 alerts in total");
    assert_eq!(names.len(), 61, "alert names must be unique");
}

#[test]
fn every_alert_has_summary_description_and_runbook_url() {
    for alert in load_alerts() {
        let a = &alert.rule.annotations;
        for key in ["summary", "description"] {
            let text = a.get(key).map(String::as_str).unwrap_or_default();
            assert!(
                text.trim().len() >= 10,
                "{}: annotation `{key}` missing or too short",
                alert.name
            );
        }
        assert_eq!(
            a.get("runbook_url").map(String::as_str),
            Some(format!("{RUNBOOK_BASE}{}", alert.name.to_lowercase()).as_str()),
            "{}: runbook_url must follow the RUNBOOK.md anchor pattern",
            alert.name
        );
        let extra: Vec<&String> = a
            .keys()
            .filter(|k| !["summary", "description", "runbook_url"].contains(&k.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{}: unexpected annotations {extra:?}",
            alert.name
        );
    }
}

#[test]
fn labels_follow_the_routing_and_inhibition_conventions() {
    let alerts = load_alerts();
    for alert in &alerts {
        let labels = &alert.rule.labels;
        let component = labels
            .get("component")
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            COMPONENTS.contains(&component),
            "{}: label component={component:?} is not one of {COMPONENTS:?}",
            alert.name
        );
        let allowed = ["severity", "component", "symptom"];
        for key in labels.keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "{}: unexpected static label {key}",
                alert.name
            );
        }
        // A one-evaluation blip must not page or post to chat.
        let severity = labels["severity"].as_str();
        if severity != "info" {
            assert!(
                alert.rule.for_.is_some(),
                "{}: {severity} alert without `for:`",
                alert.name
            );
        }
    }
    // `symptom` pairs a critical alert with the warnings it mutes in Alertmanager.
    let mut by_symptom: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for alert in &alerts {
        if let Some(symptom) = alert.rule.labels.get("symptom") {
            by_symptom
                .entry(symptom)
                .or_default()
                .push(alert.rule.labels["severity"].as_str());
        }
    }
    assert!(!by_symptom.is_empty(), "no alert carries a symptom label");
    for (symptom, severities) in by_symptom {
        assert_eq!(
            severities.iter().filter(|s| **s == "critical").count(),
            1,
            "symptom {symptom} needs exactly one critical alert"
        );
        assert!(
            severities.contains(&"warning"),
            "symptom {symptom} has no warning alert to mute"
        );
    }
}

// === runbook ===

#[test]
fn every_runbook_url_points_at_a_complete_runbook_section() {
    let runbook = read(&support::repo_root().join("monitoring/RUNBOOK.md"));
    // Split into `## ` sections (outside fenced code blocks).
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_code = false;
    for line in runbook.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code {
            if let Some(heading) = line.strip_prefix("## ") {
                let heading = heading.trim().to_string();
                assert!(
                    !sections.contains_key(&heading),
                    "duplicate runbook heading {heading}"
                );
                sections.insert(heading.clone(), String::new());
                current = Some(heading);
                continue;
            }
        }
        if let Some(h) = &current {
            let body = sections.get_mut(h).expect("section exists");
            body.push_str(line);
            body.push('\n');
        }
    }

    let alerts = load_alerts();
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    for alert in &alerts {
        let url = &alert.rule.annotations["runbook_url"];
        let anchor = url.rsplit_once('#').map(|(_, a)| a).unwrap_or_default();
        let heading = sections
            .keys()
            .find(|h| github_anchor(h) == anchor)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no `## ` heading in RUNBOOK.md has anchor #{anchor}",
                    alert.name
                )
            });
        assert_eq!(
            heading, &alert.name,
            "the heading for #{anchor} must be the alert name"
        );
        let body = &sections[heading];
        for part in [
            "### Meaning",
            "### Impact",
            "### Diagnosis",
            "### Remediation",
            "### Escalation",
        ] {
            assert!(
                body.contains(part),
                "RUNBOOK.md section {heading} lacks `{part}`"
            );
        }
        for fence in ["```promql", "```logql", "```sh"] {
            assert!(
                body.contains(fence),
                "RUNBOOK.md section {heading} lacks a {fence} block"
            );
        }
    }
    // No stale sections: every other `## ` heading is an introduction.
    for heading in sections.keys() {
        assert!(
            names.contains(heading.as_str()) || heading == "Conventions",
            "RUNBOOK.md section `{heading}` matches no alert"
        );
    }
}

// === unit-test coverage ===

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test_case() {
    let alerts = load_alerts();
    let by_name: BTreeMap<&str, &Alert> = alerts.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut firing: BTreeMap<String, usize> = BTreeMap::new();
    let mut quiet: BTreeMap<String, usize> = BTreeMap::new();

    for path in test_files() {
        let file = load_test_file(&path);
        for rule_file in &file.rule_files {
            let target = path.parent().expect("parent").join(rule_file);
            assert!(
                target.is_file(),
                "{}: rule file {rule_file} does not exist",
                path.display()
            );
        }
        for group in &file.tests {
            let inputs: BTreeSet<&str> = group
                .input_series
                .iter()
                .map(|s| series_name(&s.series))
                .collect();
            for case in &group.alert_rule_test {
                let alert = by_name.get(case.alertname.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{}: test for unknown alert {}",
                        path.display(),
                        case.alertname
                    )
                });
                // The case must feed the alert the metrics it reads, healthy or not.
                let wanted =
                    promql::metric_names(&alert.rule.expr).expect("rule expression parses");
                assert!(
                    wanted.iter().any(|m| inputs.contains(m.as_str())),
                    "{}: case {} at {} has no input series for {wanted:?}",
                    path.display(),
                    case.alertname,
                    case.eval_time
                );
                if case.exp_alerts.is_empty() {
                    *quiet.entry(case.alertname.clone()).or_default() += 1;
                    continue;
                }
                for exp in &case.exp_alerts {
                    for (key, value) in &alert.rule.labels {
                        assert_eq!(
                            exp.exp_labels.get(key),
                            Some(value),
                            "{}: firing case of {} must assert label {key}",
                            path.display(),
                            case.alertname
                        );
                    }
                    let keys: BTreeSet<&str> =
                        exp.exp_annotations.keys().map(String::as_str).collect();
                    assert_eq!(
                        keys,
                        BTreeSet::from(["description", "runbook_url", "summary"]),
                        "{}: firing case of {} must assert every annotation",
                        path.display(),
                        case.alertname
                    );
                    for text in exp.exp_annotations.values() {
                        for bad in ["{{", "%!", "<no value>", "NaN"] {
                            assert!(
                                !text.contains(bad),
                                "{}: expected annotation of {} contains {bad:?}: {text}",
                                path.display(),
                                case.alertname
                            );
                        }
                    }
                }
                *firing.entry(case.alertname.clone()).or_default() += 1;
            }
        }
    }

    for alert in &alerts {
        assert!(
            firing.contains_key(&alert.name),
            "{} has no firing unit-test case",
            alert.name
        );
        assert!(
            quiet.contains_key(&alert.name),
            "{} has no quiet unit-test case",
            alert.name
        );
    }
}

// === metric contract ===

#[derive(Debug, Deserialize)]
struct Contract {
    metrics: Vec<ContractEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractEntry {
    name: String,
    producer: String,
    #[serde(rename = "type")]
    kind: String,
    help: String,
}

#[test]
fn every_metric_read_by_a_rule_is_in_the_metric_contract() {
    let path = support::repo_root().join("monitoring/metric-contract.yaml");
    let contract: Contract = serde_norway::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let mut declared = BTreeSet::new();
    for entry in &contract.metrics {
        assert!(
            declared.insert(entry.name.as_str()),
            "duplicate contract entry {}",
            entry.name
        );
        assert!(
            PRODUCERS.contains(&entry.producer.as_str()),
            "{}: unknown producer {}",
            entry.name,
            entry.producer
        );
        assert!(
            METRIC_TYPES.contains(&entry.kind.as_str()),
            "{}: unknown type {}",
            entry.name,
            entry.kind
        );
        assert!(!entry.help.trim().is_empty(), "{}: empty help", entry.name);
    }

    let mut missing = BTreeMap::new();
    for alert in load_alerts() {
        let names = promql::metric_names(&alert.rule.expr)
            .unwrap_or_else(|e| panic!("{}: expression does not parse: {e}", alert.name));
        assert!(
            !names.is_empty(),
            "{}: expression reads no metric",
            alert.name
        );
        for name in names {
            if !declared.contains(name.as_str()) {
                missing
                    .entry(name)
                    .or_insert_with(Vec::new)
                    .push(alert.name.clone());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metrics read by rules but absent from metric-contract.yaml: {missing:#?}"
    );
}

#[test]
fn promql_walker_finds_every_selected_metric() {
    let names = promql::metric_names(
        r#"sum by (a) (rate(foo_total{a="b"}[5m])) / on (a) group_left () max(bar) > 0
           and on (a) histogram_quantile(0.9, sum by (le) (rate(baz_bucket[5m])))
           or quantile(scalar(q), qux) or count(max_over_time({__name__="quux"}[1h:1m]))"#,
    )
    .expect("valid expression");
    let expected: BTreeSet<String> = ["bar", "baz_bucket", "foo_total", "q", "quux", "qux"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    assert!(promql::metric_names("vector(1)").expect("valid").is_empty());
    assert!(
        promql::metric_names(r#"{__name__=~"foo.*"}"#).is_err(),
        "regex name must be rejected"
    );
    assert!(
        promql::metric_names("sum(rate(foo[5m])").is_err(),
        "broken expression must be rejected"
    );
}

/// `80m30s` → seconds (the `d`, `h`, `m` and `s` units promtool test files use).
fn seconds(duration: &str) -> u64 {
    let (mut total, mut number) = (0, 0);
    for c in duration.chars() {
        match c {
            '0'..='9' => number = number * 10 + u64::from(c.to_digit(10).unwrap()),
            unit => {
                let scale = match unit {
                    'd' => 86_400,
                    'h' => 3_600,
                    'm' => 60,
                    's' => 1,
                    _ => panic!("unit {unit} in {duration}"),
                };
                total += number * scale;
                number = 0;
            }
        }
    }
    total + number
}

/// Prometheus 2 includes a sample at exactly `t − range` in a range selector, Prometheus 3 (the
/// version the stack ships, whose promtool CI runs) does not. An evaluation time between two
/// samples gives both engines the same samples for an expression evaluated there. Rules are
/// evaluated at whole evaluation intervals, on sample times, so an input series must also not
/// change between the sample at a window's left edge and the next one (warning_test.yaml,
/// FrequentPodRestarts). Then every case holds on both, and a promtool 2.x run locally agrees.
#[test]
fn every_evaluation_time_sits_between_samples() {
    assert_eq!(seconds("80m30s"), 4830);
    assert_eq!(seconds("1h"), 3600);
    for path in test_files() {
        let file = load_test_file(&path);
        for group in &file.tests {
            let interval = seconds(group.interval.as_deref().unwrap_or("1m"));
            for case in &group.alert_rule_test {
                assert_ne!(
                    seconds(&case.eval_time) % interval,
                    0,
                    "{}: {} at {} sits on a sample",
                    path.display(),
                    case.alertname,
                    case.eval_time
                );
            }
        }
    }
}
