//! The metric pipeline: the meter provider with an OTLP or Prometheus reader, and the span
//! pipeline's own counters as observable instruments.

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, SdkMeterProvider};

use super::exemplars::Exemplars;
use super::names::{LABEL_REASON, REASON_EXPORT_FAILED, REASON_QUEUE_FULL, REASON_REJECTED};
use crate::config::MetricsPlan;
use crate::error::{InitError, Signal};
use crate::export::{Counters, ExportContext, ExportRuntime, ExportStats, WarnSink};
use crate::shared::SCOPE;

/// A built meter provider, and the registry it fills when metrics are served for Prometheus.
#[derive(Debug)]
pub(crate) struct MeterPipeline {
    pub(crate) provider: SdkMeterProvider,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<prometheus::Registry>,
}

/// Builds the meter provider of `plan` and registers the span pipeline's counters; `None`
/// when metrics are off.
pub(crate) fn provider(
    plan: &MetricsPlan,
    ctx: &ExportContext<'_>,
    exemplars: Option<&Exemplars>,
) -> Result<Option<MeterPipeline>, InitError> {
    let ExportContext {
        resource,
        runtime,
        counters,
        warn_sink,
        ..
    } = *ctx;
    let builder = SdkMeterProvider::builder().with_resource(resource.clone());
    #[cfg(feature = "prometheus")]
    let mut registry = None;
    let builder = match plan {
        MetricsPlan::None => return Ok(None),
        MetricsPlan::Otlp { otlp, interval } => {
            let report = (Arc::clone(counters), Arc::clone(warn_sink));
            otlp_reader(
                builder,
                otlp,
                *interval,
                runtime,
                report,
                exemplars.cloned(),
            )?
        }
        MetricsPlan::Prometheus => {
            #[cfg(feature = "prometheus")]
            {
                let new = prometheus::Registry::new();
                let builder = prometheus_reader(builder, new.clone())?;
                registry = Some(new);
                builder
            }
            #[cfg(not(feature = "prometheus"))]
            return Err(no_prometheus());
        }
    };
    let provider = builder.build();
    register_pipeline_counters(&provider, counters);
    Ok(Some(MeterPipeline {
        provider,
        #[cfg(feature = "prometheus")]
        prometheus: registry,
    }))
}

#[cfg(feature = "_otlp")]
fn otlp_reader(
    builder: MeterProviderBuilder,
    otlp: &crate::config::OtlpSettings,
    interval: std::time::Duration,
    runtime: &ExportRuntime,
    (counters, warn_sink): (Arc<Counters>, WarnSink),
    exemplars: Option<Exemplars>,
) -> Result<MeterProviderBuilder, InitError> {
    let settings = otlp.clone();
    let handle = runtime.handle().clone();
    let error = |e| InitError::exporter(Signal::Metrics, e);
    let report = crate::export::otlp::Report::new(
        Signal::Metrics,
        otlp,
        counters.rejecter(Signal::Metrics),
        warn_sink,
    );
    let exporter = runtime
        .run_on(move || {
            crate::export::otlp::metrics::MetricExporter::new(&settings, handle, report, exemplars)
        })
        .map_err(error)?
        .map_err(error)?;
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
        .with_interval(interval)
        .build();
    Ok(builder.with_reader(reader))
}

#[cfg(not(feature = "_otlp"))]
fn otlp_reader(
    _builder: MeterProviderBuilder,
    otlp: &crate::config::OtlpSettings,
    _interval: std::time::Duration,
    _runtime: &ExportRuntime,
    _report: (Arc<Counters>, WarnSink),
    _exemplars: Option<Exemplars>,
) -> Result<MeterProviderBuilder, InitError> {
    Err(InitError::exporter(
        Signal::Metrics,
        crate::export::otlp::missing_feature(otlp),
    ))
}

#[cfg(feature = "prometheus")]
fn prometheus_reader(
    builder: MeterProviderBuilder,
    registry: prometheus::Registry,
) -> Result<MeterProviderBuilder, InitError> {
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry)
        .scope_info_enabled(false)
        .build()
        .map_err(|e| InitError::exporter(Signal::Metrics, e))?;
    Ok(builder.with_reader(exporter))
}

#[cfg(not(feature = "prometheus"))]
fn no_prometheus() -> InitError {
    InitError::Config(crate::error::ConfigError::new(
        crate::config::vars::OTEL_METRICS_EXPORTER,
        "prometheus",
        "otlp or none: this build has no `prometheus` cargo feature",
    ))
}

fn register_pipeline_counters(provider: &SdkMeterProvider, counters: &Arc<Counters>) {
    let meter = provider.meter(SCOPE);
    let observe = |name: &'static str, description: &'static str, read: fn(&ExportStats) -> u64| {
        let counters = Arc::clone(counters);
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_callback(move |observer| observer.observe(read(&counters.snapshot()), &[]))
            .build();
    };
    let by_reason =
        |name: &'static str, description: &'static str, read: fn(&ExportStats) -> [u64; 3]| {
            let counters = Arc::clone(counters);
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(move |observer| {
                    let counts = read(&counters.snapshot());
                    let reasons = [REASON_QUEUE_FULL, REASON_EXPORT_FAILED, REASON_REJECTED];
                    for (count, reason) in counts.into_iter().zip(reasons) {
                        observer.observe(count, &[KeyValue::new(LABEL_REASON, reason)]);
                    }
                })
                .build();
        };
    by_reason(
        "octollm.telemetry.spans.dropped",
        "Spans that never reached the collector, by reason",
        |s| [s.dropped_spans, s.failed_spans, s.rejected_spans],
    );
    by_reason(
        "octollm.telemetry.logs.dropped",
        "Log records that never reached the collector, by reason",
        |s| [s.dropped_logs, s.failed_logs, s.rejected_logs],
    );
    observe(
        "octollm.telemetry.log_lines.dropped",
        "Log lines not written to stdout: its buffer was full or the write failed",
        |s| s.dropped_log_lines,
    );
    observe(
        "octollm.telemetry.logs.exported",
        "Log records accepted by the collector",
        |s| s.exported_logs,
    );
    observe(
        "octollm.telemetry.spans.exported",
        "Spans accepted by the collector",
        |s| s.exported_spans,
    );
    observe(
        "octollm.telemetry.export.failures",
        "Span export requests that failed or timed out",
        |s| s.failed_exports,
    );
}
