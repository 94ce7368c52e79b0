//! [`TelemetryGuard`]: keeps the pipelines running and shuts them down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::error::{ShutdownError, Signal};
use crate::export::{Counters, ExportRuntime, ExportStats};

/// Reads the span pipeline's counters; see [`TelemetryGuard::stats_handle`].
#[derive(Debug, Clone)]
pub struct StatsHandle(Arc<Counters>);

impl StatsHandle {
    /// The counters now.
    #[must_use]
    pub fn get(&self) -> ExportStats {
        self.0.snapshot()
    }
}

/// Keeps the telemetry pipelines running; flushes and stops them when shut down or dropped.
///
/// Hold it for the life of the service (`let _guard = …`, not `let _ = …`, which drops it at
/// once). [`shutdown`](Self::shutdown) reports what could not be flushed; dropping the guard
/// does the same flush, best effort, within the same deadline. Both work on any Tokio runtime
/// flavour and outside one: the export thread has its own runtime.
#[must_use = "dropping the guard shuts telemetry down; bind it: `let _guard = ...`"]
#[derive(Debug)]
pub struct TelemetryGuard {
    pub(crate) tracer_provider: Option<SdkTracerProvider>,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) logger_provider: Option<opentelemetry_sdk::logs::SdkLoggerProvider>,
    /// The stdout line queue, when the crate writes the log lines.
    pub(crate) log_lines: Option<crate::logs::LineQueue>,
    /// Dropped last: the exporters run on it until both providers are shut down.
    pub(crate) runtime: Option<ExportRuntime>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shutdown_timeout: Duration,
}

impl TelemetryGuard {
    /// Spans dropped so far, for any reason: because the export queue was full, or because
    /// the export request that carried them failed or timed out. A running count, equal to the
    /// spans produced minus those the collector received, and exposed as
    /// `octollm_telemetry_spans_dropped_total` (label `reason`); both causes are also reported
    /// by rate-limited warnings in the logs. [`export_stats`](Self::export_stats) has the
    /// breakdown.
    #[must_use]
    pub fn dropped_spans(&self) -> u64 {
        self.counters.snapshot().lost_spans()
    }

    /// A snapshot of the span pipeline's counters.
    #[must_use]
    pub fn export_stats(&self) -> ExportStats {
        self.counters.snapshot()
    }

    /// A handle that reads the span pipeline's counters, also after the guard is shut down
    /// (so the spans dropped or lost during shutdown can be reported).
    #[must_use]
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.counters))
    }

    /// Exports every finished span and the current metrics now, waiting at most the shutdown
    /// deadline.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when the deadline ran out, [`ShutdownError::Failed`] when the
    /// export failed.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let mut errors = Vec::new();
        if let Some(provider) = &self.meter_provider {
            if let Err(e) = provider.force_flush() {
                errors.push(to_shutdown_error(Signal::Metrics, e, self.shutdown_timeout));
            }
        }
        if let Some(provider) = &self.tracer_provider {
            if let Err(e) = provider.force_flush() {
                errors.push(to_shutdown_error(Signal::Traces, e, self.shutdown_timeout));
            }
        }
        if let Some(provider) = &self.logger_provider {
            if let Err(e) = provider.force_flush() {
                errors.push(to_shutdown_error(Signal::Logs, e, self.shutdown_timeout));
            }
        }
        if let Some(lines) = &self.log_lines {
            if !lines.flush(self.shutdown_timeout) {
                errors.push(ShutdownError::Timeout {
                    signal: Signal::Logs,
                    deadline: self.shutdown_timeout,
                });
            }
        }
        combine(errors)
    }

    /// Flushes the pending telemetry and stops the pipelines, within the shutdown deadline
    /// (5 s unless [`TelemetryConfig::shutdown_timeout`](crate::TelemetryConfig::shutdown_timeout) says otherwise).
    ///
    /// # Errors
    ///
    /// What failed: [`ShutdownError::Timeout`] when the deadline ran out (the collector is slow
    /// or unreachable), [`ShutdownError::Failed`] when the last export was refused.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + self.shutdown_timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut errors = Vec::new();
        if let Some(provider) = self.meter_provider.take() {
            match provider.shutdown_with_timeout(left()) {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(e) => errors.push(to_shutdown_error(Signal::Metrics, e, self.shutdown_timeout)),
            }
        }
        if let Some(provider) = self.tracer_provider.take() {
            match provider.shutdown_with_timeout(left()) {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(e) => errors.push(to_shutdown_error(Signal::Traces, e, self.shutdown_timeout)),
            }
        }
        // Last: the log records written while the other pipelines shut down go out too.
        if let Some(provider) = self.logger_provider.take() {
            match provider.shutdown_with_timeout(left()) {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(e) => errors.push(to_shutdown_error(Signal::Logs, e, self.shutdown_timeout)),
            }
        }
        self.runtime.take();
        // The log lines last: the pipelines' own warnings during shutdown are among them.
        // The queue stays open for lines written later.
        if let Some(lines) = self.log_lines.take() {
            if !lines.flush(left()) {
                errors.push(ShutdownError::Timeout {
                    signal: Signal::Logs,
                    deadline: self.shutdown_timeout,
                });
            }
        }
        combine(errors)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            tracing::warn!(target: "octollm_telemetry", error = %e, "telemetry shutdown incomplete");
        }
    }
}

fn to_shutdown_error(signal: Signal, e: OTelSdkError, deadline: Duration) -> ShutdownError {
    match e {
        OTelSdkError::Timeout(_) => ShutdownError::Timeout { signal, deadline },
        source => ShutdownError::Failed { signal, source },
    }
}

fn combine(mut errors: Vec<ShutdownError>) -> Result<(), ShutdownError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(ShutdownError::Several(errors)),
    }
}
