//! The export task's counting, with a fake sink that can hold an export, fail it and report
//! rejected items.

use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use tokio::sync::Semaphore;

use super::{BatchQueue, Counters, ExportStats, SignalCounters, Sink};
use crate::config::BatchSettings;
use crate::export::ExportRuntime;

/// Answers each export after taking a permit from `gate` (when there is one), rejecting up to
/// `reject` items of the batch, and failing it when `fail`.
struct Fake {
    counters: Arc<Counters>,
    reject: u64,
    fail: bool,
    gate: Option<Arc<Semaphore>>,
    entered: std_mpsc::Sender<usize>,
    shut: std_mpsc::Sender<()>,
}

impl Sink for Fake {
    type Item = u32;
    fn counters(all: &Counters) -> &SignalCounters {
        &all.spans
    }
    fn warn_failed(_: &OTelSdkError, _: u64, _: u64) {}
    fn warn_queue_full(_: u64, _: u64, _: usize) {}
    async fn export(&mut self, batch: Vec<u32>) -> OTelSdkResult {
        let _ = self.entered.send(batch.len());
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("the gate stays open").forget();
        }
        let rejected = self.reject.min(batch.len() as u64);
        self.counters
            .spans
            .rejected()
            .fetch_add(rejected, Ordering::Relaxed);
        if self.fail {
            Err(OTelSdkError::InternalFailure("refused".into()))
        } else {
            Ok(())
        }
    }
    fn shutdown_with_timeout(&mut self, _timeout: Duration) -> OTelSdkResult {
        let _ = self.shut.send(());
        Ok(())
    }
}

struct Pipeline {
    queue: BatchQueue<u32>,
    counters: Arc<Counters>,
    entered: std_mpsc::Receiver<usize>,
    shut: std_mpsc::Receiver<()>,
    _runtime: ExportRuntime,
}

impl Pipeline {
    fn start(
        batch: usize,
        queue: usize,
        reject: u64,
        fail: bool,
        gate: Option<Arc<Semaphore>>,
    ) -> Self {
        // Nothing leaves on schedule: only full batches, flushes and the shutdown.
        Self::start_with_delay(batch, queue, reject, fail, gate, Duration::from_secs(3600))
    }

    fn start_with_delay(
        batch: usize,
        queue: usize,
        reject: u64,
        fail: bool,
        gate: Option<Arc<Semaphore>>,
        schedule_delay: Duration,
    ) -> Self {
        let runtime = ExportRuntime::start().unwrap();
        let counters = Arc::new(Counters::default());
        let (entered_tx, entered) = std_mpsc::channel();
        let (shut_tx, shut) = std_mpsc::channel();
        let sink = Fake {
            counters: Arc::clone(&counters),
            reject,
            fail,
            gate,
            entered: entered_tx,
            shut: shut_tx,
        };
        let settings = BatchSettings {
            max_queue_size: queue,
            max_export_batch_size: batch,
            schedule_delay,
            export_timeout: Duration::from_secs(3600),
        };
        let ctx = super::ExportContext {
            runtime: &runtime,
            resource: &opentelemetry_sdk::Resource::builder_empty().build(),
            counters: &counters,
            warn_sink: &Arc::new(OnceLock::new()),
            flush_timeout: Duration::from_secs(30),
        };
        let queue = BatchQueue::spawn(&ctx, sink, settings);
        Self {
            queue,
            counters,
            entered,
            shut,
            _runtime: runtime,
        }
    }

    fn push(&self, n: u32) {
        for i in 0..n {
            self.queue.push(i);
        }
    }

    fn stats(&self) -> ExportStats {
        self.counters.snapshot()
    }
}

#[test]
fn rejected_items_are_lost_not_exported() {
    let p = Pipeline::start(10, 100, 3, false, None);
    p.push(25);
    p.queue.force_flush().unwrap();
    let s = p.stats();
    assert_eq!(s.rejected_spans, 9, "3 of each of the 3 batches: {s:?}");
    assert_eq!(s.exported_spans, 16, "{s:?}");
    assert_eq!(s.lost_spans(), 9, "{s:?}");
    assert_eq!(
        (s.failed_spans, s.dropped_spans, s.failed_exports),
        (0, 0, 0)
    );
    p.queue
        .shutdown_with_timeout(Duration::from_secs(30))
        .unwrap();
    assert_eq!(p.stats(), s, "nothing left to count");
}

