//! The Alertmanager configuration in `monitoring/alertmanager/alertmanager.yml`: amtool
//! validation, credentials read from the mounted Secret, severity routing of every alert rule,
//! and inhibition proven against a real Alertmanager on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::support;

const PAGERDUTY_KEY_FILE: &str = "/etc/alertmanager/secrets/pagerduty-routing-key";
const SLACK_URL_FILE: &str = "/etc/alertmanager/secrets/slack-webhook-url";
const RULE_FILES: [&str; 3] = ["critical.yaml", "warning.yaml", "info.yaml"];

// === shared functions ===

fn config_path() -> PathBuf {
    support::repo_root().join("monitoring/alertmanager/alertmanager.yml")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn config() -> Yaml {
    serde_norway::from_str(&read(&config_path())).expect("alertmanager.yml is valid YAML")
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Every alert rule of `monitoring/prometheus/rules/`.
fn rules() -> Vec<Rule> {
    let dir = support::repo_root().join("monitoring/prometheus/rules");
    RULE_FILES
        .iter()
        .flat_map(|file| {
            let parsed: RuleFile = serde_norway::from_str(&read(&dir.join(file)))
                .unwrap_or_else(|e| panic!("parse {file}: {e}"));
            parsed.groups.into_iter().flat_map(|g| g.rules)
        })
        .collect()
}

/// `label=value` arguments for an alert as the rules produce it: alertname, the rule's static
/// labels (severity, component, symptom) and the given object labels.
fn alert_args(rules: &[Rule], alertname: &str, object: &[(&str, &str)]) -> Vec<String> {
    let rule = rules
        .iter()
        .find(|r| r.alert == alertname)
        .unwrap_or_else(|| panic!("no alert rule named {alertname}"));
    let mut labels: BTreeMap<&str, &str> = rule
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    labels.insert("alertname", alertname);
    labels.extend(object.iter().copied());
    labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// === static checks ===

#[test]
fn amtool_check_config_accepts_the_configuration() {
    let Some(amtool) = support::require_tool("amtool") else {
        return;
    };
    let (ok, stdout, stderr) = output(Command::new(&amtool).arg("check-config").arg(config_path()));
    assert!(ok, "amtool check-config failed:\n{stdout}{stderr}");
    assert!(
        stdout.contains("SUCCESS"),
        "amtool check-config:\n{stdout}{stderr}"
    );
}

#[test]
fn receivers_read_their_credentials_from_the_mounted_secret() {
    let text = read(&config_path());
    for forbidden in [
        "routing_key:",
        "service_key:",
        "api_url:",
        "hooks.slack.com",
        "events.pagerduty.com",
    ] {
        assert!(
            !text.contains(forbidden),
            "alertmanager.yml must not contain `{forbidden}`"
        );
    }
    let cfg = config();
    let receivers = cfg["receivers"].as_sequence().expect("receivers list");
    let mut names = BTreeSet::new();
    for receiver in receivers {
        let name = receiver["name"].as_str().expect("receiver name");
        names.insert(name.to_string());
        let integrations: Vec<&str> = receiver
            .as_mapping()
            .expect("receiver mapping")
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| k.ends_with("_configs"))
            .collect();
        if name == "null" {
            assert!(
                integrations.is_empty(),
                "the null receiver must not notify anyone"
            );
        } else {
            assert!(
                !integrations.is_empty(),
                "receiver {name} has no integration: its alerts would be dropped"
            );
        }
    }
    assert_eq!(
        names,
        BTreeSet::from(["null".into(), "pagerduty".into(), "slack".into()])
    );

    let pagerduty = receivers
        .iter()
        .find(|r| r["name"] == "pagerduty")
        .expect("pagerduty receiver");
    assert_eq!(
        pagerduty["pagerduty_configs"][0]["routing_key_file"].as_str(),
        Some(PAGERDUTY_KEY_FILE)
    );
    let slack = receivers
        .iter()
        .find(|r| r["name"] == "slack")
        .expect("slack receiver");
    assert_eq!(
        slack["slack_configs"][0]["api_url_file"].as_str(),
        Some(SLACK_URL_FILE)
    );
}

#[test]
fn routes_and_inhibit_rules_use_matchers_syntax() {
    fn walk(route: &Yaml, path: &str) {
        let map = route.as_mapping().expect("route mapping");
        for key in ["match", "match_re"] {
            assert!(
                !map.contains_key(key),
                "{path}: deprecated `{key}`; use `matchers`"
            );
        }
        if let Some(children) = route.get("routes").and_then(Yaml::as_sequence) {
            for (i, child) in children.iter().enumerate() {
                walk(child, &format!("{path}.routes[{i}]"));
            }
        }
    }
    let cfg = config();
    walk(&cfg["route"], "route");
    for rule in cfg["inhibit_rules"].as_sequence().expect("inhibit_rules") {
        let map = rule.as_mapping().expect("inhibit rule mapping");
        for key in [
            "source_match",
            "source_match_re",
            "target_match",
            "target_match_re",
        ] {
            assert!(
                !map.contains_key(key),
                "deprecated `{key}` in an inhibit rule"
            );
        }
    }
}

#[test]
fn every_alert_routes_to_the_receiver_of_its_severity() {
    let Some(amtool) = support::require_tool("amtool") else {
        return;
    };
    let route = |expected: &str, args: &[String]| {
        let (ok, stdout, stderr) = output(
            Command::new(&amtool)
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", config_path().display()))
                .arg(format!("--verify.receivers={expected}"))
                .args(args),
        );
        // The first line is the resolved receiver list; a mismatch warning may follow.
        let got = stdout.lines().next().unwrap_or_default().trim().to_string();
        (ok, got, stderr)
    };

    let rules = rules();
    assert_eq!(rules.len(), 61);
    for rule in &rules {
        let expected = match (rule.alert.as_str(), rule.labels["severity"].as_str()) {
            ("Watchdog", _) => "null",
            ("AlertmanagerNotificationsFailing", _) => "slack,pagerduty",
            (_, "critical") => "pagerduty",
            (_, "warning") => "slack",
            (_, "info") => "null",
            (name, other) => panic!("{name}: unexpected severity {other}"),
        };
        let args = alert_args(
            &rules,
            &rule.alert,
            &[("namespace", "octollm-prod"), ("service", "orchestrator")],
        );
        let (ok, got, stderr) = route(expected, &args);
        assert!(
            ok && got == expected,
            "{} routed to {got:?}, expected {expected:?}\n{stderr}",
            rule.alert
        );
    }

    // --verify.receivers really verifies: a wrong expectation fails.
    let (ok, got, _) = route(
        "slack",
        &["severity=critical".into(), "alertname=HighErrorRate".into()],
    );
    assert!(
        !ok && got == "pagerduty",
        "a critical alert must not reach the chat receiver (got {got:?})"
    );
    // An alert without severity still reaches people.
    let (ok, got, stderr) = route("slack", &["alertname=Unlabelled".into()]);
    assert!(ok && got == "slack", "default route: {got:?}\n{stderr}");
}

#[test]
fn inhibit_rules_reference_labels_and_values_the_rules_produce() {
    let rules = rules();
    let matcher =
        Regex::new(r#"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$"#).expect("regex");
    let values_of = |label: &str| -> BTreeSet<String> {
        if label == "alertname" {
            return rules.iter().map(|r| r.alert.clone()).collect();
        }
        rules
            .iter()
            .filter_map(|r| r.labels.get(label).cloned())
            .collect()
    };

    let cfg = config();
    let inhibit = cfg["inhibit_rules"].as_sequence().expect("inhibit_rules");
    assert!(!inhibit.is_empty(), "no inhibit rules");
    for (i, rule) in inhibit.iter().enumerate() {
        for side in ["source_matchers", "target_matchers"] {
            let matchers = rule[side]
                .as_sequence()
                .unwrap_or_else(|| panic!("inhibit_rules[{i}].{side}"));
            assert!(!matchers.is_empty(), "inhibit_rules[{i}].{side} is empty");
            for m in matchers {
                let m = m.as_str().expect("matcher string");
                let caps = matcher
                    .captures(m)
                    .unwrap_or_else(|| panic!("cannot read matcher {m}"));
                let (label, op, value) = (&caps[1], &caps[2], &caps[3]);
                let known = values_of(label);
                assert!(
                    !known.is_empty(),
                    "inhibit_rules[{i}]: no alert sets label {label}"
                );
                let wanted: Vec<&str> = match op {
                    "=" | "!=" => vec![value],
                    "=~" if value == ".+" => vec![],
                    "=~" => value.split('|').collect(),
                    _ => panic!("inhibit_rules[{i}]: unsupported operator in {m}"),
                };
                for v in wanted {
                    assert!(
                        known.contains(v),
                        "inhibit_rules[{i}]: no alert has {label}={v:?} ({m})"
                    );
                }
            }
        }
        for label in rule["equal"].as_sequence().expect("equal list") {
            let label = label.as_str().expect("label name");
            let word = Regex::new(&format!(r"\b{label}\b")).expect("regex");
            assert!(
                rules
                    .iter()
                    .any(|r| r.labels.contains_key(label) || word.is_match(&r.expr)),
                "inhibit_rules[{i}]: no alert carries label {label}"
            );
        }
    }
}

// === a real Alertmanager ===

/// Kills the daemon when the test ends, also when it panics.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET (so the body is never chunked): status code and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn find<'a>(alerts: &'a [Value], labels: &[(&str, &str)]) -> &'a Value {
    let matching: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            labels
                .iter()
                .all(|(k, v)| a["labels"][*k].as_str() == Some(*v))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one alert with {labels:?}, found {}",
        matching.len()
    );
    matching[0]
}

fn inhibited_by(alert: &Value) -> Vec<String> {
    alert["status"]["inhibitedBy"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn inhibition_mutes_only_the_matching_alerts_in_a_real_alertmanager() {
    let Some(amtool) = support::require_tool("amtool") else {
        return;
    };
    let Some(daemon_bin) = support::daemon::alertmanager() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");

    // The shipped configuration, with the Secret paths pointing at dummy files.
    let key_file = tmp.path().join("pagerduty-routing-key");
    let url_file = tmp.path().join("slack-webhook-url");
    std::fs::write(&key_file, "test-routing-key").expect("write key");
    std::fs::write(&url_file, "http://127.0.0.1:9/slack-webhook").expect("write url");
    let text = read(&config_path());
    assert_eq!(
        text.matches(PAGERDUTY_KEY_FILE).count(),
        1,
        "config must read {PAGERDUTY_KEY_FILE}"
    );
    assert_eq!(
        text.matches(SLACK_URL_FILE).count(),
        1,
        "config must read {SLACK_URL_FILE}"
    );
    let text = text
        .replace(PAGERDUTY_KEY_FILE, &key_file.display().to_string())
        .replace(SLACK_URL_FILE, &url_file.display().to_string());
    let cfg_file = tmp.path().join("alertmanager.yml");
    std::fs::write(&cfg_file, text).expect("write config");

    let port = support::free_port();
    let log = tmp.path().join("alertmanager.log");
    let log_out = File::create(&log).expect("log file");
    let child = Command::new(&daemon_bin)
        .arg(format!("--config.file={}", cfg_file.display()))
        .arg(format!(
            "--storage.path={}",
            tmp.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(log_out.try_clone().expect("clone log"))
        .stderr(log_out)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", daemon_bin.display()));
    let mut daemon = Daemon { child, log };

    // Wait until ready: at most 100 attempts and 20 seconds.
    let started = Instant::now();
    let mut ready = false;
    for _ in 0..100 {
        if let Some(status) = daemon.child.try_wait().expect("try_wait") {
            panic!("alertmanager exited with {status}:\n{}", daemon.log());
        }
        if matches!(http_get(port, "/-/ready"), Ok((200, _))) {
            ready = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ready,
        "alertmanager not ready on port {port}:\n{}",
        daemon.log()
    );

    let rules = rules();
    let prod = ("namespace", "octollm-prod");
    let crash_pod = [
        prod,
        ("pod", "orchestrator-7d9f8b6c5-x2k4p"),
        ("container", "orchestrator"),
    ];
    let other_pod = [
        prod,
        ("pod", "reflex-layer-6c5d7f9b8-q7w2e"),
        ("container", "reflex-layer"),
    ];
    let grpc_search = [
        prod,
        ("service", "retriever-arm"),
        ("rpc_method", "octollm.retriever.v1.Retriever/Search"),
    ];
    let grpc_index = [
        prod,
        ("service", "retriever-arm"),
        ("rpc_method", "octollm.retriever.v1.Retriever/Index"),
    ];
    let posted: Vec<Vec<String>> = vec![
        alert_args(
            &rules,
            "HighErrorRate",
            &[prod, ("service", "orchestrator")],
        ),
        alert_args(
            &rules,
            "ElevatedErrorRate",
            &[prod, ("service", "orchestrator")],
        ),
        alert_args(
            &rules,
            "ElevatedErrorRate",
            &[prod, ("service", "reflex-layer")],
        ),
        alert_args(
            &rules,
            "HighRequestLatency",
            &[
                prod,
                ("service", "orchestrator"),
                ("http_route", "/v1/tasks"),
            ],
        ),
        alert_args(&rules, "ServiceDown", &[prod, ("service", "planner-arm")]),
        alert_args(
            &rules,
            "HighRequestLatency",
            &[prod, ("service", "planner-arm"), ("http_route", "/v1/plan")],
        ),
        alert_args(
            &rules,
            "TelemetrySpansDropped",
            &[prod, ("service", "planner-arm")],
        ),
        alert_args(&rules, "GrpcHighErrorRate", &grpc_search),
        alert_args(&rules, "GrpcElevatedErrorRate", &grpc_search),
        alert_args(&rules, "GrpcElevatedErrorRate", &grpc_index),
        alert_args(&rules, "PodCrashLoopBackOff", &crash_pod),
        alert_args(&rules, "FrequentPodRestarts", &crash_pod),
        alert_args(&rules, "FrequentPodRestarts", &other_pod),
    ];
    let url = format!("--alertmanager.url=http://127.0.0.1:{port}");
    for labels in &posted {
        let (ok, stdout, stderr) = output(
            Command::new(&amtool)
                .args(["alert", "add", &url])
                .args(labels),
        );
        assert!(ok, "amtool alert add {labels:?} failed:\n{stdout}{stderr}");
    }

    // Poll until every alert is stored and the five expected targets are inhibited:
    // at most 50 attempts and 15 seconds.
    let started = Instant::now();
    let mut alerts: Vec<Value> = Vec::new();
    for _ in 0..50 {
        if let Ok((200, body)) = http_get(port, "/api/v2/alerts") {
            alerts =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("alerts JSON: {e}\n{body}"));
            let inhibited = alerts
                .iter()
                .filter(|a| !inhibited_by(a).is_empty())
                .count();
            if alerts.len() == posted.len() && inhibited >= 5 {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        alerts.len(),
        posted.len(),
        "alerts stored: {alerts:#?}\n{}",
        daemon.log()
    );

    let fingerprint = |a: &Value| a["fingerprint"].as_str().expect("fingerprint").to_string();
    let assert_muted = |target: &Value, source: &Value| {
        assert_eq!(
            inhibited_by(target),
            vec![fingerprint(source)],
            "{:#}",
            target["labels"]
        );
        assert_eq!(
            target["status"]["state"], "suppressed",
            "{:#}",
            target["labels"]
        );
    };
    let assert_active = |alert: &Value| {
        assert!(
            inhibited_by(alert).is_empty(),
            "must not be inhibited: {alert:#}"
        );
        assert_eq!(alert["status"]["state"], "active", "{:#}", alert["labels"]);
    };

    // Critical mutes the warning of the same symptom for the same service only.
    let high_errors = find(&alerts, &[("alertname", "HighErrorRate")]);
    assert_active(high_errors);
    assert_muted(
        find(
            &alerts,
            &[
                ("alertname", "ElevatedErrorRate"),
                ("service", "orchestrator"),
            ],
        ),
        high_errors,
    );
    assert_active(find(
        &alerts,
        &[
            ("alertname", "ElevatedErrorRate"),
            ("service", "reflex-layer"),
        ],
    ));
    // A critical alert of another symptom mutes nothing.
    assert_active(find(
        &alerts,
        &[
            ("alertname", "HighRequestLatency"),
            ("service", "orchestrator"),
        ],
    ));

    // The gRPC pair matches on the method as well: another method of the service stays active.
    let grpc_high = find(&alerts, &[("alertname", "GrpcHighErrorRate")]);
    assert_active(grpc_high);
    assert_muted(
        find(
            &alerts,
            &[("alertname", "GrpcElevatedErrorRate"), grpc_search[2]],
        ),
        grpc_high,
    );
    assert_active(find(
        &alerts,
        &[("alertname", "GrpcElevatedErrorRate"), grpc_index[2]],
    ));

    // ServiceDown mutes the alerts derived from the same service's metrics.
    let down = find(&alerts, &[("alertname", "ServiceDown")]);
    assert_active(down);
    assert_muted(
        find(
            &alerts,
            &[
                ("alertname", "HighRequestLatency"),
                ("service", "planner-arm"),
            ],
        ),
        down,
    );
    assert_muted(
        find(&alerts, &[("alertname", "TelemetrySpansDropped")]),
        down,
    );

    // Pod-level pairs match on namespace, pod and container.
    let crash = find(&alerts, &[("alertname", "PodCrashLoopBackOff")]);
    assert_active(crash);
    assert_muted(
        find(
            &alerts,
            &[
                ("alertname", "FrequentPodRestarts"),
                ("pod", crash_pod[1].1),
            ],
        ),
        crash,
    );
    assert_active(find(
        &alerts,
        &[
            ("alertname", "FrequentPodRestarts"),
            ("pod", other_pod[1].1),
        ],
    ));

    drop(daemon);
}
