//! The stdout line queue at the branch point (06695dd, src/logs/writer.rs, tests left out): one
//! `Mutex<Vec<u8>>` taken by every line. Copied for the comparison in `benches/locks.rs`.
//!
//! The default writer of the log lines: stdout through a bounded buffer and a writer thread,
//! so that a line costs the service a copy into the buffer, not a `write` system call.
//!
//! - A line is appended to one shared buffer under a short lock. Only the line that finds the
//!   buffer empty while the writer thread sleeps wakes it; the others wake nobody.
//! - The woken thread waits [`GATHER`] for the lines that follow, then takes the whole buffer
//!   and writes it in one `write`. Under load a write carries many lines; a quiet service's
//!   line goes out within [`GATHER`].
//! - Lines keep their order: one buffer, taken whole, and one thread writing.
//! - The buffer is bounded ([`BUFFER_BYTES`]): when stdout blocks (a stalled log agent) and it
//!   is full, new lines are dropped and counted, never waited for.
//! - [`LineQueue::flush`] (called by the guard's shutdown and drop) has everything written
//!   so far go out at once, waiting at most its deadline, so a clean exit loses no line.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// The most bytes the buffer holds; lines that do not fit are dropped and counted.
pub(crate) const BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// How long the woken writer lets lines gather before it writes them.
const GATHER: Duration = Duration::from_millis(2);
/// How often an idle writer looks whether every handle of the buffer is gone (then it ends).
const IDLE_CHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer thread waits for lines (a new line must wake it).
    idle: bool,
    /// Flushes asked for, and the last one whose lines are written.
    asked: u64,
    done: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    written: Condvar,
    capacity: usize,
    dropped: Arc<AtomicU64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only bytes behind: go on with them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.shared.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LineQueue {
    /// Starts the writer thread over `out`; the buffer holds `capacity` bytes, and `dropped`
    /// counts the lines that did not fit.
    pub(crate) fn start(
        out: Box<dyn Write + Send>,
        capacity: usize,
        dropped: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            capacity,
            dropped,
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("octollm-telemetry-log-writer".into())
            .spawn(move || write_lines(writer, out))?;
        Ok(Self { shared })
    }

    /// Appends one line, or drops and counts it when the buffer is full.
    fn push(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.lines.len() + line.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let wake = state.idle && state.lines.is_empty();
        state.lines.extend_from_slice(line);
        if wake {
            state.idle = false;
            drop(state);
            self.shared.wake.notify_one();
        }
    }

    /// Has every line appended before the call written, waiting at most `timeout`; `false`
    /// when the deadline ran out (stdout blocks).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        state.asked += 1;
        let ticket = state.asked;
        self.shared.wake.notify_one();
        while state.done < ticket {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The writer thread: sleeps until a line or a flush arrives, lets lines gather (not for a
/// flush), writes the whole buffer at once, and reports the flushes it covered. It ends once
/// its buffer is empty and no handle of it is left.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the thread owns one handle: the count of the others tells it when to end"
)]
fn write_lines(shared: Arc<Shared>, mut out: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.lines.is_empty() && state.done == state.asked {
            if Arc::strong_count(&shared) == 1 {
                return;
            }
            state.idle = true;
            state = shared
                .wake
                .wait_timeout(state, IDLE_CHECK)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.idle = false;
        if state.done == state.asked {
            drop(state);
            std::thread::sleep(GATHER);
            state = shared.lock();
        }
        // Swap, so that both buffers keep their capacity.
        std::mem::swap(&mut state.lines, &mut batch);
        let covered = state.asked;
        drop(state);
        if !batch.is_empty() {
            // A closed stdout loses the lines; there is nowhere to report it.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if batch.capacity() > shared.capacity {
                batch.shrink_to(shared.capacity);
            }
        }
        let mut state = shared.lock();
        state.done = covered;
        drop(state);
        shared.written.notify_all();
    }
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