#[test]
fn a_failed_export_counts_its_rejected_items_once() {
    let p = Pipeline::start(10, 100, 2, true, None);
    p.push(10);
    assert!(p.queue.force_flush().is_err());
    let s = p.stats();
    assert_eq!((s.failed_spans, s.rejected_spans), (8, 2), "{s:?}");
    assert_eq!(s.failed_exports, 1, "{s:?}");
    assert_eq!(s.exported_spans, 0, "{s:?}");
    assert_eq!(s.lost_spans(), 10, "{s:?}");
}

#[test]
fn a_shutdown_past_its_deadline_counts_the_export_under_way_and_the_queue() {
    let gate = Arc::new(Semaphore::new(0));
    let p = Pipeline::start(4, 8, 1, false, Some(Arc::clone(&gate)));
    // A full batch goes out and hangs.
    p.push(4);
    let in_flight = p.entered.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(in_flight, 4);
    // The queue fills (8) while the export hangs; the other 12 are dropped as they come.
    p.push(20);
    assert_eq!(p.stats().dropped_spans, 12);

    let result = p.queue.shutdown_with_timeout(Duration::from_millis(50));
    assert!(
        matches!(result, Err(OTelSdkError::Timeout(_))),
        "{result:?}"
    );
    let s = p.stats();
    assert_eq!(
        (s.failed_spans, s.failed_exports),
        (4, 1),
        "the export under way: {s:?}"
    );
    assert_eq!(
        s.dropped_spans, 20,
        "the queue and the drops at push: {s:?}"
    );
    assert_eq!((s.exported_spans, s.rejected_spans), (0, 0), "{s:?}");
    assert_eq!(
        s.lost_spans(),
        24,
        "every item counted before shutdown returned: {s:?}"
    );

    // The hung export now comes back (rejecting one item), and the export task finishes its
    // shutdown: it counts nothing twice and exports nothing more.
    gate.add_permits(100);
    p.shut.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(p.stats(), s, "counted once");
    assert!(
        p.entered.try_recv().is_err(),
        "the settled queue is not exported"
    );

    // An item produced after the shutdown is dropped and counted.
    p.push(1);
    let after = p.stats();
    assert_eq!(after.dropped_spans, 21, "{after:?}");
    assert_eq!(after.lost_spans(), 25, "{after:?}");
}

#[test]
fn a_shutdown_in_time_exports_everything_and_counts_nothing_lost() {
    let p = Pipeline::start(4, 64, 0, false, None);
    p.push(10);
    p.queue
        .shutdown_with_timeout(Duration::from_secs(30))
        .unwrap();
    let s = p.stats();
    assert_eq!(s.exported_spans, 10, "{s:?}");
    assert_eq!(s.lost_spans(), 0, "{s:?}");
    p.shut.recv_timeout(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_full_batch_leaves_at_once_and_a_partial_one_waits_for_the_delay() {
    let p = Pipeline::start(4, 64, 0, false, None);
    p.push(3);
    assert!(
        p.entered.recv_timeout(Duration::from_millis(300)).is_err(),
        "three of four wait for the schedule delay"
    );
    p.push(1);
    assert_eq!(p.entered.recv_timeout(Duration::from_secs(30)), Ok(4));
    // Nine at once: two full batches go, one item waits.
    p.push(9);
    assert_eq!(p.entered.recv_timeout(Duration::from_secs(30)), Ok(4));
    assert_eq!(p.entered.recv_timeout(Duration::from_secs(30)), Ok(4));
    assert!(p.entered.recv_timeout(Duration::from_millis(300)).is_err());
    p.queue
        .shutdown_with_timeout(Duration::from_secs(30))
        .unwrap();
    let s = p.stats();
    assert_eq!((s.exported_spans, s.lost_spans()), (13, 0), "{s:?}");
}

#[test]
fn the_schedule_delay_sends_a_partial_batch() {
    let p = Pipeline::start_with_delay(512, 2048, 0, false, None, Duration::from_millis(50));
    p.push(3);
    assert_eq!(p.entered.recv_timeout(Duration::from_secs(30)), Ok(3));
    p.push(2);
    assert_eq!(p.entered.recv_timeout(Duration::from_secs(30)), Ok(2));
    p.queue
        .shutdown_with_timeout(Duration::from_secs(30))
        .unwrap();
    let s = p.stats();
    assert_eq!((s.exported_spans, s.lost_spans()), (5, 0), "{s:?}");
}
