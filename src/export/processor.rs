//! The batch processors of spans and log records: they never block the application and
//! count what they drop.
//!
//! Finished spans (and emitted log records) go through a bounded queue to a task on the export
//! runtime ([`super::ExportRuntime`]), which batches and exports them. The application side
//! only tries to enqueue: when the queue is full the item is dropped and counted.
//!
//! # Every item is counted once
//!
//! For each pipeline, `dropped + failed + rejected + exported == produced` once it is shut
//! down, so `dropped + failed + rejected` (the lost items) is exactly what the collector did not
//! receive, also when the collector is unreachable through the whole shutdown. A [`Ledger`]
//! keeps the number of items accepted into the queue and not yet counted:
//!
//! - [`BatchQueue::push`] adds one before it enqueues (and counts the item as dropped itself
//!   when the queue is full, or when the pipeline is already settled);
//! - the export task takes a batch off it before it counts the batch as exported, failed or
//!   dropped, and counts nothing when the take fails;
//! - when a shutdown's deadline runs out, the caller settles the ledger in one atomic step:
//!   the export under way counts as failed and everything else (the queue, the batch being
//!   gathered) as dropped, before `shutdown` returns and the export runtime is dropped. From
//!   then on every take fails, so the export task, should it still run, counts nothing and
//!   exports nothing more.
//!
//! An export still under way when the deadline runs out counts as failed even if the
//! collector ingests it later; nothing can tell that apart from a request that never arrives.
//!
//! # Rejected items
//!
//! A collector may accept a request but reject some of its items (OTLP partial success). The
//! exporter adds those to the pipeline's `rejected` counter during `export()`, with no `await`
//! after the addition; the export task reads that counter before and after each export (one
//! export at a time per pipeline, so the difference is this batch's) and counts the rest of the
//! batch as exported, or as failed when the export failed. When the batch was already settled
//! by a shutdown, the export task takes the exporter's addition back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::sync::mpsc;
use tracing::dispatcher::WeakDispatch;

use super::runtime::ExportRuntime;
use crate::config::BatchSettings;

/// Running totals of the span and log pipelines; read them with
/// [`TelemetryGuard::export_stats`](crate::TelemetryGuard::export_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans dropped because the export queue was full (or the pipeline was shut down).
    pub dropped_spans: u64,
    /// Spans the exporter accepted.
    pub exported_spans: u64,
    /// Spans lost in failed or timed-out export requests.
    pub failed_spans: u64,
    /// Span export requests that failed or timed out.
    pub failed_exports: u64,
    /// Spans the collector answered it rejected (OTLP partial success).
    pub rejected_spans: u64,
    /// Log records dropped because the log export queue was full (`OTEL_LOGS_EXPORTER`).
    pub dropped_logs: u64,
    /// Log records the exporter accepted.
    pub exported_logs: u64,
    /// Log records lost in failed or timed-out export requests.
    pub failed_logs: u64,
    /// Log export requests that failed or timed out.
    pub failed_log_exports: u64,
    /// Log records the collector answered it rejected (OTLP partial success).
    pub rejected_logs: u64,
    /// Metric data points the collector answered it rejected (OTLP partial success).
    pub rejected_metric_points: u64,
    /// Log lines not written to stdout because its buffer was full (stdout blocked) or the
    /// write failed.
    pub dropped_log_lines: u64,
}

impl ExportStats {
    /// Spans that never reached the collector: [`dropped_spans`](Self::dropped_spans),
    /// [`failed_spans`](Self::failed_spans) and [`rejected_spans`](Self::rejected_spans). With a
    /// collector that ingests only what it answers in time, this is exactly the spans produced
    /// minus the spans the collector received; after a shutdown that ran out of time, too.
    #[must_use]
    pub fn lost_spans(&self) -> u64 {
        self.dropped_spans + self.failed_spans + self.rejected_spans
    }

    /// Log records that never reached the collector: dropped, failed and rejected.
    #[must_use]
    pub fn lost_logs(&self) -> u64 {
        self.dropped_logs + self.failed_logs + self.rejected_logs
    }
}

