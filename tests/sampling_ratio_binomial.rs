//! `parentbased_traceidratio` with 0.25 keeps about a quarter of 2,000 new traces: the count
//! lies within 5 sigma of Binomial(2000, 0.25), and exactly the traces the application saw as
//! sampled are the ones the collector received.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{LogFormat, Sampler, TelemetryConfig};
use opentelemetry::trace::TraceContextExt as _;
use support::rotel::{LogCapture, Rotel};

const N: usize = 2000;
const RATIO: f64 = 0.25;

/// The decision of the SDK's `TraceIdRatioBased` sampler (opentelemetry_sdk 0.33): the low 63
/// bits of the trace id's last 8 bytes below `ratio * 2^63`.
fn ratio_keeps(trace_id: opentelemetry::trace::TraceId, ratio: f64) -> bool {
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..].try_into().unwrap());
    (low >> 1) < (ratio * (1u64 << 63) as f64) as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn ratio_quarter_keeps_a_binomial_share_of_new_traces() {
    let Some(rotel) = Rotel::start() else { return };
    let config = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "ratio-binomial"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .unwrap()
    .endpoint(rotel.grpc_endpoint())
    .log_format(LogFormat::Json)
    .log_writer(LogCapture::default());
    assert_eq!(
        config.effective().unwrap().sampler(),
        Sampler::ParentBasedTraceIdRatio(RATIO)
    );
    let guard = config.init().await.unwrap();

    let mut sampled = BTreeSet::new();
    let mut all = BTreeSet::new();
    for _ in 0..N {
        let root = tracing::info_span!("root");
        let sc = root.context().span().span_context().clone();
        assert!(sc.is_valid());
        assert_eq!(
            sc.is_sampled(),
            ratio_keeps(sc.trace_id(), RATIO),
            "the decision follows the trace id and the configured ratio"
        );
        all.insert(sc.trace_id().to_string());
        if sc.is_sampled() {
            sampled.insert(sc.trace_id().to_string());
        }
    }
    assert_eq!(all.len(), N, "every root starts a new trace");

    // Binomial(2000, 0.25): mean 500, sigma = sqrt(2000 * 0.25 * 0.75) ~ 19.36.
    let mean = N as f64 * RATIO;
    let sigma = (N as f64 * RATIO * (1.0 - RATIO)).sqrt();
    let (low, high) = (mean - 5.0 * sigma, mean + 5.0 * sigma);
    let kept = sampled.len() as f64;
    assert!(
        (low..=high).contains(&kept),
        "{kept} sampled of {N}, expected {mean} +- 5 sigma ({low:.0}..={high:.0})"
    );

    guard.force_flush().expect("flush");
    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, sampled.len() as u64, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");
    guard.shutdown().expect("shutdown");

    rotel.wait_for_spans(sampled.len(), Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    let received: BTreeSet<String> = spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(spans.len(), received.len(), "each trace once");
    assert_eq!(
        received, sampled,
        "the collector got exactly the sampled traces"
    );
}
