//! [`TelemetryGuard`]: keeps the pipelines running and shuts them down.

use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::error::{ShutdownError, Signal};
use crate::export::{Counters, ExportRuntime, ExportStats, SignalCounters};

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
/// does the same flush, best effort, within the same deadline, and writes what failed to
/// stderr. Both work on any Tokio runtime flavour and outside one (the export thread has its
/// own runtime), and both block the calling thread up to the deadline; async code awaits
/// [`shutdown_async`](Self::shutdown_async) instead.
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
    /// The remote sampler's view, when the sampler is a remote one.
    #[cfg(feature = "jaeger-remote")]
    pub(crate) remote_sampling: Option<crate::export::RemoteSampling>,
}

impl TelemetryGuard {
    /// The remote sampler at work, when the sampler is `jaeger_remote` or
    /// `parentbased_jaeger_remote`: the probability in force per operation and what its
    /// fetches did (the same figures as the `octollm.telemetry.sampling.*` metrics).
    #[cfg(feature = "jaeger-remote")]
    #[must_use]
    pub fn remote_sampling(&self) -> Option<&crate::export::RemoteSampling> {
        self.remote_sampling.as_ref()
    }

    /// Spans dropped so far, for any reason: because the export queue was full (or a shutdown
    /// ran out of time before they were sent), because the export request that carried them
    /// failed or timed out, or because the collector rejected them. A running count, equal to
    /// the spans produced minus those the collector received, and exposed as
    /// `octollm_telemetry_spans_dropped_total` (label `reason`); full queues and failed exports
    /// are also reported by rate-limited warnings in the logs.
    /// [`export_stats`](Self::export_stats) has the breakdown.
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

    /// Exports every finished span, log record and the current metrics now, and writes the
    /// queued log lines, all within one shutdown deadline in total.
    ///
    /// The pipelines flush side by side, each on a thread of its own, and the wait for them
    /// ends a tenth of the deadline before its end: that share is kept for the log lines. A
    /// flush still running when the wait ends goes on in the background. Blocks the calling
    /// thread up to the deadline.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when the deadline ran out, [`ShutdownError::Failed`] when the
    /// export failed.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let deadline = Deadline::start(self.shutdown_timeout);
        let flushes = [
            self.meter_provider.clone().map(|p| {
                let flush = in_background(move || p.force_flush());
                (Signal::Metrics, flush)
            }),
            self.tracer_provider.clone().map(|p| {
                let flush = in_background(move || p.force_flush());
                (Signal::Traces, flush)
            }),
            self.logger_provider.clone().map(|p| {
                let flush = in_background(move || p.force_flush());
                (Signal::Logs, flush)
            }),
        ];
        let mut errors = Vec::new();
        for (signal, flush) in flushes.into_iter().flatten() {
            if let Err(e) = flush.wait(deadline.for_pipelines()) {
                errors.push(to_shutdown_error(signal, e, self.shutdown_timeout));
            }
        }
        self.flush_lines(deadline.left(), &mut errors);
        combine(errors)
    }

    /// Flushes the pending telemetry and stops the pipelines, within the shutdown deadline
    /// (5 s unless [`TelemetryConfig::shutdown_timeout`](crate::TelemetryConfig::shutdown_timeout) says otherwise).
    ///
    /// Blocks the calling thread up to the deadline; in async code use
    /// [`shutdown_async`](Self::shutdown_async), which keeps the runtime's workers free.
    ///
    /// The log lines written so far go to stdout first, and again at the end (with the
    /// pipelines' own last warnings). A tenth of the deadline is kept for each of these two
    /// writes, so a slow or unreachable collector cannot cost the last lines. What the span
    /// and log record pipelines could not export by the deadline (the export under way, the
    /// queue) is counted as lost before this returns: after it,
    /// [`StatsHandle::get`]'s [`lost_spans`](ExportStats::lost_spans) is the spans produced
    /// minus those the collector received.
    ///
    /// # Errors
    ///
    /// What failed: [`ShutdownError::Timeout`] when the deadline ran out (the collector is slow
    /// or unreachable), [`ShutdownError::Failed`] when the last export was refused.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    /// [`shutdown`](Self::shutdown) for async code: the same shutdown, on a thread of its own,
    /// awaited without blocking the caller's runtime (any executor). Should the returned
    /// future be dropped before it completes, the shutdown still runs to its end.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = octollm_telemetry::init_telemetry().await?;
    /// // … serve …
    /// guard.shutdown_async().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Self::shutdown).
    pub async fn shutdown_async(self) -> Result<(), ShutdownError> {
        let (guard_tx, guard_rx) = std_mpsc::sync_channel::<Self>(1);
        let (result_tx, result_rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("octollm-telemetry-shutdown".into())
            .spawn(move || {
                if let Ok(guard) = guard_rx.recv() {
                    let _ = result_tx.send(guard.shutdown());
                }
            });
        let Ok(thread) = spawned else {
            // No thread to spare: shut down here, blocking.
            return self.shutdown();
        };
        if let Err(std_mpsc::SendError(guard)) = guard_tx.send(self) {
            return guard.shutdown();
        }
        match result_rx.await {
            Ok(result) => result,
            // The thread ended without an answer: it panicked.
            Err(_) => match thread.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => Ok(()),
            },
        }
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        let deadline = Deadline::start(self.shutdown_timeout);
        let total = self.shutdown_timeout;
        let mut errors = Vec::new();
        // The lines so far first, within their share, as the pipelines may use the rest up.
        // Best effort: the last write below reports what could not be written.
        if let Some(lines) = &self.log_lines {
            let _ = lines.flush(deadline.reserve.min(deadline.left()));
        }
        // The meter provider ignores its deadline: it shuts down beside the span pipeline,
        // on a thread of its own, and is waited for only until the deadline.
        let meters = self
            .meter_provider
            .take()
            .map(|p| in_background(move || p.shutdown_with_timeout(total)));
        // The span and log record pipelines keep the deadline themselves, and count what they
        // could not export before they return.
        if let Some(provider) = self.tracer_provider.take() {
            let result = provider.shutdown_with_timeout(deadline.for_pipelines());
            let result = pipeline_error(result, &self.counters.spans);
            push_error(&mut errors, Signal::Traces, result, total);
        }
        if let Some(meters) = meters {
            let result = meters.wait(deadline.for_pipelines());
            push_error(&mut errors, Signal::Metrics, result, total);
        }
        // Last: the log records written while the other pipelines shut down go out too.
        if let Some(provider) = self.logger_provider.take() {
            let result = provider.shutdown_with_timeout(deadline.for_pipelines());
            let result = pipeline_error(result, &self.counters.logs);
            push_error(&mut errors, Signal::Logs, result, total);
        }
        self.runtime.take();
        // The log lines last, in the share kept for them: the pipelines' own warnings during
        // shutdown are among them. The queue stays open for lines written later.
        if let Some(lines) = self.log_lines.take() {
            if !lines.flush(deadline.left()) {
                errors.push(lines_timeout(total));
            }
        }
        combine(errors)
    }

    /// Writes the queued log lines, waiting at most `wait`.
    fn flush_lines(&self, wait: Duration, errors: &mut Vec<ShutdownError>) {
        if let Some(lines) = &self.log_lines {
            if !lines.flush(wait) {
                errors.push(lines_timeout(self.shutdown_timeout));
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            // Straight to stderr: the line queue may be what could not be flushed.
            eprintln!("octollm_telemetry: telemetry shutdown incomplete: {e}");
        }
    }
}

