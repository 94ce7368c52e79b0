//! Lints the Grafana dashboards under `monitoring/grafana/dashboards/`.
//!
//! The rules follow Grafana's dashboard-linter and the mistakes of the dashboards this stack
//! replaces: fixed uids, read-only dashboards, a data source variable used by every panel and
//! query, an explicit unit on every data panel, `$__rate_interval` in every PromQL
//! rate/irate/increase (`$__auto` or `$__range` for LogQL ranges), PromQL that parses, and
//! only metric names declared in `monitoring/metric-contract.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use promql_parser::parser::{self, Expr};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{self, promql};

/// Panel types that show no numeric values, so a unit means nothing for them.
const UNITLESS_PANELS: &[&str] = &["row", "logs", "text", "news", "dashlist"];

/// Stands in for `$__rate_interval` when checking that rates use it: a range nobody writes.
const RATE_INTERVAL_SENTINEL: &str = "987s";

struct Dashboard {
    file: String,
    json: Value,
}

impl Dashboard {
    /// "prometheus" or "loki": the type the `datasource` variable selects.
    fn kind(&self) -> &str {
        datasource_variable(&self.json)
            .and_then(|v| v["query"].as_str())
            .unwrap_or("")
    }
}

fn dashboards() -> Vec<Dashboard> {
    let dir = support::repo_root().join("monitoring/grafana/dashboards");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    let out: Vec<Dashboard> = files
        .into_iter()
        .map(|path| {
            assert_eq!(
                path.extension().and_then(|e| e.to_str()),
                Some("json"),
                "only dashboard JSON files belong in {}",
                dir.display()
            );
            let text = fs::read_to_string(&path).expect("read dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
            Dashboard {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                json,
            }
        })
        .collect();
    assert!(out.len() >= 4, "expected the four OctoLLM dashboards");
    out
}

/// Every panel, including those nested in collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn collect<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            collect(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    collect(&dashboard["panels"], &mut out);
    out
}

fn datasource_variable(dashboard: &Value) -> Option<&Value> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["type"] == "datasource")
}

fn is_datasource_variable_ref(ds: &Value) -> bool {
    ds["uid"] == "${datasource}" || ds["uid"] == "$datasource"
}

/// Every query expression of the dashboard, with where it comes from.
fn queries(d: &Dashboard) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(&d.json) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or("?");
                out.push((format!("{} / {title}", d.file), expr.to_string()));
            }
        }
    }
    out
}

/// Replaces Grafana's variables by values PromQL accepts: the interval variables by durations,
/// every other variable (they only appear inside label matcher strings) by a plain word.
fn substitute(expr: &str, rate_interval: &str) -> String {
    let vars = Regex::new(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]").unwrap();
    vars.replace_all(expr, |c: &regex::Captures<'_>| {
        let name = c
            .get(1)
            .or_else(|| c.get(2))
            .or_else(|| c.get(3))
            .unwrap()
            .as_str();
        match name {
            "__rate_interval" => rate_interval.to_string(),
            "__interval" | "__auto" => "1m".to_string(),
            "__range" => "1h".to_string(),
            _ => "value".to_string(),
        }
    })
    .into_owned()
}

/// Calls of rate/irate/increase whose range is not the sentinel standing for `$__rate_interval`.
fn rates_without_rate_interval(expr: &Expr, sentinel: Duration, bad: &mut Vec<String>) {
    match expr {
        Expr::Call(call) => {
            if matches!(call.func.name, "rate" | "irate" | "increase") {
                match call.args.args.first().map(|a| a.as_ref()) {
                    Some(Expr::MatrixSelector(ms)) if ms.range == sentinel => {}
                    other => bad.push(format!(
                        "{}({:?})",
                        call.func.name,
                        other.map(|e| e.to_string())
                    )),
                }
            }
            for arg in &call.args.args {
                rates_without_rate_interval(arg, sentinel, bad);
            }
        }
        Expr::Aggregate(agg) => {
            rates_without_rate_interval(&agg.expr, sentinel, bad);
            if let Some(param) = &agg.param {
                rates_without_rate_interval(param, sentinel, bad);
            }
        }
        Expr::Binary(bin) => {
            rates_without_rate_interval(&bin.lhs, sentinel, bad);
            rates_without_rate_interval(&bin.rhs, sentinel, bad);
        }
        Expr::Unary(u) => rates_without_rate_interval(&u.expr, sentinel, bad),
        Expr::Paren(p) => rates_without_rate_interval(&p.expr, sentinel, bad),
        Expr::Subquery(s) => rates_without_rate_interval(&s.expr, sentinel, bad),
        _ => {}
    }
}

