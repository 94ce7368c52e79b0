//! The default writer of the log lines: stdout through bounded buffers and a writer thread,
//! so that a line costs the service a copy into a buffer, not a `write` system call.
//!
//! - A line is appended to its thread's shard: [`SHARDS`] buffers, each under its own short
//!   lock, a thread always using the same one. Threads on different shards never wait for
//!   each other; no lock is shared by the whole process.
//! - Only the line that finds the writer thread asleep wakes it; the others wake nobody.
//! - The woken thread waits [`GATHER`] for the lines that follow, then empties every shard
//!   into one batch and writes it in one `write`. Under load a write carries many lines; a
//!   quiet service's line goes out within [`GATHER`].
//! - A thread's lines keep their order: one shard, emptied whole, and one thread writing.
//!   Lines of different threads are ordered by shard within a batch.
//! - The buffers are bounded ([`BUFFER_BYTES`] in all, an equal share per shard): when stdout
//!   blocks (a stalled log agent) and a shard is full, new lines are dropped and counted,
//!   never waited for. Lines that a failed write loses are counted too.
//! - [`LineQueue::flush`] (called by the guard's shutdown and drop) has everything written
//!   so far go out at once, waiting at most its deadline, so a clean exit loses no line.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// The most bytes the buffers hold in all (1 MiB per shard); lines that do not fit are dropped
/// and counted. A shard holds what its threads write while the writer thread waits for a core:
/// with 256 KiB per shard, lines were dropped under load on a busy two-core machine (2,952 in
/// one 10 s round of `WRITER_AB=1 scripts/load.sh` while a build ran beside it).
pub(crate) const BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// Buffers: more than the threads of a usual service, so that few share one.
const SHARDS: usize = 16;
/// How long the woken writer lets lines gather before it writes them.
const GATHER: Duration = Duration::from_millis(2);
/// How often an idle writer looks whether every handle of the buffer is gone (then it ends).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// What the writer thread and the flushes share.
#[derive(Default)]
struct Control {
    /// Flushes asked for, and the last one whose lines are written.
    asked: u64,
    done: u64,
}

/// One shard's lines, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<Vec<u8>>);

struct Shared {
    shards: [Shard; SHARDS],
    /// The writer thread sleeps, or is about to: the next line must wake it.
    idle: AtomicBool,
    control: Mutex<Control>,
    wake: Condvar,
    written: Condvar,
    /// Bytes per shard.
    capacity: usize,
    dropped: Arc<AtomicU64>,
}

/// Takes a lock; a panic while holding it leaves only bytes or counts behind: go on with them.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The shard of the calling thread: threads are dealt the shards in turn, once.
fn my_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl Shared {
    /// Whether any shard holds a line.
    fn any_lines(&self) -> bool {
        self.shards.iter().any(|s| !lock(&s.0).is_empty())
    }

    /// Moves every shard's lines to the end of `batch`. A shard is locked only to swap its
    /// buffer with the empty `spare`; the copy is made outside the lock.
    fn take_all(&self, batch: &mut Vec<u8>, spare: &mut Vec<u8>) {
        for shard in &self.shards {
            std::mem::swap(&mut *lock(&shard.0), spare);
            batch.extend_from_slice(spare);
            spare.clear();
        }
    }
}

