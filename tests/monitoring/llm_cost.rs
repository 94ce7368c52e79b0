//! The LLM price table and cost recording rules in `monitoring/prometheus/rules/`
//! (`gen-ai-prices.yaml`, `gen-ai-cost.yaml`): the table's shape, the rules' names and the
//! series they read. promtool runs their unit tests (`rules/tests/gen-ai-cost_test.yaml`) with
//! the alert rules' tests in `alert_rules.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use serde::Deserialize;

use crate::support::{self, promql};

const PRICE_SERIES: &str = "octollm:gen_ai_price_usd_per_million_tokens";

/// The token types a model has a price for, in the table's order.
const TOKEN_TYPES: [&str; 3] = ["input", "output", "cached_input"];

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    record: String,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn rules_dir() -> PathBuf {
    support::repo_root().join("monitoring/prometheus/rules")
}

fn load(file: &str) -> Vec<Rule> {
    let path = rules_dir().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let parsed: RuleFile =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    parsed.groups.into_iter().flat_map(|g| g.rules).collect()
}

fn contract_names() -> BTreeSet<String> {
    #[derive(Deserialize)]
    struct Contract {
        metrics: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: String,
    }
    let path = support::repo_root().join("monitoring/metric-contract.yaml");
    let text = std::fs::read_to_string(&path).expect("read metric-contract.yaml");
    let contract: Contract =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    contract.metrics.into_iter().map(|m| m.name).collect()
}

/// Every row is `vector(<non-negative number>)` with exactly the provider, model and token type
/// labels; every model has the three prices once; a cached input token costs no more than an
/// input token. A row listed twice would make the cost join fail at every evaluation.
#[test]
fn the_price_table_holds_three_prices_per_model() {
    let number = Regex::new(r"^vector\(\s*([0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?)\s*\)$").unwrap();
    let mut table: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for rule in load("gen-ai-prices.yaml") {
        assert_eq!(
            rule.record, PRICE_SERIES,
            "gen-ai-prices.yaml holds prices only"
        );
        let price: f64 = number
            .captures(rule.expr.trim())
            .unwrap_or_else(|| panic!("{:?}: a price is vector(<number>)", rule.labels))
            .get(1)
            .unwrap()
            .as_str()
            .parse()
            .expect("a number");
        assert!(
            price.is_finite() && price >= 0.0,
            "{:?}: {price}",
            rule.labels
        );
        let keys: Vec<&str> = rule.labels.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "gen_ai_provider_name",
                "gen_ai_request_model",
                "gen_ai_token_type"
            ],
            "{:?}: a price row carries exactly these labels",
            rule.labels
        );
        let token_type = rule.labels["gen_ai_token_type"].clone();
        assert!(
            TOKEN_TYPES.contains(&token_type.as_str()),
            "{:?}: token type {token_type} is not one of {TOKEN_TYPES:?}",
            rule.labels
        );
        let model = (
            rule.labels["gen_ai_provider_name"].clone(),
            rule.labels["gen_ai_request_model"].clone(),
        );
        let prices = table.entry(model.clone()).or_default();
        assert!(
            prices.insert(token_type.clone(), price).is_none(),
            "{model:?}: two {token_type} prices"
        );
    }
    assert!(table.len() >= 2, "only {} models priced", table.len());
    for (model, prices) in &table {
        let types: BTreeSet<&str> = prices.keys().map(String::as_str).collect();
        assert_eq!(
            types,
            BTreeSet::from(TOKEN_TYPES),
            "{model:?}: every model has an input, output and cached_input price"
        );
        assert!(
            prices["cached_input"] <= prices["input"],
            "{model:?}: cached input costs more than input"
        );
    }
}

/// Recording rules are named `level:metric:operations`, parse, and read only series of the
/// metric contract or of the two files; the contract lists every series they record, since the
/// dashboards read them.
#[test]
fn the_cost_rules_read_and_record_contract_series() {
    let declared = contract_names();
    let name = Regex::new(r"^octollm:[a-z0-9_]+:rate5m$").unwrap();
    let recorded: BTreeSet<String> = load("gen-ai-cost.yaml")
        .iter()
        .chain(load("gen-ai-prices.yaml").iter())
        .map(|r| r.record.clone())
        .collect();
    let cost = load("gen-ai-cost.yaml");
    assert!(cost.len() >= 3, "only {} cost rules", cost.len());
    for rule in &cost {
        assert!(
            name.is_match(&rule.record),
            "{}: not octollm:<metric>:rate5m",
            rule.record
        );
        assert!(rule.labels.is_empty(), "{}: no static labels", rule.record);
        let reads = promql::metric_names(&rule.expr)
            .unwrap_or_else(|e| panic!("{}: expression does not parse: {e}", rule.record));
        for metric in reads {
            assert!(
                declared.contains(&metric) || recorded.contains(&metric),
                "{}: reads {metric}, which is neither in the contract nor recorded",
                rule.record
            );
        }
    }
    for series in &recorded {
        assert!(
            declared.contains(series),
            "{series} is recorded but absent from metric-contract.yaml"
        );
    }
}

fn promtool_check(promtool: &Path, file: &str) {
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(rules_dir().join(file))
        .output()
        .unwrap_or_else(|e| panic!("run promtool: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("SUCCESS"),
        "promtool check rules {file}:\n{text}"
    );
}

#[test]
fn promtool_accepts_the_price_table_and_the_cost_rules() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    for file in ["gen-ai-prices.yaml", "gen-ai-cost.yaml"] {
        promtool_check(&promtool, file);
    }
}