#[derive(Deserialize)]
struct Contract {
    metrics: Vec<ContractEntry>,
}

#[derive(Deserialize)]
struct ContractEntry {
    name: String,
}

fn contract_names() -> BTreeSet<String> {
    let path = support::repo_root().join("monitoring/metric-contract.yaml");
    let text = fs::read_to_string(&path).expect("read metric-contract.yaml");
    let contract: Contract =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    contract.metrics.into_iter().map(|m| m.name).collect()
}

#[test]
fn uids_are_fixed_unique_and_dashboards_read_only() {
    let mut uids = BTreeMap::new();
    for d in dashboards() {
        let uid = d.json["uid"].as_str().unwrap_or("");
        assert!(
            uid.starts_with("octollm-") && uid.len() <= 40,
            "{}: uid {uid:?} must be fixed, start with octollm- and fit Grafana's 40 characters",
            d.file
        );
        if let Some(other) = uids.insert(uid.to_string(), d.file.clone()) {
            panic!("{} and {other} share the uid {uid}", d.file);
        }
        assert_eq!(
            d.json["editable"], false,
            "{}: editable must be false",
            d.file
        );
        assert!(
            d.json["id"].is_null(),
            "{}: no instance-specific id",
            d.file
        );
        assert!(
            d.json["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("OctoLLM / ")),
            "{}: title",
            d.file
        );
    }
}

#[test]
fn every_dashboard_has_a_datasource_variable_with_a_fixed_default() {
    for d in dashboards() {
        let var = datasource_variable(&d.json)
            .unwrap_or_else(|| panic!("{}: no data source template variable", d.file));
        assert_eq!(var["name"], "datasource", "{}", d.file);
        let kind = d.kind();
        assert!(
            kind == "prometheus" || kind == "loki",
            "{}: data source type {kind:?}",
            d.file
        );
        // The provisioned data sources have the uids `prometheus` and `loki`.
        assert_eq!(
            var["current"]["value"], kind,
            "{}: default data source",
            d.file
        );
    }
}

#[test]
fn every_panel_and_query_uses_the_datasource_variable() {
    for d in dashboards() {
        for panel in panels(&d.json) {
            let title = panel["title"].as_str().unwrap_or("?");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                is_datasource_variable_ref(&panel["datasource"]),
                "{} / {title}: panel data source must be ${{datasource}}",
                d.file
            );
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert!(
                    target["datasource"].is_null()
                        || is_datasource_variable_ref(&target["datasource"]),
                    "{} / {title}: query data source must be ${{datasource}}",
                    d.file
                );
            }
        }
        for variable in d.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if variable["type"] == "query" {
                assert!(
                    is_datasource_variable_ref(&variable["datasource"]),
                    "{}: variable {} must query ${{datasource}}",
                    d.file,
                    variable["name"]
                );
            }
        }
    }
}