/// The totals of one signal; the application threads only touch `dropped`.
#[derive(Debug, Default)]
pub(crate) struct SignalCounters {
    dropped: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    failed_exports: AtomicU64,
    rejected: AtomicU64,
    /// The error of the pipeline's shutdown, which the providers wrap into a message.
    shutdown_error: Mutex<Option<OTelSdkError>>,
}

impl SignalCounters {
    /// The error of the pipeline's shutdown as the pipeline reported it (a timeout stays a
    /// timeout), once.
    pub(crate) fn take_shutdown_error(&self) -> Option<OTelSdkError> {
        self.shutdown_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The items a collector rejected: an exporter adds a batch's rejected items here during
    /// `export()` (see the [module docs](self)).
    pub(crate) fn rejected(&self) -> &AtomicU64 {
        &self.rejected
    }
}

/// Shared counters of both pipelines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans: SignalCounters,
    pub(crate) logs: SignalCounters,
    /// Lines the stdout queue dropped.
    pub(crate) log_lines_dropped: Arc<AtomicU64>,
    /// Metric data points a collector rejected (OTLP partial success); the metric exporter
    /// adds them.
    pub(crate) metric_points_rejected: AtomicU64,
}

/// Adds a count of rejected items and gives the new total.
pub(crate) type Rejecter = Arc<dyn Fn(u64) -> u64 + Send + Sync>;

impl Counters {
    /// What an OTLP exporter of `signal` counts the items a collector rejected with.
    pub(crate) fn rejecter(self: &Arc<Self>, signal: crate::error::Signal) -> Rejecter {
        let counters = Arc::clone(self);
        Arc::new(move |n| {
            let counter = match signal {
                crate::error::Signal::Traces => counters.spans.rejected(),
                crate::error::Signal::Logs => counters.logs.rejected(),
                crate::error::Signal::Metrics => &counters.metric_points_rejected,
            };
            counter.fetch_add(n, Ordering::Relaxed) + n
        })
    }

    pub(crate) fn snapshot(&self) -> ExportStats {
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportStats {
            dropped_spans: read(&self.spans.dropped),
            exported_spans: read(&self.spans.exported),
            failed_spans: read(&self.spans.failed),
            failed_exports: read(&self.spans.failed_exports),
            rejected_spans: read(&self.spans.rejected),
            dropped_logs: read(&self.logs.dropped),
            exported_logs: read(&self.logs.exported),
            failed_logs: read(&self.logs.failed),
            failed_log_exports: read(&self.logs.failed_exports),
            rejected_logs: read(&self.logs.rejected),
            rejected_metric_points: read(&self.metric_points_rejected),
            dropped_log_lines: read(&self.log_lines_dropped),
        }
    }
}

/// What one pipeline exports, and how its warnings read.
pub(crate) trait Sink: Send + 'static {
    /// One queued item.
    type Item: Send + 'static;
    /// Its counters among the pipeline's.
    fn counters(all: &Counters) -> &SignalCounters;
    /// Writes the warning about a failed export request.
    fn warn_failed(error: &OTelSdkError, items: u64, failed_exports_total: u64);
    /// Writes the warning about a full queue.
    fn warn_queue_full(dropped_total: u64, since: u64, max_queue_size: usize);
    /// Exports one batch.
    fn export(
        &mut self,
        batch: Vec<Self::Item>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send;
    /// Shuts the exporter down.
    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult;
}

/// The span exporter as a [`Sink`].
pub(crate) struct Spans<E>(pub(crate) E);

impl<E: SpanExporter + 'static> Sink for Spans<E> {
    type Item = SpanData;
    fn warn_failed(error: &OTelSdkError, spans: u64, failed_exports_total: u64) {
        tracing::warn!(
            target: "octollm_telemetry",
            error = %error,
            spans,
            failed_exports_total,
            "span export failed; the spans of this batch are lost"
        );
    }
    fn warn_queue_full(dropped_spans_total: u64, since: u64, max_queue_size: usize) {
        tracing::warn!(
            target: "octollm_telemetry",
            dropped_spans_total,
            dropped_since_last_warning = since,
            max_queue_size,
            "span export queue full: spans dropped (raise OTEL_BSP_MAX_QUEUE_SIZE or check the collector)"
        );
    }
    fn counters(all: &Counters) -> &SignalCounters {
        &all.spans
    }
    async fn export(&mut self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.export(batch).await
    }
    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// Where the export task writes its own warnings: the subscriber the crate's layers are part
