//! The log record pipeline (`OTEL_LOGS_EXPORTER`): the logger provider with the crate's batch
//! processor in front of an OTLP or console exporter, on the export runtime, with the same
//! guarantees as spans (bounded queue, never blocking, drops counted, flushed by shutdown
//! within its deadline).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider,
};
use opentelemetry_sdk::Resource;

use super::console::ConsoleLogExporter;
use super::processor::{
    BatchQueue, Counters, ExportContext, Rejecter, SignalCounters, Sink, WarnSink,
};
use crate::config::{LogExportPlan, LogsExport};
use crate::error::{BoxError, InitError, Signal};

/// The exporters of log records.
#[derive(Debug)]
enum AnyLogExporter {
    #[cfg(feature = "_otlp")]
    Otlp(Box<super::otlp::logs::LogExporter>),
    Console(ConsoleLogExporter),
}

impl LogExporter for AnyLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        match self {
            #[cfg(feature = "_otlp")]
            AnyLogExporter::Otlp(e) => e.export(batch).await,
            AnyLogExporter::Console(e) => e.export(batch).await,
        }
    }

    #[cfg_attr(
        not(feature = "_otlp"),
        allow(unused_variables, reason = "only the OTLP exporter takes it")
    )]
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            #[cfg(feature = "_otlp")]
            AnyLogExporter::Otlp(e) => e.shutdown_with_timeout(timeout),
            AnyLogExporter::Console(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            #[cfg(feature = "_otlp")]
            AnyLogExporter::Otlp(e) => e.set_resource(resource),
            AnyLogExporter::Console(e) => e.set_resource(resource),
        }
    }
}

/// One queued record with its scope.
type Item = Box<(SdkLogRecord, InstrumentationScope)>;

struct Logs(AnyLogExporter);

impl Sink for Logs {
    type Item = Item;

    fn counters(all: &Counters) -> &SignalCounters {
        &all.logs
    }

    fn warn_failed(error: &OTelSdkError, log_records: u64, failed_exports_total: u64) {
        tracing::warn!(
            target: "octollm_telemetry",
            error = %error,
            log_records,
            failed_exports_total,
            "log export failed; the log records of this batch are lost"
        );
    }

    fn warn_queue_full(dropped_logs_total: u64, since: u64, max_queue_size: usize) {
        tracing::warn!(
            target: "octollm_telemetry",
            dropped_logs_total,
            dropped_since_last_warning = since,
            max_queue_size,
            "log export queue full: log records dropped (raise OTEL_BLRP_MAX_QUEUE_SIZE or check the collector)"
        );
    }

    async fn export(&mut self, batch: Vec<Item>) -> OTelSdkResult {
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            batch.iter().map(|item| (&item.0, &item.1)).collect();
        self.0.export(LogBatch::new(&refs)).await
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// The [`LogProcessor`] that enqueues a copy of each record.
#[derive(Debug)]
struct LogQueue(BatchQueue<Item>);

impl LogProcessor for LogQueue {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        self.0.push(Box::new((record.clone(), scope.clone())));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// The logger provider of `plan`, or `None` when log records are not exported.
pub(crate) fn provider(
    plan: &LogExportPlan,
    ctx: &ExportContext<'_>,
) -> Result<Option<SdkLoggerProvider>, InitError> {
    let make: Box<dyn FnOnce() -> Result<AnyLogExporter, BoxError> + Send> = match &plan.export {
        LogsExport::None => return Ok(None),
        LogsExport::Console => {
            Box::new(|| Ok(AnyLogExporter::Console(ConsoleLogExporter::default())))
        }
        LogsExport::Otlp(settings) => {
            let settings = settings.clone();
            let handle = ctx.runtime.handle().clone();
            let rejecter = ctx.counters.rejecter(Signal::Logs);
            let warn_sink = Arc::clone(ctx.warn_sink);
            Box::new(move || otlp(&settings, handle, rejecter, warn_sink))
        }
    };
    let error = |e| InitError::exporter(Signal::Logs, e);
    let mut exporter = ctx.runtime.run_on(make).map_err(error)?.map_err(error)?;
    exporter.set_resource(ctx.resource);
    let queue = BatchQueue::spawn(ctx, Logs(exporter), plan.batch);
    Ok(Some(
        SdkLoggerProvider::builder()
            .with_resource(ctx.resource.clone())
            .with_log_processor(LogQueue(queue))
            .build(),
    ))
}

#[cfg_attr(
    not(feature = "_otlp"),
    allow(clippy::needless_pass_by_value, reason = "the transports take it")
)]
fn otlp(
    settings: &crate::config::OtlpSettings,
    runtime: tokio::runtime::Handle,
    rejecter: Rejecter,
    warn_sink: WarnSink,
) -> Result<AnyLogExporter, BoxError> {
    #[cfg(feature = "_otlp")]
    {
        let report = super::otlp::Report::new(Signal::Logs, settings, rejecter, warn_sink);
        super::otlp::logs::LogExporter::new(settings, runtime, report)
            .map(|e| AnyLogExporter::Otlp(Box::new(e)))
    }
    #[cfg(not(feature = "_otlp"))]
    {
        drop((runtime, rejecter, warn_sink));
        Err(super::otlp::missing_feature(settings))
    }
}
