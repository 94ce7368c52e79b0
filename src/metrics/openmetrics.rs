//! The OpenMetrics text format (<https://prometheus.io/docs/specs/om/open_metrics_spec/>) of a
//! Prometheus registry, with the exemplars of the server duration histogram: what the endpoint
//! answers a scraper that asks for `application/openmetrics-text`.

use std::fmt::Write as _;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::exemplars::{self, Exemplars};

/// The families whose buckets carry exemplars, with their bucket bounds.
const WITH_EXEMPLARS: [(&str, &[f64]); 4] = [
    (
        "rpc_server_call_duration_seconds",
        super::buckets::DURATION_BUCKETS,
    ),
    (
        "rpc_client_call_duration_seconds",
        super::buckets::DURATION_BUCKETS,
    ),
    (
        "http_server_request_duration_seconds",
        super::buckets::DURATION_BUCKETS,
    ),
    (
        "gen_ai_client_operation_duration_seconds",
        &crate::genai::names::DURATION_BUCKETS,
    ),
];

/// `families` in the OpenMetrics text format, ending with `# EOF`, the server duration
/// buckets with the exemplars of `exemplars`.
pub(crate) fn encode(families: &[MetricFamily], exemplars: Option<&Exemplars>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for family in families {
        let name = family.name();
        let (kind, family_name) = match family.get_field_type() {
            MetricType::COUNTER => ("counter", name.strip_suffix("_total").unwrap_or(name)),
            MetricType::GAUGE => ("gauge", name),
            MetricType::HISTOGRAM => ("histogram", name),
            MetricType::SUMMARY => ("summary", name),
            MetricType::UNTYPED => ("unknown", name),
        };
        let _ = writeln!(out, "# TYPE {family_name} {kind}");
        if !family.help().is_empty() {
            let _ = writeln!(out, "# HELP {family_name} {}", escape(family.help(), false));
        }
        for metric in family.get_metric() {
            let exemplars = WITH_EXEMPLARS
                .iter()
                .find(|(family, _)| *family == family_name)
                .and_then(|(_, buckets)| exemplars.map(|store| (store, *buckets)));
            family_sample(
                &mut out,
                family_name,
                family.get_field_type(),
                metric,
                exemplars,
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The samples of one metric of a family of `kind` (a histogram's with `exemplars`).
fn family_sample(
    out: &mut String,
    family_name: &str,
    kind: MetricType,
    metric: &Metric,
    exemplars: Option<(&Exemplars, &[f64])>,
) {
    let labels = metric.get_label();
    match kind {
        MetricType::COUNTER => {
            sample(
                out,
                &format!("{family_name}_total"),
                labels,
                None,
                metric.get_counter().get_value(),
            );
        }
        MetricType::GAUGE => {
            sample(
                out,
                family_name,
                labels,
                None,
                metric.get_gauge().get_value(),
            );
        }
        MetricType::HISTOGRAM => histogram(out, family_name, metric, exemplars),
        MetricType::SUMMARY => {
            let s = metric.get_summary();
            for q in s.get_quantile() {
                let quantile = float(q.quantile());
                sample(
                    out,
                    family_name,
                    labels,
                    Some(("quantile", &quantile)),
                    q.value(),
                );
            }
            sample(
                out,
                &format!("{family_name}_sum"),
                labels,
                None,
                s.sample_sum(),
            );
            #[allow(clippy::cast_precision_loss, reason = "a sample count")]
            sample(
                out,
                &format!("{family_name}_count"),
                labels,
                None,
                s.sample_count() as f64,
            );
        }
        #[allow(
            deprecated,
            reason = "the OpenTelemetry exporter writes no untyped metric"
        )]
        MetricType::UNTYPED => {
            sample(
                out,
                family_name,
                labels,
                None,
                metric.get_untyped().get_value(),
            );
        }
    }
}

/// The samples of a histogram, its buckets (of bounds `buckets`) with the exemplars of
/// `store`.
fn histogram(
    out: &mut String,
    name: &str,
    metric: &Metric,
    exemplars: Option<(&Exemplars, &[f64])>,
) {
    let labels = metric.get_label();
    let h = metric.get_histogram();
    let buckets = exemplars.map_or(&[][..], |(_, b)| b);
    let slots = exemplars.and_then(|(store, _)| {
        store.of_series(exemplars::series_of(
            labels.iter().map(|l| (l.name(), l.value())),
        ))
    });
    let bucket = format!("{name}_bucket");
    let mut saw_inf = false;
    for b in h.get_bucket() {
        let bound = b.upper_bound();
        saw_inf |= bound.is_infinite();
        let le = float(bound);
        let exemplar = slots
            .as_ref()
            .and_then(|s| exemplars::slot_of_bound(buckets, bound).and_then(|i| s[i]));
        #[allow(clippy::cast_precision_loss, reason = "a bucket count")]
        let count = b.cumulative_count() as f64;
        line(out, &bucket, labels, Some(("le", &le)), count);
        if let Some(e) = exemplar {
            push_exemplar(out, &e);
        }
        out.push('\n');
    }
    #[allow(clippy::cast_precision_loss, reason = "a sample count")]
    let count = h.get_sample_count() as f64;
    if !saw_inf {
        line(out, &bucket, labels, Some(("le", "+Inf")), count);
        if let Some(e) = slots.as_ref().and_then(|s| s[exemplars::SLOTS - 1]) {
            push_exemplar(out, &e);
        }
        out.push('\n');
    }
    sample(
        out,
        &format!("{name}_sum"),
        labels,
        None,
        h.get_sample_sum(),
    );
    sample(out, &format!("{name}_count"), labels, None, count);
}

#[allow(
    clippy::cast_precision_loss,
    reason = "a time in seconds, as OpenMetrics writes it"
)]
fn seconds(unix_nano: u64) -> f64 {
    unix_nano as f64 / 1e9
}

fn push_exemplar(out: &mut String, e: &exemplars::Exemplar) {
    let mut trace = [0u8; 32];
    let mut span = [0u8; 16];
    crate::shared::hex_into(&e.trace_id, &mut trace);
    crate::shared::hex_into(&e.span_id, &mut span);
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}",
        std::str::from_utf8(&trace).unwrap_or_default(),
        std::str::from_utf8(&span).unwrap_or_default(),
        float(e.value),
        float(seconds(e.time_unix_nano)),
    );
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    line(out, name, labels, extra, value);
    out.push('\n');
}

/// `name{labels} value`, without the line end.
fn line(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let pairs = labels.iter().map(|l| (l.name(), l.value())).chain(extra);
        for (i, (k, v)) in pairs.enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v, true));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&float(value));
}

/// A number as OpenMetrics writes it: `+Inf`, `-Inf`, `NaN`, integers with `.0` for `le`.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        ryu::Buffer::new().format(v).to_owned()
    }
}

/// Escapes `\`, newlines and (in label values) `"`.
fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(escape("a\"b\\c\nd", true), "a\\\"b\\\\c\\nd");
        assert_eq!(escape("a\"b", false), "a\"b");
    }
}
