//! The trace pipeline: sampler, resource and the crate's batch processor on the export
//! runtime.

use std::sync::Arc;

use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use super::console::ConsoleExporter;
use super::exporter::{AnyExporter, ExporterFactory};
use super::processor::{BatchProcessor, Counters, WarnSink};
use super::runtime::ExportRuntime;
use crate::config::{TracesExport, TracesPlan};
use crate::error::InitError;
use crate::user_exporter::UserExporter;

/// Builds the tracer provider. With no exporter, spans are still created (and their ids
/// logged and propagated) but not exported.
pub(crate) fn provider(
    plan: &TracesPlan,
    resource: &Resource,
    runtime: &ExportRuntime,
    counters: &Arc<Counters>,
    warn_sink: &WarnSink,
    flush_timeout: std::time::Duration,
    user: Option<UserExporter>,
) -> Result<SdkTracerProvider, InitError> {
    let make: ExporterFactory = match &plan.export {
        TracesExport::None => {
            return Ok(SdkTracerProvider::builder()
                .with_sampler(plan.sampler.to_sdk())
                .with_resource(resource.clone())
                .build())
        }
        TracesExport::Console => Box::new(|| Ok(AnyExporter::Console(ConsoleExporter::default()))),
        TracesExport::Custom => {
            // The plan is `Custom` only when code gave an exporter.
            let user = user.ok_or_else(|| {
                InitError::exporter(crate::error::Signal::Traces, "no span exporter was given")
            })?;
            Box::new(move || Ok(AnyExporter::User(user)))
        }
        TracesExport::Otlp(settings) => {
            let settings = settings.clone();
            let handle = runtime.handle().clone();
            let rejecter = counters.rejecter(crate::error::Signal::Traces);
            let warn_sink = Arc::clone(warn_sink);
            Box::new(move || AnyExporter::otlp(&settings, handle, rejecter, warn_sink))
        }
    };
    let processor = BatchProcessor::spawn(
        runtime,
        make,
        resource,
        plan.batch,
        Arc::clone(counters),
        Arc::clone(warn_sink),
        flush_timeout,
    )?;
    Ok(SdkTracerProvider::builder()
        .with_sampler(plan.sampler.to_sdk())
        .with_resource(resource.clone())
        .with_span_processor(processor)
        .build())
}