/// of, once it exists (the export thread itself runs with no subscriber). Held weakly, so that
/// a subscriber built and dropped by its owner is not kept alive by its own export thread.
pub(crate) type WarnSink = Arc<OnceLock<WeakDispatch>>;

/// What every export pipeline is built in, passed as one value: the export runtime, the
/// resource, the counters, the sink of the exporters' warnings and the deadline of a flush.
#[derive(Clone, Copy)]
pub(crate) struct ExportContext<'a> {
    pub(crate) runtime: &'a ExportRuntime,
    pub(crate) resource: &'a Resource,
    pub(crate) counters: &'a Arc<Counters>,
    pub(crate) warn_sink: &'a WarnSink,
    /// The shutdown deadline, which also bounds a flush.
    pub(crate) flush_timeout: Duration,
}

/// The smallest time between two warnings of the same kind.
const WARN_EVERY: Duration = Duration::from_secs(10);

enum Control {
    Flush(std_mpsc::SyncSender<OTelSdkResult>),
    Shutdown(Instant, std_mpsc::SyncSender<OTelSdkResult>),
}

/// Set in [`Ledger::state`] once a shutdown counted the pipeline's remaining items.
const SETTLED: u64 = 1 << 63;

/// Who counts an item (see the [module docs](self#every-item-is-counted-once)).
#[derive(Debug, Default)]
struct Ledger {
    /// The items accepted and not yet counted, and [`SETTLED`]. Once settled, the count bits
    /// are never read again.
    state: AtomicU64,
    /// The items of the export under way; 0 between exports.
    in_flight: AtomicU64,
}

impl Ledger {
    /// Registers one item about to be queued; `false` when the pipeline is settled (the
    /// caller counts the item itself).
    fn accept(&self) -> bool {
        self.state.fetch_add(1, Ordering::AcqRel) & SETTLED == 0
    }

    /// Takes `n` accepted items off the count, for the caller to count them; `false` when a
    /// shutdown has counted them already.
    fn take(&self, n: u64) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & SETTLED == 0).then(|| s - n)
            })
            .is_ok()
    }

    fn is_settled(&self) -> bool {
        self.state.load(Ordering::Acquire) & SETTLED != 0
    }

    /// Marks the pipeline settled and counts what it still held: the export under way as
    /// failed, the rest as dropped. A second call counts nothing.
    fn settle(&self, counters: &SignalCounters) {
        let before = self.state.fetch_or(SETTLED, Ordering::AcqRel);
        if before & SETTLED != 0 {
            return;
        }
        let left = before;
        let in_flight = self.in_flight.load(Ordering::Acquire).min(left);
        if in_flight > 0 {
            counters.failed.fetch_add(in_flight, Ordering::Relaxed);
            counters.failed_exports.fetch_add(1, Ordering::Relaxed);
        }
        counters
            .dropped
            .fetch_add(left - in_flight, Ordering::Relaxed);
    }
}

/// The application half of a pipeline: the bounded queue and the control channel to its
/// export task.
#[derive(Debug)]
pub(crate) struct BatchQueue<T> {
    items: mpsc::Sender<T>,
    /// Woken when the queue holds a full batch (see [`BatchQueue::push`]).
    full: Arc<FullBatch>,
    control: mpsc::UnboundedSender<Control>,
    counters: Arc<Counters>,
    ledger: Arc<Ledger>,
    signal: fn(&Counters) -> &SignalCounters,
    flush_timeout: Duration,
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the export task of `sink` on `runtime`.
    pub(crate) fn spawn<S: Sink<Item = T>>(
        ctx: &ExportContext<'_>,
        sink: S,
        settings: BatchSettings,
    ) -> Self {
        let (queue, worker) = Self::new(
            sink,
            settings,
            Arc::clone(ctx.counters),
            Arc::clone(ctx.warn_sink),
            ctx.flush_timeout,
        );
        ctx.runtime.spawn(worker);
        queue
    }