/// The application side of the buffer.
#[derive(Clone)]
pub(crate) struct LineQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LineQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineQueue")
            .field("capacity", &(self.shared.capacity * SHARDS))
            .field("dropped", &self.shared.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LineQueue {
    /// Starts the writer thread over `out`; the buffers hold `capacity` bytes in all, and
    /// `dropped` counts the lines that did not fit or whose write failed.
    pub(crate) fn start(
        out: Box<dyn Write + Send>,
        capacity: usize,
        dropped: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            shards: std::array::from_fn(|_| Shard::default()),
            idle: AtomicBool::new(false),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            capacity: capacity / SHARDS,
            dropped,
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("octollm-telemetry-log-writer".into())
            .spawn(move || write_lines(writer, out))?;
        Ok(Self { shared })
    }

    /// Appends one line to the calling thread's shard, or drops and counts it when the
    /// shard is full.
    fn push(&self, line: &[u8]) {
        {
            let mut lines = lock(&self.shared.shards[my_shard()].0);
            if lines.len() + line.len() > self.shared.capacity {
                drop(lines);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            lines.extend_from_slice(line);
        }
        // Read-mostly: set once per sleep of the writer, so threads do not contend on it.
        if self.shared.idle.load(Ordering::SeqCst) && self.shared.idle.swap(false, Ordering::SeqCst)
        {
            // Under the control lock, so that the wake-up cannot fall between the writer's
            // last look and its wait.
            let control = lock(&self.shared.control);
            self.shared.wake.notify_one();
            drop(control);
        }
    }

    /// Has every line appended before the call written, waiting at most `timeout`; `false`
    /// when the deadline ran out (stdout blocks).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut control = lock(&self.shared.control);
        control.asked += 1;
        let ticket = control.asked;
        self.shared.wake.notify_one();
        while control.done < ticket {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            control = self
                .shared
                .written
                .wait_timeout(control, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Waits until a line or a flush arrives; `None` once no line is left and no handle of the
/// buffer either. Returns whether a flush is waiting.
fn wait_for_work(shared: &Arc<Shared>) -> Option<bool> {
    let mut control = lock(&shared.control);
    loop {
        if control.done < control.asked {
            shared.idle.store(false, Ordering::SeqCst);
            return Some(true);
        }
        // Idle first, then look: a line appended after the look sees `idle` and wakes us.
        shared.idle.store(true, Ordering::SeqCst);
        if shared.any_lines() {
            shared.idle.store(false, Ordering::SeqCst);
            return Some(false);
        }
        if Arc::strong_count(shared) == 1 {
            return None;
        }
        control = shared
            .wake
            .wait_timeout(control, IDLE_CHECK)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// The writer thread: sleeps until a line or a flush arrives, lets lines gather (not for a
/// flush), writes every shard's lines at once, and reports the flushes it covered. It ends
/// once its buffers are empty and no handle of them is left.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the thread owns one handle: the count of the others tells it when to end"
)]
fn write_lines(shared: Arc<Shared>, mut out: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::new();
    let mut spare: Vec<u8> = Vec::new();
    while let Some(flushing) = wait_for_work(&shared) {
        if !flushing {
            std::thread::sleep(GATHER);
        }
        let covered = lock(&shared.control).asked;
        shared.take_all(&mut batch, &mut spare);
        if !batch.is_empty() {
            let lost = write_batch(&mut *out, &batch);
            if lost > 0 {
                shared.dropped.fetch_add(lost, Ordering::Relaxed);
            }
            batch.clear();
            if batch.capacity() > shared.capacity * SHARDS {
                batch.shrink_to(shared.capacity * SHARDS);
            }
            if spare.capacity() > shared.capacity {
                spare.shrink_to(shared.capacity);
            }
        }
        let mut control = lock(&shared.control);
        control.done = control.done.max(covered);
        drop(control);
        shared.written.notify_all();
    }
}

/// Writes `batch` and flushes; returns the lines lost to a failed write (a line written in
/// part counts as lost).
fn write_batch(out: &mut dyn Write, batch: &[u8]) -> u64 {
    let mut rest = batch;
    while !rest.is_empty() {
        match out.write(rest) {
            Ok(0) => break,
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if rest.is_empty() {
        return match out.flush() {
            Ok(()) => 0,
            Err(_) => lines_in(batch),
        };
    }
    // The lines begun before the failure and not finished, and those after.
    let begun = batch.len() - rest.len();
    let finished = batch[..begun]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    lines_in(&batch[finished..])
}

/// The lines of `bytes`: each ends with a newline, the last one may not.
#[allow(clippy::naive_bytecount, reason = "only after a failed write")]
fn lines_in(bytes: &[u8]) -> u64 {
    let ends = bytes.iter().filter(|b| **b == b'\n').count();
    let unended = usize::from(bytes.last().is_some_and(|b| *b != b'\n'));
    u64::try_from(ends + unended).unwrap_or(u64::MAX)
}

/// The [`MakeWriter`] of the buffer: each event's line is one `write` into it.
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
        let (q, dropped) = queue(&sink, 1 << 20);
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
        assert!(sink.writes.load(Ordering::Relaxed) < 500);
    }

    #[test]
    fn each_threads_lines_stay_in_order() {
        let sink = Sink::default();
        let (q, _) = queue(&sink, 1 << 20);
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
    fn the_thread_writes_what_is_left_and_ends_when_the_last_handle_is_gone() {
        let sink = Sink::default();
        let (q, _) = queue(&sink, 1 << 20);
        let weak = Arc::downgrade(&q.shared);
        let mut w = &q;
        w.write_all(b"last line\n").unwrap();
        drop(q);
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.strong_count() > 0 {
            assert!(Instant::now() < deadline, "the writer thread did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(sink.text(), "last line\n");
    }

    #[test]
    fn a_blocked_stdout_drops_and_counts_instead_of_waiting_and_memory_stays_bounded() {
        let sink = Sink::default();
        sink.block(true);
        let (q, dropped) = queue(&sink, 160);
        let mut w = &q;
        // The writer thread holds at most one batch, the buffer 160 bytes; the rest is dropped.
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        // Held: what fits the buffer, and what the writer thread took before it blocked.
        let lost = dropped.load(Ordering::Relaxed);
        assert!(lost >= 1000 - 2 * 16, "a full buffer drops: {lost} dropped");
        // A flush gives up at its deadline while stdout blocks.
        assert!(!q.flush(Duration::from_millis(100)));
        sink.block(false);
        assert!(q.flush(Duration::from_secs(5)));
        let written = sink.text().lines().count() as u64;
        assert_eq!(written + lost, 1000, "every line is written or counted");
    }

    /// A stdout that takes `accept` bytes, then fails every write.
    struct Failing {
        accept: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.accept == 0 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
            }
            let n = buf.len().min(self.accept);
            self.accept -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_lost_to_a_failed_write_are_counted_as_dropped() {
        let dropped = Arc::new(AtomicU64::new(0));
        let q = LineQueue::start(
            Box::new(Failing { accept: 0 }),
            1 << 20,
            Arc::clone(&dropped),
        )
        .unwrap();
        let mut w = &q;
        for i in 0..10 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(q.flush(Duration::from_secs(5)));
        assert_eq!(dropped.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn a_write_failing_midway_counts_the_lines_not_written_whole() {
        let batch = b"line\nline\nline\nline\nline\n";
        // Two lines and two bytes of the third go out.
        assert_eq!(write_batch(&mut Failing { accept: 12 }, batch), 3);
        assert_eq!(write_batch(&mut Failing { accept: 10 }, batch), 3);
        assert_eq!(write_batch(&mut Failing { accept: 25 }, batch), 0);
        assert_eq!(write_batch(&mut Failing { accept: 0 }, b"a\nno end"), 2);
    }

    #[test]
    fn threads_on_different_shards_all_get_written_in_their_order() {
        let sink = Sink::default();
        let (q, dropped) = queue(&sink, 1 << 22);
        let threads = 2 * SHARDS + 3;
        std::thread::scope(|s| {
            for t in 0..threads {
                let q = &q;
                s.spawn(move || {
                    let mut w = q;
                    for i in 0..200 {
                        w.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        assert!(q.flush(Duration::from_secs(5)));
        let mut next = vec![0; threads];
        for line in sink.text().lines() {
            let (t, i) = line.split_once(' ').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, vec![200; threads]);
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }
}
