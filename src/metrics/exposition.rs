//! A Prometheus registry in the two exposition formats a scraper can ask for: the Prometheus
//! text format (the `prometheus` crate's encoder) and OpenMetrics with exemplars
//! (`openmetrics.rs`).

use prometheus::Encoder as _;

use super::exemplars::Exemplars;
use super::openmetrics;

/// `registry` in the Prometheus text format.
pub(crate) fn text(registry: &prometheus::Registry) -> Option<String> {
    let mut out = Vec::with_capacity(8 * 1024);
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .ok()?;
    String::from_utf8(out).ok()
}

/// `registry` in the OpenMetrics format, with the exemplars of `exemplars`.
pub(crate) fn openmetrics(
    registry: &prometheus::Registry,
    exemplars: Option<&Exemplars>,
) -> String {
    openmetrics::encode(&registry.gather(), exemplars)
}