    /// The queue and its export task, not yet spawned.
    fn new<S: Sink<Item = T>>(
        sink: S,
        settings: BatchSettings,
        counters: Arc<Counters>,
        warn_sink: WarnSink,
        flush_timeout: Duration,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (items, items_rx) = mpsc::channel(settings.max_queue_size);
        let (control, control_rx) = mpsc::unbounded_channel();
        let ledger = Arc::new(Ledger::default());
        let full = Arc::new(FullBatch {
            // The configuration keeps a batch within the queue.
            wake_at_free: settings
                .max_queue_size
                .saturating_sub(settings.max_export_batch_size),
            pending: AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
        });
        let worker = Worker {
            sink,
            settings,
            counters: Arc::clone(&counters),
            ledger: Arc::clone(&ledger),
            warn_sink,
            warned_dropped: 0,
            last_drop_warning: None,
            last_failure_warning: None,
        };
        let queue = Self {
            items,
            full: Arc::clone(&full),
            control,
            counters,
            ledger,
            signal: S::counters,
            flush_timeout,
        };
        (queue, worker.run(items_rx, full, control_rx))
    }

    fn counters(&self) -> &SignalCounters {
        (self.signal)(&self.counters)
    }

    /// Enqueues `item`, or drops and counts it when the queue is full.
    ///
    /// The export task does not wait on the queue itself, so an item wakes nobody; only the
    /// item that completes a full batch wakes the task (the schedule delay's tick takes the
    /// rest). Waking the task for every item cost a `write` system call and a thread switch
    /// per span: under `scripts/load.sh` at sampling 0.1, the export thread switched about
    /// 6,000 times a second, once per sampled span.
    pub(crate) fn push(&self, item: T) {
        if !self.ledger.accept() {
            // Shut down: a shutdown counted what it held, this one is counted here.
            self.counters().dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.items.try_send(item) {
            Ok(()) => self.full.check(self.items.capacity()),
            Err(_) => {
                if self.ledger.take(1) {
                    self.counters().dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub(crate) fn force_flush(&self) -> OTelSdkResult {
        self.request(Control::Flush, self.flush_timeout)
    }

    /// Flushes and stops the export task within `timeout`. Whatever it has not exported by
    /// then (the export under way, the queue) is counted as lost before this returns.
    pub(crate) fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let result = self.request(|tx| Control::Shutdown(deadline, tx), timeout);
        self.ledger.settle(self.counters());
        if let Err(e) = &result {
            let copy = match e {
                OTelSdkError::Timeout(d) => OTelSdkError::Timeout(*d),
                OTelSdkError::AlreadyShutdown => OTelSdkError::AlreadyShutdown,
                OTelSdkError::InternalFailure(m) => OTelSdkError::InternalFailure(m.clone()),
            };
            *self
                .counters()
                .shutdown_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(copy);
        }
        result
    }

    fn request(
        &self,
        make: impl FnOnce(std_mpsc::SyncSender<OTelSdkResult>) -> Control,
        wait: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.control
            .send(make(tx))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        match rx.recv_timeout(wait) {
            Ok(result) => result,
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(wait)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

/// The [`SpanProcessor`] half that lives with the tracer provider.
#[derive(Debug)]
pub(crate) struct BatchProcessor(BatchQueue<SpanData>);

impl BatchProcessor {
    /// Builds the exporter on the export runtime with `make_exporter` and starts the export
    /// task there.
    pub(crate) fn spawn(
        ctx: &ExportContext<'_>,
        make_exporter: super::exporter::ExporterFactory,
        settings: BatchSettings,
    ) -> Result<Self, crate::error::InitError> {
        let exporter_error = |e| crate::error::InitError::exporter(crate::error::Signal::Traces, e);
        let mut exporter = ctx
            .runtime
            .run_on(make_exporter)
            .map_err(exporter_error)?
            .map_err(exporter_error)?;
        exporter.set_resource(ctx.resource);
        Ok(Self(BatchQueue::spawn(ctx, Spans(exporter), settings)))
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        crate::propagation::random_flag_on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if span.span_context.is_sampled() {
            // The W3C `random` flag of traces started here, which the SDK leaves out.
            crate::propagation::random_flag_on_end(&mut span);
            self.0.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The exporter lives on the export thread: it received the resource when it was
        // built there (see `spawn`).
    }
}

/// The signal from the pushing threads to the export task that a full batch is queued.
///
/// A push that races with the task taking its wake-up may see the wake-up still pending and
/// send none while the task no longer sees that push's item: that batch then goes with the
/// next push that finds a full batch, or at the next tick. Nothing waits longer than one
/// schedule delay, and nothing is lost (`tests::the_schedule_delay_sends_a_partial_batch`,
/// `tests::a_full_batch_leaves_at_once_and_a_partial_one_waits_for_the_delay`).
#[derive(Debug)]
struct FullBatch {
    /// The queue's free slots at or below which it holds a full batch.
    wake_at_free: usize,
    /// A wake-up is on its way and not yet taken: later pushes need not send another.
    pending: AtomicBool,
    notify: tokio::sync::Notify,
}

impl FullBatch {
    /// Wakes the export task when `free` slots are left and no wake-up is pending.
    fn check(&self, free: usize) {
        if free <= self.wake_at_free
            && !self.pending.load(Ordering::Relaxed)
            && !self.pending.swap(true, Ordering::AcqRel)
        {
            self.notify.notify_one();
        }
    }
}

struct Worker<S> {
    sink: S,
    settings: BatchSettings,
    counters: Arc<Counters>,
    ledger: Arc<Ledger>,
    warn_sink: WarnSink,
    warned_dropped: u64,
    last_drop_warning: Option<Instant>,
    last_failure_warning: Option<Instant>,
}

impl<S: Sink> Worker<S> {
    fn counters(&self) -> &SignalCounters {
        S::counters(&self.counters)
    }

    async fn run(
        mut self,
        mut spans: mpsc::Receiver<S::Item>,
        full: Arc<FullBatch>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let max_batch = self.settings.max_export_batch_size;
        let mut batch: Vec<S::Item> = Vec::with_capacity(max_batch);
        // The first export comes one delay after the start, not at once (a plain `interval`
        // ticks immediately, which split the first items into an early batch of their own).
        let delay = self.settings.schedule_delay.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, delay);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                message = control.recv() => match message {
                    Some(Control::Flush(reply)) => {
                        let deadline = Instant::now() + self.settings.export_timeout;
                        let result = self.drain(&mut spans, &mut batch, deadline).await;
                        let _ = reply.send(result);
                    }
                    Some(Control::Shutdown(deadline, reply)) => {
                        spans.close();
                        let mut result = self.drain(&mut spans, &mut batch, deadline).await;
                        let left = deadline.saturating_duration_since(Instant::now());
                        if let Err(e) = self.sink.shutdown_with_timeout(left) {
                            result = result.and(Err(e));
                        }
                        self.warn_about_drops(true);
                        let _ = reply.send(result);
                        return;
                    }
                    None => {
                        // The provider is gone without a shutdown: export what is left.
                        let deadline = Instant::now() + self.settings.export_timeout;
                        let _ = self.drain(&mut spans, &mut batch, deadline).await;
                        return;
                    }
                },
                // A full batch is queued: export full batches while there are.
                () = full.notify.notified() => {
                    full.pending.store(false, Ordering::Release);
                    self.export_full_batches(&mut spans, &mut batch).await;
                }
                // The schedule delay: what is queued goes out, a partial batch too.
                _ = ticker.tick() => {
                    take(&mut spans, &mut batch, max_batch);
                    if !batch.is_empty() {
                        let deadline = Instant::now() + self.settings.export_timeout;
                        let _ = self.export(&mut batch, deadline).await;
                    }
                    self.export_full_batches(&mut spans, &mut batch).await;
                    self.warn_about_drops(false);
                }
            }
        }
    }

    /// Exports full batches while the queue holds one.
    async fn export_full_batches(
        &mut self,
        spans: &mut mpsc::Receiver<S::Item>,
        batch: &mut Vec<S::Item>,
    ) {
        let max_batch = self.settings.max_export_batch_size;
        while spans.len() >= max_batch && !self.ledger.is_settled() {
            take(spans, batch, max_batch);
            let deadline = Instant::now() + self.settings.export_timeout;
            let _ = self.export(batch, deadline).await;
        }
    }

    /// Exports everything queued so far, batch by batch, until `deadline`.
    async fn drain(
        &mut self,
        spans: &mut mpsc::Receiver<S::Item>,
        batch: &mut Vec<S::Item>,
        deadline: Instant,
    ) -> OTelSdkResult {
        let mut result = Ok(());
        loop {
            take(spans, batch, self.settings.max_export_batch_size);
            if batch.is_empty() {
                return result;
            }
            if let Err(e) = self.export(batch, deadline).await {
                result = Err(e);
            }
            if self.ledger.is_settled() {
                // A shutdown counted what is left.
                return result;
            }
            if Instant::now() >= deadline {
                // Whatever is still queued is lost: count it.
                let mut lost = 0;
                while spans.try_recv().is_ok() {
                    lost += 1;
                }
                if self.ledger.take(lost) {
                    self.counters().dropped.fetch_add(lost, Ordering::Relaxed);
                }
                return result.and(Err(OTelSdkError::Timeout(self.settings.export_timeout)));
            }
        }
    }

    /// Exports `batch` (leaving it empty) and counts it: exported, failed or rejected.
    async fn export(&mut self, batch: &mut Vec<S::Item>, deadline: Instant) -> OTelSdkResult {
        let count = batch.len() as u64;
        let items = std::mem::replace(
            batch,
            Vec::with_capacity(self.settings.max_export_batch_size),
        );
        if self.ledger.is_settled() {
            // A shutdown ran out of time and counted these as lost: do not send them.
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .min(self.settings.export_timeout);
        self.ledger.in_flight.store(count, Ordering::Release);
        let rejected_before = self.counters().rejected.load(Ordering::Acquire);
        let result = match tokio::time::timeout(limit, self.sink.export(items)).await {
            Ok(result) => result,
            Err(_) => Err(OTelSdkError::Timeout(limit)),
        };
        // No `await` from here on: a cancelled task has either counted the batch or not
        // touched the counters.
        let rejected = self
            .counters()
            .rejected
            .load(Ordering::Acquire)
            .wrapping_sub(rejected_before);
        self.ledger.in_flight.store(0, Ordering::Release);
        if !self.ledger.take(count) {
            // The shutdown counted the whole batch as failed: take the exporter's share back.
            self.counters()
                .rejected
                .fetch_sub(rejected, Ordering::Relaxed);
            return result;
        }
        let rest = count.saturating_sub(rejected);
        match &result {
            Ok(()) => {
                self.counters().exported.fetch_add(rest, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters().failed.fetch_add(rest, Ordering::Relaxed);
                let failures = self
                    .counters()
                    .failed_exports
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                if due(&mut self.last_failure_warning) {
                    self.warn(|| S::warn_failed(e, rest, failures));
                }
            }
        }
        result
    }

    fn warn_about_drops(&mut self, final_report: bool) {
        let dropped = self.counters().dropped.load(Ordering::Relaxed);
        if dropped > self.warned_dropped && (final_report || due(&mut self.last_drop_warning)) {
            let since = dropped - self.warned_dropped;
            self.warned_dropped = dropped;
            let queue = self.settings.max_queue_size;
            self.warn(|| S::warn_queue_full(dropped, since, queue));
        }
    }

    fn warn(&self, emit: impl FnOnce()) {
        if let Some(dispatch) = self.warn_sink.get().and_then(WeakDispatch::upgrade) {
            tracing::dispatcher::with_default(&dispatch, emit);
        }
    }
}

/// Moves queued items into `batch` until it holds `max` or the queue is empty.
fn take<T>(queue: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize) {
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

/// True (and remembers now) when no warning was written in the last [`WARN_EVERY`].
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

#[cfg(test)]
mod tests;
