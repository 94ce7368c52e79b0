//! The export pipelines: traces and log records through the crate's batch processor, and the
//! OTLP exporters they (and the metric pipeline, `crate::metrics`) drive on the export runtime.

pub(crate) mod bridge;
mod console;
mod exporter;
pub(crate) mod logs;
pub(crate) mod otlp;
mod processor;
mod runtime;
#[cfg(feature = "jaeger-remote")]
pub(crate) mod sampling;
pub(crate) mod traces;

pub use processor::ExportStats;
pub(crate) use processor::{Counters, ExportContext, SignalCounters, WarnSink};
#[cfg(feature = "jaeger-remote")]
pub use sampling::RemoteSampling;

pub(crate) use runtime::ExportRuntime;
