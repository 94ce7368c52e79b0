//! Metric names read by a PromQL expression, found by walking the `promql-parser` AST.
//!
//! A test file reaches it with `mod support;` and `support::promql::metric_names(..)`.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};

/// Every metric name selected anywhere in `expr` (vector and range selectors, function
/// arguments, aggregation parameters, subqueries).
///
/// # Errors
///
/// The parser's message when `expr` is not valid PromQL, or a message naming the selector when
/// a selector has no fixed metric name (for example `{__name__=~"foo.*"}`), because such a
/// selector cannot be checked against a list of names.
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr)?;
    let mut names = BTreeSet::new();
    walk(&ast, &mut names)?;
    Ok(names)
}

fn walk(expr: &Expr, names: &mut BTreeSet<String>) -> Result<(), String> {
    match expr {
        Expr::Aggregate(agg) => {
            walk(&agg.expr, names)?;
            if let Some(param) = &agg.param {
                walk(param, names)?;
            }
        }
        Expr::Unary(unary) => walk(&unary.expr, names)?,
        Expr::Binary(binary) => {
            walk(&binary.lhs, names)?;
            walk(&binary.rhs, names)?;
        }
        Expr::Paren(paren) => walk(&paren.expr, names)?,
        Expr::Subquery(sub) => walk(&sub.expr, names)?,
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, names)?;
            }
        }
        Expr::VectorSelector(vs) => selector_name(vs, names)?,
        Expr::MatrixSelector(ms) => selector_name(&ms.vs, names)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => return Err("unexpected extension node in the PromQL AST".into()),
    }
    Ok(())
}

fn selector_name(vs: &VectorSelector, names: &mut BTreeSet<String>) -> Result<(), String> {
    if let Some(name) = &vs.name {
        names.insert(name.clone());
        return Ok(());
    }
    let fixed = vs
        .matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal));
    match fixed {
        Some(m) => {
            names.insert(m.value.clone());
            Ok(())
        }
        None => Err(format!("selector `{vs}` has no fixed metric name")),
    }
}
