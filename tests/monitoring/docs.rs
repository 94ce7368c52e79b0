//! The operations documents in `monitoring/docs/` and the query blocks of `monitoring/RUNBOOK.md`.
//!
//! Every ```` ```promql ```` block parses with promql-parser as written and reads only metrics of
//! `monitoring/metric-contract.yaml`; the documents' queries use concrete values, no Grafana
//! variable and no `<placeholder>` (the runbook's queries keep their placeholders, inside label
//! values). LogQL has no parser in Rust, so [`logql::check`] applies LogQL's grammar to the forms
//! the documents use: a stream selector that names only the labels the Alloy pipeline sets,
//! balanced delimiters and quotes, line filters, the `json`, `logfmt`, `line_format`,
//! `label_format` and `unwrap` stages, label filters, and range aggregations over a fixed range
//! such as `[5m]`. The alerts the documents name exist in the rules; the dashboard guide covers
//! every dashboard and panel; the escalation guide follows the Alertmanager routes; the
//! log-to-trace guide uses the links the Grafana data sources provision.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use promql_parser::parser;
use regex::Regex;
use serde_norway::Value as Yaml;

use crate::support::{self, promql};

/// The documents, in `monitoring/docs/`.
const DOCS: [&str; 5] = [
    "dashboards.md",
    "log-to-trace.md",
    "scenarios.md",
    "escalation.md",
    "post-incident-review.md",
];

/// Alert names the documents may use before their rules land in `prometheus/rules/`.
const COMING_ALERTS: [&str; 5] = [
    "DatabaseConnectionPoolExhausted",
    "CertificateExpiringInSevenDays",
    "ServiceCpuSaturated",
    "TokioGlobalQueueGrowing",
    "LowCacheHitRate",
];

/// Alerts that are being removed: the documents must not send anyone to them.
const REMOVED_ALERTS: [&str; 2] = ["HighSuccessRate", "LowLatency"];

/// Series Prometheus writes itself while evaluating alert rules: never scraped, so never in the
/// metric contract.
const RULE_SERIES: [&str; 2] = ["ALERTS", "ALERTS_FOR_STATE"];

/// Words in the documents that look like alert names (CamelCase) and are not: Kubernetes kinds
/// and states, products, query languages.
const NOT_ALERTS: &[&str] = &[
    "ConfigMap",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "DiskPressure",
    "GenAI",
    "ImagePullBackOff",
    "LoadBalancer",
    "MemAvailable",
    "MemTotal",
    "NetworkPolicy",
    "OOMKilled",
    "OctoLLM",
    "OpenTelemetry",
    "PagerDuty",
    "ReadWriteOnce",
    "ReplicaSet",
];

/// The series of the service-health dashboard's Runtime and process and Dependencies rows: the
/// dashboard guide must show a query for each.
const RUNTIME_AND_DEPENDENCY_SERIES: [&str; 13] = [
    "process_cpu_time_seconds_total",
    "process_memory_usage_bytes",
    "process_thread_count",
    "process_open_file_descriptor_count",
    "process_uptime_seconds",
    "tokio_workers",
    "tokio_tasks_alive",
    "tokio_global_queue_depth",
    "db_client_connection_count",
    "db_client_connection_max",
    "db_client_connection_pending_requests",
    "db_client_connection_wait_time_seconds_bucket",
    "octollm_cache_lookups_total",
];

// === reading the documents ===

fn monitoring() -> PathBuf {
    support::repo_root().join("monitoring")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn doc(name: &str) -> String {
    read(&monitoring().join("docs").join(name))
}

fn yaml(path: &Path) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A fenced code block: where it starts, its tag, and its lines without the fence's indentation.
struct Block {
    place: String,
    lang: String,
    text: String,
}

/// The fenced code blocks of a Markdown text, and the text outside them.
fn split_markdown(file: &str, text: &str) -> (Vec<Block>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<(Block, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(tag) = trimmed.strip_prefix("```") {
                    let block = Block {
                        place: format!("{file}:{}", n + 1),
                        lang: tag.trim().to_owned(),
                        text: String::new(),
                    };
                    open = Some((block, line.len() - trimmed.len()));
                } else {
                    prose.push_str(line);
                    prose.push('\n');
                }
            }
            Some((block, indent)) => {
                if trimmed == "```" {
                    blocks.push(open.take().expect("an open block").0);
                } else {
                    let cut = line.len() - line.trim_start().len();
                    block.text.push_str(&line[cut.min(*indent)..]);
                    block.text.push('\n');
                }
            }
        }
    }
    if let Some((block, _)) = open {
        panic!("{}: code block never closed", block.place);
    }
    (blocks, prose)
}

/// One query of a ```` ```promql ```` or ```` ```logql ```` block.
struct Query {
    place: String,
    text: String,
}

/// The documents' queries: one per block, as the documents write them.
fn doc_queries(lang: &str) -> Vec<Query> {
    let mut out = Vec::new();
    for name in DOCS {
        let (blocks, _) = split_markdown(name, &doc(name));
        out.extend(
            blocks
                .into_iter()
                .filter(|b| b.lang == lang)
                .map(|b| Query {
                    place: b.place,
                    text: b.text.trim().to_owned(),
                }),
        );
    }
    out
}