#[test]
fn every_data_panel_has_a_title_a_description_and_a_unit() {
    for d in dashboards() {
        for panel in panels(&d.json) {
            let kind = panel["type"].as_str().unwrap_or("");
            let title = panel["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{}: panel without a title", d.file);
            if kind == "row" {
                continue;
            }
            assert!(
                panel["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{} / {title}: no description",
                d.file
            );
            assert!(
                !panel["targets"].as_array().is_none_or(|t| t.is_empty()),
                "{} / {title}: no query",
                d.file
            );
            if UNITLESS_PANELS.contains(&kind) {
                continue;
            }
            let unit = panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("");
            assert!(!unit.is_empty(), "{} / {title}: no unit", d.file);
        }
    }
}

#[test]
fn every_promql_rate_uses_rate_interval_and_every_query_parses() {
    let sentinel = Duration::from_secs(987);
    let mut checked = 0;
    for d in dashboards().iter().filter(|d| d.kind() == "prometheus") {
        for (place, expr) in queries(d) {
            parser::parse(&substitute(&expr, "5m"))
                .unwrap_or_else(|e| panic!("{place}: PromQL does not parse: {e}\n{expr}"));
            let ast = parser::parse(&substitute(&expr, RATE_INTERVAL_SENTINEL))
                .unwrap_or_else(|e| panic!("{place}: {e}"));
            let mut bad = Vec::new();
            rates_without_rate_interval(&ast, sentinel, &mut bad);
            assert!(
                bad.is_empty(),
                "{place}: rate/irate/increase must use [$__rate_interval]: {bad:?}\n{expr}"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} PromQL queries found");
}

#[test]
fn every_metric_a_dashboard_reads_is_in_the_metric_contract() {
    let declared = contract_names();
    let label_values = Regex::new(r"^label_values\((.+),\s*\w+\)$").unwrap();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in dashboards().iter().filter(|d| d.kind() == "prometheus") {
        let mut exprs = queries(d);
        for variable in d.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let query = variable["query"].as_str().unwrap_or("");
            if variable["type"] == "query" {
                let inner = label_values.captures(query).unwrap_or_else(|| {
                    panic!(
                        "{}: variable query {query:?} is not label_values(selector, label)",
                        d.file
                    )
                });
                exprs.push((
                    format!("{} / ${}", d.file, variable["name"]),
                    inner[1].to_string(),
                ));
            }
        }
        for (place, expr) in exprs {
            let names = promql::metric_names(&substitute(&expr, "5m"))
                .unwrap_or_else(|e| panic!("{place}: {e}"));
            assert!(!names.is_empty(), "{place}: reads no metric");
            for name in names.into_iter().filter(|n| !declared.contains(n)) {
                missing.entry(name).or_default().push(place.clone());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metrics read by dashboards but absent from metric-contract.yaml: {missing:#?}"
    );
}

#[test]
fn logql_ranges_use_auto_or_range_and_selectors_are_not_empty() {
    let range = Regex::new(r"\[([^\]]*)\]").unwrap();
    let selector = Regex::new(r"\{([^}]*)\}").unwrap();
    let mut checked = 0;
    for d in dashboards().iter().filter(|d| d.kind() == "loki") {
        for (place, expr) in queries(d) {
            for cap in range.captures_iter(&expr) {
                assert!(
                    cap[1] == *"$__auto" || cap[1] == *"$__range",
                    "{place}: LogQL range [{}] must be [$__auto] (or [$__range] for a whole-range table)",
                    &cap[1]
                );
            }
            let sel = selector
                .captures(&expr)
                .unwrap_or_else(|| panic!("{place}: no stream selector"));
            assert!(
                sel[1].contains("namespace=~\"$namespace\""),
                "{place}: the stream selector must filter on $namespace"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} LogQL queries found");
}

#[test]
fn the_namespace_dashboard_is_one_templated_dashboard() {
    let all = dashboards();
    let ns = all
        .iter()
        .find(|d| d.json["uid"] == "octollm-namespace")
        .expect("the namespace dashboard");
    let var = ns.json["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "namespace")
        .expect("a $namespace variable");
    assert_eq!(var["type"], "query");
    for (place, expr) in queries(ns) {
        assert!(
            expr.contains("namespace=\"$namespace\""),
            "{place}: must select namespace=\"$namespace\""
        );
    }
    for d in &all {
        for (place, expr) in queries(d) {
            for hard in ["octollm-dev", "octollm-staging", "octollm-prod"] {
                assert!(!expr.contains(hard), "{place}: hard-coded namespace {hard}");
            }
        }
    }
}

#[test]
fn substitution_and_rate_check_catch_mistakes() {
    let sentinel = Duration::from_secs(987);
    let check = |expr: &str| {
        let ast = parser::parse(&substitute(expr, RATE_INTERVAL_SENTINEL)).expect("parses");
        let mut bad = Vec::new();
        rates_without_rate_interval(&ast, sentinel, &mut bad);
        bad
    };
    assert!(check(r#"sum(rate(a_total{ns="$namespace"}[$__rate_interval]))"#).is_empty());
    assert_eq!(check("sum(rate(a_total[5m]))").len(), 1);
    assert_eq!(
        check("increase(a_total[1h]) / irate(b_total[$__rate_interval])").len(),
        1
    );
    assert_eq!(check("rate(a_total[5m:1m])").len(), 1);
    assert_eq!(
        substitute(
            r#"x{a="${datasource}", b="$ns", c="[[old]]"}[$__range]"#,
            "5m"
        ),
        r#"x{a="value", b="value", c="value"}[1h]"#
    );
}

/// Grafana 13's schema: the table panel has no `options.footer`, and only Prometheus targets
/// read `format`; a Loki query grouped by level names the lines that have none, so the legend
/// has no unlabelled series.
#[test]
fn panels_keep_to_what_grafana_reads_and_label_every_series() {
    for d in dashboards() {
        for panel in panels(&d.json) {
            let title = panel["title"].as_str().unwrap_or("?");
            assert!(
                panel["options"].get("footer").is_none(),
                "{} / {title}: options.footer is gone from Grafana 13's table panel",
                d.file
            );
            if panel["datasource"]["type"] != "loki" {
                continue;
            }
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert!(
                    target.get("format").is_none(),
                    "{} / {title}: `format` is read by Prometheus targets only",
                    d.file
                );
                let expr = target["expr"].as_str().unwrap_or_default();
                if expr.contains("by (level)") {
                    assert!(
                        expr.contains(r#"level=~".+""#) && expr.contains(r#"level="""#),
                        "{} / {title}: lines without a level get a series of their own: {expr}",
                        d.file
                    );
                }
            }
        }
    }
}

/// The directory holding `node_modules/@grafana/schema` and `node_modules/.bin/tsc`, which
/// `scripts/test.sh` installs (`OCTOLLM_TEST_NODE_TOOLS`).
fn grafana_schema_tools() -> Option<PathBuf> {
    let found = std::env::var_os("OCTOLLM_TEST_NODE_TOOLS")
        .map(PathBuf::from)
        .filter(|d| {
            d.join("node_modules/@grafana/schema/package.json")
                .is_file()
                && d.join("node_modules/.bin/tsc").is_file()
        });
    if found.is_none() {
        // Fails under CI=true, skips loudly otherwise.
        support::require_tool("tsc with @grafana/schema (OCTOLLM_TEST_NODE_TOOLS)")?;
    }
    found
}

/// Every dashboard, and every panel's options and field config, checked by the TypeScript
/// compiler against Grafana's own published schema (`@grafana/schema`): an unknown or misspelt
/// field, or a value the schema does not allow, fails. Enums are compared as their string
/// values. Every field is optional (`J<T>`), so a field left out is not caught: the generated
/// types mark as required many fields that Grafana fills in with defaults (the stat panel's
/// `wideLayout`, the table's `frameIndex`, a link's `targetBlank`), so keeping them required
/// would reject dashboards that Grafana loads.
#[test]
fn every_dashboard_matches_grafanas_own_schema() {
    let Some(tools) = grafana_schema_tools() else {
        return;
    };
    let composable = tools.join("node_modules/@grafana/schema/dist/types/raw/composable");
    let mut imports = BTreeSet::new();
    let mut body = Vec::new();
    for d in dashboards() {
        let name = d.file.trim_end_matches(".json").replace('-', "_");
        body.push(format!("export const {name}: J<Dashboard> = {};", d.json));
        for panel in panels(&d.json) {
            let kind = panel["type"].as_str().unwrap_or_default();
            if !composable
                .join(kind)
                .join("panelcfg/x/types.gen.d.ts")
                .is_file()
            {
                continue;
            }
            imports.insert(kind.to_owned());
            let id = &panel["id"];
            body.push(format!(
                "export const {name}_{id}_options: J<{kind}.Options> = {};",
                panel["options"]
            ));
            let custom = &panel["fieldConfig"]["defaults"]["custom"];
            if !custom.is_null() {
                body.push(format!(
                    "export const {name}_{id}_custom: J<{kind}.FieldConfig> = {custom};"
                ));
            }
        }
    }
    assert!(
        imports.contains("timeseries") && imports.contains("table"),
        "{imports:?}"
    );
    let mut ts = vec![
        "import type { Dashboard } from '@grafana/schema';".to_owned(),
        "type J<T> = T extends string ? `${T}` : T extends (infer U)[] ? J<U>[] : \
         T extends object ? { [K in keyof T]?: J<T[K]> } : T;"
            .to_owned(),
    ];
    for kind in &imports {
        ts.push(format!(
            "import type * as {kind} from '@grafana/schema/dist/types/raw/composable/{kind}/panelcfg/x/types.gen';"
        ));
    }
    ts.extend(body);
    // Inside the tools directory, so that the compiler finds `node_modules`.
    let dir = tools.join(format!("dashboard-check-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("check.ts"), ts.join("\n")).unwrap();
    fs::write(
        dir.join("tsconfig.json"),
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"moduleResolution":"node","module":"commonjs","target":"es2020","skipLibCheck":true,"types":[]},"files":["check.ts"]}"#,
    )
    .unwrap();
    let output = std::process::Command::new(tools.join("node_modules/.bin/tsc"))
        .arg("-p")
        .arg(&dir)
        .output()
        .unwrap();
    let _ = fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "the dashboards do not match Grafana's schema:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
