//! The trace pipeline: sampler, resource and the crate's batch processor on the export
//! runtime.

use std::sync::Arc;

use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use super::console::ConsoleExporter;
use super::exporter::{AnyExporter, ExporterFactory};
use super::processor::{BatchProcessor, Counters, WarnSink};
use super::runtime::ExportRuntime;
use crate::config::{Sampler, TracesExport, TracesPlan};
use crate::error::InitError;

/// Builds the tracer provider. With no exporter, spans are still created (and their ids
/// logged and propagated) but not exported.
pub(crate) fn provider(
    plan: &TracesPlan,
    sampler: Sampler,
    resource: &Resource,
    runtime: &ExportRuntime,
    counters: &Arc<Counters>,
    warn_sink: &WarnSink,
    flush_timeout: std::time::Duration,
) -> Result<SdkTracerProvider, InitError> {
    let make: ExporterFactory = match &plan.export {
        TracesExport::None => {
            return Ok(SdkTracerProvider::builder()
                .with_sampler(sampler.to_sdk())
                .with_resource(resource.clone())
                .build())
        }
        TracesExport::Console => Box::new(|| Ok(AnyExporter::Console(ConsoleExporter::default()))),
        TracesExport::Otlp(settings) => {
            let settings = settings.clone();
            let handle = runtime.handle().clone();
            Box::new(move || AnyExporter::otlp(&settings, handle))
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
        .with_sampler(sampler.to_sdk())
        .with_resource(resource.clone())
        .with_span_processor(processor)
        .build())
}
