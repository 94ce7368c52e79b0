//! The default writer of the log lines: stdout through a bounded queue and a writer thread,
//! so that a line costs the service a copy into the queue, not a `write` system call.
//!
//! - The thread writes whatever has arrived in one `write`: under load the lines of many
//!   events go out together; when the service is quiet a line goes out at once.
//! - Lines keep their order (one queue; each thread's lines in the order it wrote them).
//! - The queue is bounded ([`QUEUE_LINES`]): when stdout blocks (a stalled log collector) and
//!   the queue is full, new lines are dropped and counted, never waited for.
//! - [`LineQueue::flush`] (called by the guard's shutdown and drop) writes what is queued,
//!   waiting at most the deadline, so a clean exit loses no line.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Lines the queue holds; more are dropped and counted.
pub(crate) const QUEUE_LINES: usize = 16 * 1024;
/// The most bytes gathered into one write.
const BATCH_BYTES: usize = 256 * 1024;

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// The application side: the queue to the writer thread.
#[derive(Clone)]
pub(crate) struct LineQueue {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for LineQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineQueue")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LineQueue {
    /// Starts the writer thread over `out`; `dropped` counts the lines that did not fit.
    pub(crate) fn start(
        out: Box<dyn Write + Send>,
        capacity: usize,
        dropped: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        std::thread::Builder::new()
            .name("octollm-telemetry-log-writer".into())
            .spawn(move || write_lines(&rx, out))?;
        Ok(Self { tx, dropped })
    }

    /// Queues one line, or drops and counts it when the queue is full.
    fn push(&self, line: &[u8]) {
        match self.tx.try_send(Message::Line(line.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits until every line queued before the call is written, at most `timeout`. `false`
    /// when the deadline ran out (stdout blocks).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (done, wait) = mpsc::sync_channel(1);
        // The queue may be full: retry until the deadline rather than block on it.
        let mut message = Message::Flush(done);
        loop {
            match self.tx.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    message = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// The writer thread: gathers what has arrived, writes it at once, and answers flushes once
/// everything before them is written.
fn write_lines(rx: &Receiver<Message>, mut out: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES);
    let mut flushes: Vec<SyncSender<()>> = Vec::new();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(3600)) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => batch.extend_from_slice(&line),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            // A closed stdout loses the lines; there is nowhere to report it.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if batch.capacity() > 4 * BATCH_BYTES {
                batch.shrink_to(BATCH_BYTES);
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The [`MakeWriter`] of the queue: each event's line is one `write` into it.
#[derive(Debug, Clone)]
pub(crate) struct QueuedWriter(pub(crate) LineQueue);

impl<'a> MakeWriter<'a> for QueuedWriter {
    type Writer = &'a LineQueue;

    fn make_writer(&'a self) -> Self::Writer {
        &self.0
    }
}

impl Write for &LineQueue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;

    /// A sink that keeps what it is given and can be made to block.
    #[derive(Clone, Default)]
    struct Sink {
        data: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicU64>,
        gate: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Sink {
        fn block(&self, blocked: bool) {
            *self.gate.0.lock().unwrap() = blocked;
            self.gate.1.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8(self.data.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cvar) = &*self.gate;
            let mut blocked = lock.lock().unwrap();
            while *blocked {
                blocked = cvar.wait(blocked).unwrap();
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.data.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn queue(sink: &Sink, capacity: usize) -> (LineQueue, Arc<AtomicU64>) {
        let dropped = Arc::new(AtomicU64::new(0));
        let q = LineQueue::start(Box::new(sink.clone()), capacity, Arc::clone(&dropped)).unwrap();
        (q, dropped)
    }

    #[test]
    fn lines_keep_their_order_and_a_flush_writes_them_all() {
        let sink = Sink::default();
        let (q, dropped) = queue(&sink, 1024);
        let mut w = &q;
        // As the fmt layer does: each event's line in one write.
        for i in 0..500 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(q.flush(Duration::from_secs(5)));
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 500);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("line {i}"));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        // Lines that arrive together go out in fewer writes than lines.
        assert!(sink.writes.load(Ordering::Relaxed) <= 500);
    }

    #[test]
    fn each_threads_lines_stay_in_order() {
        let sink = Sink::default();
        let (q, _) = queue(&sink, 8192);
        std::thread::scope(|s| {
            for t in 0..4 {
                let q = &q;
                s.spawn(move || {
                    let mut w = q;
                    for i in 0..1000 {
                        w.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        assert!(q.flush(Duration::from_secs(5)));
        let text = sink.text();
        let mut next = [0; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, [1000; 4]);
    }

    #[test]
    fn a_blocked_stdout_drops_and_counts_instead_of_waiting_and_memory_stays_bounded() {
        let sink = Sink::default();
        sink.block(true);
        let (q, dropped) = queue(&sink, 16);
        let mut w = &q;
        // The writer thread holds at most one batch; the queue 16 lines; the rest is dropped.
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        // Held: what fits the queue, and what the writer thread took before it blocked.
        let lost = dropped.load(Ordering::Relaxed);
        assert!(lost > 0, "a full queue drops");
        // A flush gives up at its deadline while stdout blocks.
        assert!(!q.flush(Duration::from_millis(100)));
        sink.block(false);
        assert!(q.flush(Duration::from_secs(5)));
        let written = sink.text().lines().count() as u64;
        assert_eq!(written + lost, 1000, "every line is written or counted");
    }
}