/// The share of the deadline kept for each of the two writes of the log lines: 1/`LINES_SHARE`.
const LINES_SHARE: u32 = 10;

/// One deadline for every step of a flush or a shutdown.
#[derive(Debug)]
struct Deadline {
    end: Instant,
    /// Kept for the log lines at the end.
    reserve: Duration,
}

impl Deadline {
    fn start(total: Duration) -> Self {
        Self {
            end: Instant::now() + total,
            reserve: total / LINES_SHARE,
        }
    }

    /// The time left.
    fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The time left for the pipelines: up to the share kept for the log lines.
    fn for_pipelines(&self) -> Duration {
        self.left().saturating_sub(self.reserve)
    }
}

/// A flush or shutdown running on a thread of its own, so that waiting for it keeps a
/// deadline the call itself may not.
struct Background(std_mpsc::Receiver<OTelSdkResult>);

impl Background {
    /// Its result, or a timeout once `wait` has passed.
    fn wait(self, wait: Duration) -> OTelSdkResult {
        match self.0.recv_timeout(wait) {
            Ok(result) => result,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(wait)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(OTelSdkError::InternalFailure(
                "the flush thread ended without an answer".into(),
            )),
        }
    }
}

fn in_background(call: impl FnOnce() -> OTelSdkResult + Send + 'static) -> Background {
    let (tx, rx) = std_mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("octollm-telemetry-flush".into())
        .spawn(move || {
            let _ = tx.send(call());
        });
    if let Err(e) = spawned {
        let (tx, rx) = std_mpsc::sync_channel(1);
        let _ = tx.send(Err(OTelSdkError::InternalFailure(format!(
            "cannot start a flush thread: {e}"
        ))));
        return Background(rx);
    }
    Background(rx)
}

fn push_error(
    errors: &mut Vec<ShutdownError>,
    signal: Signal,
    result: OTelSdkResult,
    deadline: Duration,
) {
    match result {
        Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
        Err(e) => errors.push(to_shutdown_error(signal, e, deadline)),
    }
}

/// The provider's shutdown error as the pipeline reported it: the providers wrap it into a
/// message, so a timeout would read as a failure.
fn pipeline_error(result: OTelSdkResult, pipeline: &SignalCounters) -> OTelSdkResult {
    match result {
        Err(OTelSdkError::AlreadyShutdown) => Err(OTelSdkError::AlreadyShutdown),
        Err(e) => Err(pipeline.take_shutdown_error().unwrap_or(e)),
        Ok(()) => Ok(()),
    }
}

fn lines_timeout(deadline: Duration) -> ShutdownError {
    ShutdownError::Timeout {
        signal: Signal::Logs,
        deadline,
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

#[cfg(test)]
mod tests;