/// The runbook's queries: one per line, as the runbook writes them.
fn runbook_queries(lang: &str) -> Vec<Query> {
    let (blocks, _) = split_markdown("RUNBOOK.md", &read(&monitoring().join("RUNBOOK.md")));
    let mut out = Vec::new();
    for block in blocks.into_iter().filter(|b| b.lang == lang) {
        for (i, line) in block.text.lines().enumerate() {
            if !line.trim().is_empty() {
                out.push(Query {
                    place: format!("{} line {}", block.place, i + 1),
                    text: line.trim().to_owned(),
                });
            }
        }
    }
    out
}

// === what the stack defines ===

fn contract_names() -> BTreeSet<String> {
    let contract = yaml(&monitoring().join("metric-contract.yaml"));
    contract["metrics"]
        .as_sequence()
        .expect("metric-contract.yaml: a `metrics` list")
        .iter()
        .map(|m| m["name"].as_str().expect("a metric name").to_owned())
        .collect()
}

fn alert_names() -> BTreeSet<String> {
    let dir = monitoring().join("prometheus/rules");
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&dir).expect("the rules directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let file = yaml(&path);
            for group in file["groups"].as_sequence().into_iter().flatten() {
                for rule in group["rules"].as_sequence().into_iter().flatten() {
                    if let Some(name) = rule["alert"].as_str() {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
    }
    assert!(names.len() >= 40, "only {} alerts found", names.len());
    names
}

/// The stream labels and the structured metadata keys that `alloy/config.alloy` sets.
fn alloy_labels() -> (BTreeSet<String>, BTreeSet<String>) {
    let config = read(&monitoring().join("alloy/config.alloy"));
    let mut stream: BTreeSet<String> = Regex::new(r#"target_label\s*=\s*"([^"]+)""#)
        .unwrap()
        .captures_iter(&config)
        .map(|c| c[1].to_owned())
        .filter(|l| !l.starts_with("__"))
        .collect();
    let keys = |stage: &str| -> BTreeSet<String> {
        let block = Regex::new(&format!(
            r"stage\.{stage}\s*\{{\s*values\s*=\s*[\[{{]([^\]}}]*)"
        ))
        .unwrap()
        .captures(&config)
        .map(|c| c[1].to_owned())
        .unwrap_or_default();
        Regex::new(r#"(\w+)\s*=|"(\w+)""#)
            .unwrap()
            .captures_iter(&block)
            .map(|c| c.get(1).or_else(|| c.get(2)).unwrap().as_str().to_owned())
            .collect()
    };
    stream.extend(keys("labels"));
    if config.contains("stage.cri {") {
        // The CRI stage labels each line with the stream it was written to.
        stream.insert("stream".to_owned());
    }
    for dropped in keys("label_drop") {
        stream.remove(&dropped);
    }
    let metadata = keys("structured_metadata");
    for label in ["namespace", "pod", "container", "service", "level"] {
        assert!(
            stream.contains(label),
            "config.alloy: no `{label}` label found in {stream:?}"
        );
    }
    assert!(
        metadata.contains("trace_id"),
        "config.alloy: no trace_id metadata"
    );
    (stream, metadata)
}

// === PromQL ===

/// A Grafana variable (`$namespace`, `${service}`, `$__rate_interval`) in a query.
fn grafana_variable(query: &str) -> Option<String> {
    Regex::new(r"\$\{?[A-Za-z_]\w*")
        .unwrap()
        .find(query)
        .map(|m| m.as_str().to_owned())
}

/// What is wrong with a PromQL query of a document (`strict`: no variable, no placeholder) or
/// of the runbook.
fn promql_problems(query: &str, strict: bool, declared: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    if strict {
        if let Some(var) = grafana_variable(query) {
            problems.push(format!("Grafana variable {var}"));
        }
        if let Some(hole) = Regex::new(r"<[a-z_]+>").unwrap().find(query) {
            problems.push(format!("placeholder {}", hole.as_str()));
        }
    }
    if let Err(e) = parser::parse(query) {
        problems.push(format!("does not parse: {e}"));
        return problems;
    }
    match promql::metric_names(query) {
        Ok(names) if names.is_empty() && !query.contains("time()") => {
            problems.push("reads no metric".to_owned());
        }
        Ok(names) => {
            for name in names {
                if !declared.contains(&name) && !RULE_SERIES.contains(&name.as_str()) {
                    problems.push(format!("metric {name} is not in metric-contract.yaml"));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}

fn report(bad: &[(String, Vec<String>, String)]) -> String {
    bad.iter()
        .map(|(place, problems, text)| format!("{place}: {}\n    {text}", problems.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parse errors, variables and placeholders; the contract is checked by the tests below.
fn syntax_only(problems: Vec<String>) -> Vec<String> {
    problems
        .into_iter()
        .filter(|p| !p.starts_with("metric "))
        .collect()
}

#[test]
fn every_document_exists_and_holds_queries() {
    for name in DOCS {
        let text = doc(name);
        assert!(
            text.starts_with("# ") && text.trim().lines().count() > 20,
            "monitoring/docs/{name}: empty, or no `# ` title on its first line"
        );
    }
    let promql = doc_queries("promql").len();
    let logql = doc_queries("logql").len();
    assert!(
        promql >= 80 && logql >= 20,
        "only {promql} PromQL and {logql} LogQL blocks"
    );
    // The runbook tags its queries the same way, so its blocks are checked too.
    assert!(runbook_queries("promql").len() >= 100);
    assert!(runbook_queries("logql").len() >= 40);
}

#[test]
fn every_promql_query_parses_as_written() {
    let declared = contract_names();
    let mut bad = Vec::new();
    for q in doc_queries("promql") {
        let problems = syntax_only(promql_problems(&q.text, true, &declared));
        if !problems.is_empty() {
            bad.push((q.place, problems, q.text));
        }
    }
    for q in runbook_queries("promql") {
        let problems = syntax_only(promql_problems(&q.text, false, &declared));
        if !problems.is_empty() {
            bad.push((q.place, problems, q.text));
        }
    }
    assert!(bad.is_empty(), "PromQL blocks:\n{}", report(&bad));
}

fn missing_from_contract(queries: Vec<Query>) -> BTreeMap<String, Vec<String>> {
    let declared = contract_names();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in queries {
        for name in promql::metric_names(&q.text).unwrap_or_default() {
            if !declared.contains(&name) && !RULE_SERIES.contains(&name.as_str()) {
                missing.entry(name).or_default().push(q.place.clone());
            }
        }
    }
    missing
}

#[test]
fn every_metric_a_document_reads_is_in_the_metric_contract() {
    let missing = missing_from_contract(doc_queries("promql"));
    assert!(
        missing.is_empty(),
        "metrics read by monitoring/docs/*.md but absent from metric-contract.yaml: {missing:#?}"
    );
}

#[test]
fn every_metric_a_runbook_query_reads_is_in_the_metric_contract() {
    let missing = missing_from_contract(runbook_queries("promql"));
    assert!(
        missing.is_empty(),
        "metrics read by RUNBOOK.md but absent from metric-contract.yaml: {missing:#?}"
    );
}

#[test]
fn the_dashboard_guide_shows_a_query_for_every_runtime_and_dependency_series() {
    let read: BTreeSet<String> = doc_queries("promql")
        .iter()
        .filter(|q| q.place.starts_with("dashboards.md"))
        .flat_map(|q| promql::metric_names(&q.text).unwrap_or_default())
        .collect();
    let absent: Vec<&str> = RUNTIME_AND_DEPENDENCY_SERIES
        .into_iter()
        .filter(|s| !read.contains(*s))
        .collect();
    assert!(
        absent.is_empty(),
        "dashboards.md shows no query for {absent:?}"
    );
}

#[test]
fn the_promql_check_catches_mistakes() {
    let declared: BTreeSet<String> = ["up", "a_total"].iter().map(|s| s.to_string()).collect();
    let check = |q: &str, strict| promql_problems(q, strict, &declared);
    assert!(check(
        r#"sum by (pod) (rate(a_total{namespace="octollm-prod"}[5m]))"#,
        true
    )
    .is_empty());
    assert!(check(r#"count(ALERTS{alertstate="firing"})"#, true).is_empty());
    assert!(check(r#"up{namespace="<namespace>"}"#, false).is_empty());
    let problem = |q: &str, strict, want: &str| {
        let found = check(q, strict);
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{q}: expected a problem containing {want:?}, found {found:?}"
        );
    };
    problem("sum(rate(a_total[5m])", true, "does not parse");
    problem("rate(a_total[$__rate_interval])", true, "Grafana variable");
    problem(r#"up{namespace="$namespace"}"#, true, "Grafana variable");
    problem(r#"up{namespace="<namespace>"}"#, true, "placeholder");
    problem(
        "rate(b_total[5m])",
        true,
        "b_total is not in metric-contract.yaml",
    );
    problem(r#"{__name__=~"a.*"}"#, true, "no fixed metric name");
    problem("vector(1)", true, "reads no metric");
}

// === LogQL ===

#[test]
fn every_logql_query_keeps_to_the_grammar_and_the_alloy_labels() {
    let (stream, metadata) = alloy_labels();
    let labels = logql::Labels {
        stream: &stream,
        metadata: &metadata,
    };
    let mut bad = Vec::new();
    for (strict, queries) in [
        (true, doc_queries("logql")),
        (false, runbook_queries("logql")),
    ] {
        for q in queries {
            let mut problems = Vec::new();
            if let Some(var) = grafana_variable(&q.text).filter(|_| strict) {
                problems.push(format!("Grafana variable {var}"));
            }
            if let Err(e) = logql::check(&q.text, &labels) {
                problems.push(e);
            }
            if !problems.is_empty() {
                bad.push((q.place, problems, q.text));
            }
        }
    }
    assert!(bad.is_empty(), "LogQL blocks:\n{}", report(&bad));
}

#[test]
fn the_logql_check_catches_mistakes() {
    let stream: BTreeSet<String> = ["namespace", "pod", "service", "level"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let metadata: BTreeSet<String> = ["trace_id"].iter().map(|s| s.to_string()).collect();
    let labels = logql::Labels {
        stream: &stream,
        metadata: &metadata,
    };
    for good in [
        r#"{namespace="octollm-prod", service="orchestrator"} | trace_id="4bf92f3577b34da6a3ce929d0e0e4736""#,
        r#"{namespace="p"} |= "id" | json | request_id="id" | line_format "{{.service}} {{.message}}""#,
        r#"{namespace=~".+"} |~ "(?i)timeout" != "debug" | logfmt | label_format svc=service"#,
        r#"sum by (level) (count_over_time({namespace="p", level=~".+"} [5m]))"#,
        r#"topk(10, sum by (service, target) (count_over_time({namespace="p"} | json target="target" [1h])))"#,
        r#"quantile_over_time(0.95, {namespace="p"} | json | unwrap duration_ms [5m]) by (http_route)"#,
        r#"sum(rate({namespace="p"} |= "x" [5m])) / sum(rate({namespace="p"} [5m])) > 0.1"#,
        r#"{namespace="p"} | json | duration_ms > 5000 and http_route="/v1/tasks""#,
    ] {
        logql::check(good, &labels).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for (bad, want) in [
        ("{}", "empty stream selector"),
        (r#"{namespace="p""#, "unclosed `{`"),
        (r#"{namespace="p"} |= "x"#, "unterminated string"),
        (r#"{namespace="p"})"#, "unmatched `)`"),
        (
            r#"{app="x"}"#,
            "label `app` is not set by the Alloy pipeline",
        ),
        (r#"{namespace=~".*"}"#, "does not match the empty value"),
        (r#"{namespace="p"} | request_id="1""#, "before any parser"),
        (r#"{namespace="p"} |= error"#, "expected a string"),
        (
            r#"{namespace="p"} | json | grep "x""#,
            "expected a comparison",
        ),
        (r#"{namespace="p"} |~ "(""#, "regular expression"),
        (
            r#"count_over_time({namespace="p"} [$__auto])"#,
            "unexpected character",
        ),
        (r#"count_over_time({namespace="p"} [5])"#, "fixed duration"),
        (r#"sum(count_over_time({namespace="p"}))"#, "expected `[`"),
        (
            r#"sum_over_time({namespace="p"} | json [5m])"#,
            "needs an unwrap",
        ),
        (
            r#"count_over_time({namespace="p"} | json | unwrap d [5m])"#,
            "takes no unwrap",
        ),
        (
            r#"{namespace="p"} | json | unwrap duration_ms"#,
            "outside a range aggregation",
        ),
        (r#"sum({namespace="p"})"#, "log query where a metric query"),
        (
            r#"{namespace="p"} {namespace="q"}"#,
            "after the end of the query",
        ),
    ] {
        match logql::check(bad, &labels) {
            Ok(()) => panic!("{bad}: accepted"),
            Err(e) => assert!(e.contains(want), "{bad}: {e:?} does not say {want:?}"),
        }
    }
}

/// A checker for the part of LogQL the documents use, on LogQL's grammar (Loki's
/// `pkg/logql/syntax`): enough to catch what breaks a query, without a Loki binary.
mod logql {
    use std::collections::BTreeSet;

    use regex::Regex;

    /// The labels a stream selector may name, and the structured metadata keys a label filter
    /// may compare before any parser stage.
    pub(super) struct Labels<'a> {
        pub(super) stream: &'a BTreeSet<String>,
        pub(super) metadata: &'a BTreeSet<String>,
    }

    /// Range aggregations over log lines: they take no `unwrap`.
    const LINE_RANGE: [&str; 4] = [
        "count_over_time",
        "bytes_over_time",
        "bytes_rate",
        "absent_over_time",
    ];
    /// Range aggregations over an unwrapped label: they need `unwrap`.
    const UNWRAP_RANGE: [&str; 10] = [
        "sum_over_time",
        "avg_over_time",
        "max_over_time",
        "min_over_time",
        "first_over_time",
        "last_over_time",
        "stdvar_over_time",
        "stddev_over_time",
        "quantile_over_time",
        "rate_counter",
    ];
    const VECTOR_AGGREGATIONS: [&str; 11] = [
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "sort",
        "sort_desc",
    ];
    const OPS: [&str; 25] = [
        "|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|",
        "=", ">", "<", "+", "-", "*", "/", "%", "^",
    ];

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Str(String),
        Ident(String),
        Num(String),
        Dur(String),
        Op(&'static str),
    }

    /// Checks `query`; the error names the first problem.
    pub(super) fn check(query: &str, labels: &Labels<'_>) -> Result<(), String> {
        balanced(query)?;
        let mut p = Parser {
            toks: lex(query)?,
            pos: 0,
            labels,
        };
        if p.is_op("{") {
            p.log_query(false)?;
        } else {
            p.metric_expr()?;
        }
        match p.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t:?} after the end of the query")),
        }
    }

    /// Brackets, braces and parentheses balanced, and every string closed.
    fn balanced(query: &str) -> Result<(), String> {
        let mut stack = Vec::new();
        let mut chars = query.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' | '`' => loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string at byte {i}")),
                        Some((_, '\\')) if c == '"' => {
                            chars.next();
                        }
                        Some((_, end)) if end == c => break,
                        Some(_) => {}
                    }
                },
                '(' | '[' | '{' => stack.push((c, i)),
                ')' | ']' | '}' => {
                    let want = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    match stack.pop() {
                        Some((open, _)) if open == want => {}
                        _ => return Err(format!("unmatched `{c}` at byte {i}")),
                    }
                }
                _ => {}
            }
        }
        match stack.pop() {
            Some((open, i)) => Err(format!("unclosed `{open}` at byte {i}")),
            None => Ok(()),
        }
    }

    fn lex(query: &str) -> Result<Vec<Tok>, String> {
        let duration = Regex::new(r"^(\d+(ms|s|m|h|d|w|y))+$").unwrap();
        let chars: Vec<char> = query.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '"' || c == '`' {
                let mut text = String::new();
                i += 1;
                while let Some(&ch) = chars.get(i).filter(|ch| **ch != c) {
                    let escaped = c == '"' && ch == '\\';
                    text.push(if escaped {
                        chars.get(i + 1).copied().unwrap_or(ch)
                    } else {
                        ch
                    });
                    i += if escaped { 2 } else { 1 };
                }
                i += 1;
                toks.push(Tok::Str(text));
            } else if c.is_ascii_digit() {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    toks.push(Tok::Num(word));
                } else if duration.is_match(&word) {
                    toks.push(Tok::Dur(word));
                } else {
                    return Err(format!("`{word}` is neither a number nor a duration"));
                }
            } else if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            } else {
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = OPS
                    .into_iter()
                    .find(|op| rest.starts_with(op))
                    .ok_or_else(|| format!("unexpected character {c:?}"))?;
                i += op.len();
                toks.push(Tok::Op(op));
            }
        }
        Ok(toks)
    }

    struct Parser<'a> {
        toks: Vec<Tok>,
        pos: usize,
        labels: &'a Labels<'a>,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<&Tok> {
            self.toks.get(self.pos)
        }

        fn next(&mut self) -> Option<Tok> {
            let t = self.toks.get(self.pos).cloned();
            self.pos += 1;
            t
        }

        fn is_op(&self, op: &str) -> bool {
            matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
        }

        fn is_ident(&self, word: &str) -> bool {
            matches!(self.peek(), Some(Tok::Ident(w)) if w == word)
        }

        fn expect_op(&mut self, op: &str) -> Result<(), String> {
            match self.next() {
                Some(Tok::Op(o)) if o == op => Ok(()),
                other => Err(format!("expected `{op}`, found {other:?}")),
            }
        }

        fn ident(&mut self) -> Result<String, String> {
            match self.next() {
                Some(Tok::Ident(w)) => Ok(w),
                other => Err(format!("expected a name, found {other:?}")),
            }
        }

        fn string(&mut self) -> Result<String, String> {
            match self.next() {
                Some(Tok::Str(s)) => Ok(s),
                other => Err(format!("expected a string, found {other:?}")),
            }
        }

        /// `{label op "value", ...}`: labels Alloy sets, at least one matcher that selects
        /// something (Loki refuses a selector that every stream matches).
        fn selector(&mut self) -> Result<(), String> {
            self.expect_op("{")?;
            if self.is_op("}") {
                return Err("empty stream selector {}".to_owned());
            }
            let mut selective = false;
            loop {
                let label = self.ident()?;
                if !self.labels.stream.contains(&label) {
                    return Err(format!(
                        "stream selector label `{label}` is not set by the Alloy pipeline (it sets {:?})",
                        self.labels.stream
                    ));
                }
                let op = match self.next() {
                    Some(Tok::Op(op @ ("=" | "!=" | "=~" | "!~"))) => op,
                    other => {
                        return Err(format!(
                            "expected a matcher after `{label}`, found {other:?}"
                        ))
                    }
                };
                let value = self.string()?;
                selective |= match op {
                    "=" => !value.is_empty(),
                    "=~" => !regex(&value, true)?.is_match(""),
                    "!~" => {
                        regex(&value, true)?;
                        false
                    }
                    _ => false,
                };
                if self.is_op(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.expect_op("}")?;
            if !selective {
                return Err(
                    "the stream selector needs a matcher that does not match the empty value"
                        .to_owned(),
                );
            }
            Ok(())
        }

        /// A selector and its pipeline; returns whether the pipeline unwraps a label.
        fn log_query(&mut self, in_range: bool) -> Result<bool, String> {
            self.selector()?;
            let mut parsed = false;
            let mut unwrapped = false;
            loop {
                match self.peek() {
                    Some(Tok::Op(op @ ("|=" | "!=" | "|~" | "!~"))) => {
                        let is_regex = op.ends_with('~');
                        self.pos += 1;
                        loop {
                            let pattern = self.string()?;
                            if is_regex {
                                regex(&pattern, false)?;
                            }
                            if !self.is_ident("or") {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                    Some(Tok::Op("|")) => {
                        self.pos += 1;
                        let stage = self.ident()?;
                        match stage.as_str() {
                            "json" => {
                                parsed = true;
                                while matches!(self.peek(), Some(Tok::Ident(_)))
                                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Op("=")))
                                {
                                    self.pos += 2;
                                    self.string()?;
                                    if self.is_op(",") {
                                        self.pos += 1;
                                    }
                                }
                            }
                            "logfmt" => parsed = true,
                            "line_format" => {
                                self.string()?;
                            }
                            "label_format" => loop {
                                self.ident()?;
                                self.expect_op("=")?;
                                match self.next() {
                                    Some(Tok::Str(_) | Tok::Ident(_)) => {}
                                    other => {
                                        return Err(format!(
                                            "label_format: expected a template or a label, found {other:?}"
                                        ))
                                    }
                                }
                                if !self.is_op(",") {
                                    break;
                                }
                                self.pos += 1;
                            },
                            "unwrap" => {
                                if !in_range {
                                    return Err("unwrap outside a range aggregation".to_owned());
                                }
                                let name = self.ident()?;
                                if self.is_op("(") {
                                    if !["duration", "duration_seconds", "bytes"]
                                        .contains(&name.as_str())
                                    {
                                        return Err(format!("unknown unwrap conversion {name}"));
                                    }
                                    self.pos += 1;
                                    self.ident()?;
                                    self.expect_op(")")?;
                                }
                                unwrapped = true;
                            }
                            _ => {
                                self.label_filter(stage, parsed)?;
                                while self.is_ident("and") || self.is_ident("or") || self.is_op(",")
                                {
                                    self.pos += 1;
                                    let label = self.ident()?;
                                    self.label_filter(label, parsed)?;
                                }
                            }
                        }
                    }
                    _ => break,
                }
            }
            Ok(unwrapped)
        }

        /// `label op value`, after `label` was read.
        fn label_filter(&mut self, label: String, parsed: bool) -> Result<(), String> {
            if !parsed
                && !self.labels.stream.contains(&label)
                && !self.labels.metadata.contains(&label)
            {
                return Err(format!(
                    "label filter on `{label}` before any parser: it is neither a stream label nor structured metadata; add `| json`"
                ));
            }
            let op = match self.next() {
                Some(Tok::Op(op @ ("=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<="))) => {
                    op
                }
                other => {
                    return Err(format!(
                    "expected a comparison after `| {label}`, found {other:?} (not a known stage)"
                ))
                }
            };
            match (self.next(), op) {
                (Some(Tok::Str(value)), "=~" | "!~") => regex(&value, true).map(drop),
                (Some(Tok::Str(_)), "=" | "!=") => Ok(()),
                (Some(Tok::Num(_) | Tok::Dur(_)), "=~" | "!~") | (None, _) => {
                    Err(format!("`{label} {op}` needs a string"))
                }
                (Some(Tok::Num(_) | Tok::Dur(_)), _) => Ok(()),
                (other, _) => Err(format!("`{label} {op}`: unexpected {other:?}")),
            }
        }

        fn metric_expr(&mut self) -> Result<(), String> {
            self.metric_term()?;
            loop {
                let binary = match self.peek() {
                    Some(Tok::Op(op)) => [
                        "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=",
                    ]
                    .contains(op),
                    Some(Tok::Ident(w)) => ["and", "or", "unless"].contains(&w.as_str()),
                    _ => false,
                };
                if !binary {
                    return Ok(());
                }
                self.pos += 1;
                if self.is_ident("bool") {
                    self.pos += 1;
                }
                self.metric_term()?;
            }
        }

        fn metric_term(&mut self) -> Result<(), String> {
            match self.next() {
                Some(Tok::Op("(")) => {
                    self.metric_expr()?;
                    self.expect_op(")")
                }
                Some(Tok::Num(_)) => Ok(()),
                Some(Tok::Op("{")) => Err(
                    "a log query where a metric query is expected: wrap it in count_over_time(... [5m])"
                        .to_owned(),
                ),
                Some(Tok::Ident(f)) if f == "rate" || LINE_RANGE.contains(&f.as_str()) || UNWRAP_RANGE.contains(&f.as_str()) => {
                    self.range_aggregation(&f)
                }
                Some(Tok::Ident(f)) if VECTOR_AGGREGATIONS.contains(&f.as_str()) => {
                    self.vector_aggregation(&f)
                }
                Some(Tok::Ident(f)) => Err(format!("unknown LogQL function {f}")),
                other => Err(format!("expected a metric query, found {other:?}")),
            }
        }

        fn range_aggregation(&mut self, f: &str) -> Result<(), String> {
            self.expect_op("(")?;
            if f == "quantile_over_time" {
                match self.next() {
                    Some(Tok::Num(_)) => {}
                    other => return Err(format!("{f}: expected a quantile, found {other:?}")),
                }
                self.expect_op(",")?;
            }
            if !self.is_op("{") {
                return Err(format!("{f} needs a log query"));
            }
            let unwrapped = self.log_query(true)?;
            self.expect_op("[")?;
            match self.next() {
                Some(Tok::Dur(_)) => {}
                other => {
                    return Err(format!(
                        "the range of {f} must be a fixed duration such as [5m], found {other:?}"
                    ))
                }
            }
            self.expect_op("]")?;
            if self.is_ident("offset") {
                self.pos += 1;
                match self.next() {
                    Some(Tok::Dur(_)) => {}
                    other => return Err(format!("offset needs a duration, found {other:?}")),
                }
            }
            self.expect_op(")")?;
            if UNWRAP_RANGE.contains(&f) && !unwrapped {
                return Err(format!("{f} needs an unwrap stage"));
            }
            if LINE_RANGE.contains(&f) && unwrapped {
                return Err(format!("{f} counts lines and takes no unwrap"));
            }
            if self.is_ident("by") || self.is_ident("without") {
                if !unwrapped {
                    return Err(format!(
                        "{f}: grouping after a range aggregation needs an unwrap"
                    ));
                }
                self.grouping()?;
            }
            Ok(())
        }

        fn vector_aggregation(&mut self, f: &str) -> Result<(), String> {
            let grouped = self.grouping()?;
            self.expect_op("(")?;
            if f == "topk" || f == "bottomk" {
                match self.next() {
                    Some(Tok::Num(_)) => {}
                    other => return Err(format!("{f}: expected a count, found {other:?}")),
                }
                self.expect_op(",")?;
            }
            self.metric_expr()?;
            self.expect_op(")")?;
            if !grouped {
                self.grouping()?;
            }
            Ok(())
        }

        /// An optional `by (...)` or `without (...)`; returns whether there was one.
        fn grouping(&mut self) -> Result<bool, String> {
            if !(self.is_ident("by") || self.is_ident("without")) {
                return Ok(false);
            }
            self.pos += 1;
            self.expect_op("(")?;
            loop {
                self.ident()?;
                if !self.is_op(",") {
                    break;
                }
                self.pos += 1;
            }
            self.expect_op(")")?;
            Ok(true)
        }
    }

    /// A LogQL regular expression (RE2 syntax, which the regex crate shares); matchers in
    /// selectors and label filters are anchored at both ends.
    fn regex(pattern: &str, anchored: bool) -> Result<Regex, String> {
        let full = if anchored {
            format!("^(?:{pattern})$")
        } else {
            pattern.to_owned()
        };
        Regex::new(&full).map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
    }
}

// === alert names ===

/// Words that look like alert names: capitalised, with a second capitalised part (`HighErrorRate`,
/// `PodCPUThrottling`, `OOMKilled`), not plain acronyms (`HTTP`, `APIs`).
fn camel_case_words(prose: &str) -> BTreeSet<String> {
    let hump = Regex::new(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]{2}").unwrap();
    Regex::new(r"\b[A-Z][A-Za-z0-9]*\b")
        .unwrap()
        .find_iter(prose)
        .map(|m| m.as_str())
        .filter(|w| hump.is_match(w))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_alert_the_documents_name_exists() {
    let alerts = alert_names();
    for name in NOT_ALERTS {
        assert!(
            !alerts.contains(*name) && !COMING_ALERTS.contains(name),
            "{name} is an alert: remove it from NOT_ALERTS"
        );
    }
    for name in DOCS {
        let (_, prose) = split_markdown(name, &doc(name));
        let words = camel_case_words(&prose);
        let removed: Vec<&String> = words
            .iter()
            .filter(|w| REMOVED_ALERTS.contains(&w.as_str()))
            .collect();
        assert!(
            removed.is_empty(),
            "monitoring/docs/{name} names alerts being removed: {removed:?}"
        );
        let unknown: Vec<&String> = words
            .iter()
            .filter(|w| {
                !alerts.contains(*w)
                    && !COMING_ALERTS.contains(&w.as_str())
                    && !NOT_ALERTS.contains(&w.as_str())
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "monitoring/docs/{name} names {unknown:?}: no alert of that name in prometheus/rules/ \
             (a word not meant as an alert name goes in NOT_ALERTS)"
        );
        let named = words.iter().filter(|w| alerts.contains(*w)).count();
        if name == "scenarios.md" || name == "escalation.md" {
            assert!(named >= 15, "{name} names only {named} alerts");
        }
    }
}

#[test]
fn the_alert_name_finder_sees_alerts_and_skips_code() {
    let text = "Act on `HighErrorRate`, then PodCrashLoopBackOff; not HTTP or Jaeger.\n\
                ```sh\nkubectl get NoSuchAlert\n```\n";
    let (blocks, prose) = split_markdown("x.md", text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].lang, "sh");
    assert_eq!(
        camel_case_words(&prose),
        ["HighErrorRate", "PodCrashLoopBackOff"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

// === what each guide must cover ===

fn headings(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .collect()
}

#[test]
fn the_dashboard_guide_covers_every_dashboard_row_and_panel() {
    let (_, prose) = split_markdown("dashboards.md", &doc("dashboards.md"));
    let headings = headings(&prose);
    let dir = monitoring().join("grafana/dashboards");
    let mut missing = Vec::new();
    let mut panels = 0;
    for entry in fs::read_dir(&dir).expect("the dashboards directory") {
        let path = entry.expect("directory entry").path();
        let json: serde_json::Value = serde_json::from_str(&read(&path)).expect("dashboard JSON");
        let title = json["title"].as_str().expect("a dashboard title");
        if !headings.contains(title) {
            missing.push(format!("## {title}"));
        }
        let mut stack: Vec<&serde_json::Value> =
            json["panels"].as_array().into_iter().flatten().collect();
        while let Some(panel) = stack.pop() {
            stack.extend(panel["panels"].as_array().into_iter().flatten());
            let name = panel["title"].as_str().expect("a panel title");
            let heading = if panel["type"] == "row" {
                format!("{name} row")
            } else {
                panels += 1;
                name.to_owned()
            };
            if !headings.contains(&heading) {
                missing.push(format!("{title}: {heading}"));
            }
        }
    }
    assert!(panels >= 40, "only {panels} panels found");
    assert!(
        missing.is_empty(),
        "dashboards.md has no heading for: {missing:#?}"
    );
}

#[test]
fn the_escalation_guide_follows_the_alertmanager_routes() {
    let config = yaml(&monitoring().join("alertmanager/alertmanager.yml"));
    let text = doc("escalation.md");
    let mut severities = 0;
    for route in config["route"]["routes"].as_sequence().expect("routes") {
        let receiver = route["receiver"].as_str().expect("a receiver");
        for matcher in route["matchers"].as_sequence().into_iter().flatten() {
            let matcher = matcher.as_str().expect("a matcher string");
            if let Some((label, value)) = matcher.split_once('=') {
                let value = value.trim_matches('"');
                match label {
                    "severity" => {
                        severities += 1;
                        let row = format!("| `{value}` | `{receiver}` |");
                        assert!(
                            text.lines().any(|l| l.starts_with(&row)),
                            "escalation.md: no table row starting with {row}"
                        );
                    }
                    "alertname" => assert!(
                        text.contains(&format!("`{value}`")),
                        "escalation.md does not explain the route of {value}"
                    ),
                    _ => {}
                }
            }
        }
    }
    assert_eq!(severities, 3, "critical, warning and info routes");
    for receiver in config["receivers"].as_sequence().expect("receivers") {
        for slack in receiver["slack_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let channel = slack["channel"].as_str().expect("a channel");
            assert!(
                text.contains(channel),
                "escalation.md does not name {channel}"
            );
        }
    }
}

#[test]
fn the_log_to_trace_guide_uses_the_provisioned_links() {
    let datasources = yaml(&monitoring().join("grafana/provisioning/datasources.yaml"));
    let text = doc("log-to-trace.md");
    let (_, metadata) = alloy_labels();
    let by_uid = |uid: &str| -> Yaml {
        datasources["datasources"]
            .as_sequence()
            .expect("datasources")
            .iter()
            .find(|d| d["uid"].as_str() == Some(uid))
            .cloned()
            .unwrap_or_else(|| panic!("no data source with uid {uid}"))
    };
    let loki = by_uid("loki");
    let derived = loki["jsonData"]["derivedFields"]
        .as_sequence()
        .expect("Loki derived fields");
    for field in derived {
        let label = field["urlDisplayLabel"].as_str().expect("urlDisplayLabel");
        assert!(
            text.contains(label),
            "log-to-trace.md does not name the {label:?} link"
        );
        let key = field["matcherRegex"].as_str().expect("matcherRegex");
        assert!(
            metadata.contains(key),
            "the derived field reads {key}, which Alloy does not attach"
        );
    }
    for destination in by_uid("prometheus")["jsonData"]["exemplarTraceIdDestinations"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let label = destination["urlDisplayLabel"]
            .as_str()
            .unwrap_or("Query with Jaeger");
        assert!(
            doc("dashboards.md").contains(label) && text.contains(label),
            "the exemplar link {label:?} is not named in the guides"
        );
    }
    // The provisioned trace-to-logs query, with a real trace id in place of the variable.
    let to_logs = by_uid("jaeger")["jsonData"]["tracesToLogsV2"]["query"]
        .as_str()
        .expect("the trace-to-logs query")
        .replace("$$", "$");
    let pattern = regex::escape(&to_logs).replace(r"\$\{__trace\.traceId\}", "[0-9a-f]{32}");
    let shape = Regex::new(&format!("^{pattern}$")).unwrap();
    assert!(
        doc_queries("logql")
            .iter()
            .any(|q| q.place.starts_with("log-to-trace.md") && shape.is_match(&q.text)),
        "log-to-trace.md shows no example of the provisioned query {to_logs}"
    );
    for query in ["trace_id=", "request_id="] {
        assert!(
            doc_queries("logql")
                .iter()
                .any(|q| q.place.starts_with("log-to-trace.md") && q.text.contains(query)),
            "log-to-trace.md has no LogQL query by {query}"
        );
    }
    assert!(text.contains("not JSON") && text.contains("trace_sampled"));
}

#[test]
fn the_namespaces_the_documents_name_exist() {
    let mut defined = BTreeSet::new();
    let text = read(&monitoring().join("namespace/namespaces.yaml"));
    for document in serde_norway::Deserializer::from_str(&text) {
        let value: Yaml = serde::Deserialize::deserialize(document).expect("a YAML document");
        defined.insert(
            value["metadata"]["name"]
                .as_str()
                .expect("a name")
                .to_owned(),
        );
    }
    let names = Regex::new(r"octollm-monitoring(-[a-z]+)*").unwrap();
    let mut files: Vec<(String, String)> = DOCS.iter().map(|n| (n.to_string(), doc(n))).collect();
    files.push((
        "RUNBOOK.md".to_owned(),
        read(&monitoring().join("RUNBOOK.md")),
    ));
    for (file, text) in files {
        for found in names.find_iter(&text) {
            assert!(
                defined.contains(found.as_str()),
                "{file} names namespace {}; the stack defines {defined:?}",
                found.as_str()
            );
        }
    }
}
