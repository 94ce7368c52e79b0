//! Cost per operation of the two things every request or log line does under a shared
//! structure, at 1, 2 and 8 threads, before and after they stopped sharing a lock:
//!
//! | case | before (the branch point, copied in `benches/locks_before/`) | after (the crate) |
//! |---|---|---|
//! | `exemplar` | one process-wide `Mutex<HashMap>`, looked up per sampled request | the series' slots, found once, written with atomics |
//! | `log_line` | one `Mutex<Vec<u8>>` per process, taken by every line | one shard per thread |
//!
//! The `log_line` case also runs tracing-appender's `non_blocking` writer (lossy, its
//! bounded channel and worker thread), the well-kept alternative to the crate's writer, with
//! room for every line; its worker writes to a sink that counts lines, and a run waits until
//! every line reached it.
//!
//! Each operation is what the request path does: an exemplar of a sampled span (the value
//! cycling over four buckets), or a 200-byte line appended to the queue, whose writer thread
//! writes to `io::sink` every 2 ms. The queues hold 256 MiB (the crate's in each of its 16
//! shards), so that no line is dropped (a dropped line costs less than a kept one); the drop
//! counts are printed.
//!
//! The cost per operation is wall time over the operations of all threads: with more threads
//! than cores it is the inverse of the throughput.
//!
//! # Run
//!
//! ```text
//! cargo bench --bench locks -- --rounds 15 --ops 400000   # interleaved, ratios per round
//! cargo bench --bench locks                                # criterion, one case after another
//! ```
//!
//! The interleaved mode runs every case once per round, in a shuffled order, each with the
//! same number of operations in all, and prints the median over the rounds of the ratio
//! after/before taken within each round, with its spread: a change of the machine's
//! background moves a whole round rather than one case.

use std::hint::black_box;
use std::io::Write as _;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

#[path = "locks_before/exemplars.rs"]
#[allow(dead_code, unreachable_pub)]
mod before_exemplars;
#[path = "locks_before/writer.rs"]
#[allow(dead_code, unreachable_pub)]
mod before_writer;

const THREADS: [usize; 3] = [1, 2, 8];
const CAPACITY: usize = 256 << 20;
const VALUES: [f64; 4] = [0.003, 0.02, 0.07, 0.3];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Exemplar,
    LogLine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Before,
    After,
    Appender,
}

/// A sink that counts the lines it is given, so that a run can wait for the appender's worker.
#[derive(Clone, Default)]
struct CountingSink(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        self.0
            .fetch_add(lines, std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Subjects {
    slots: octollm_telemetry::metrics::bench::SeriesSlots,
    before_lines: before_writer::LineQueue,
    before_dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    after_lines: octollm_telemetry::logs::bench::LineQueue,
    after_dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    appender: tracing_appender::non_blocking::NonBlocking,
    _appender_guard: tracing_appender::non_blocking::WorkerGuard,
    appender_written: CountingSink,
    appender_sent: std::sync::atomic::AtomicU64,
    line: Vec<u8>,
}

impl Subjects {
    fn new() -> Self {
        let before_dropped = std::sync::Arc::default();
        let before_lines = before_writer::LineQueue::start(
            Box::new(std::io::sink()),
            CAPACITY,
            std::sync::Arc::clone(&before_dropped),
        )
        .expect("writer thread");
        let (after_lines, after_dropped) =
            octollm_telemetry::logs::bench::line_queue(Box::new(std::io::sink()), 16 * CAPACITY)
                .expect("writer thread");
        let appender_written = CountingSink::default();
        let (appender, appender_guard) =
            tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(CAPACITY / 200)
                .finish(appender_written.clone());
        let mut line = vec![b'x'; 199];
        line.push(b'\n');
        Self {
            slots: octollm_telemetry::metrics::bench::series_slots().expect("room"),
            before_lines,
            before_dropped,
            after_lines,
            after_dropped,
            appender,
            _appender_guard: appender_guard,
            appender_written,
            appender_sent: std::sync::atomic::AtomicU64::new(0),
            line,
        }
    }

    /// `ops` operations of `kind` in `version` on one thread, whose spans carry `thread`.
    fn work(&self, kind: Kind, version: Version, thread: usize, ops: u64) {
        let span = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(thread as u64 + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        for i in 0..ops {
            let value = VALUES[(i & 3) as usize];
            match (kind, version) {
                (Kind::Exemplar, Version::Before) => {
                    before_exemplars::record_series(1, black_box(value), &span);
                }
                (Kind::Exemplar, Version::After) => self.slots.record(black_box(value), &span),
                (Kind::LogLine, Version::Before) => {
                    let _ = (&self.before_lines).write(black_box(&self.line));
                }
                (Kind::LogLine, Version::After) => {
                    self.after_lines.write_line(black_box(&self.line));
                }
                (Kind::LogLine, Version::Appender) => {
                    let _ = tracing_subscriber::fmt::MakeWriter::make_writer(&self.appender)
                        .write(black_box(&self.line));
                }
                (Kind::Exemplar, Version::Appender) => unreachable!("no exemplar case"),
            }
        }
    }

    /// The wall time of `threads` threads doing `per_thread` operations each, started
    /// together; the queues are flushed afterwards, outside the time.
    fn run(&self, kind: Kind, version: Version, threads: usize, per_thread: u64) -> Duration {
        let start = Barrier::new(threads + 1);
        let elapsed = std::thread::scope(|s| {
            for t in 0..threads {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    self.work(kind, version, t, per_thread);
                });
            }
            start.wait();
            Instant::now()
        })
        .elapsed();
        if kind == Kind::LogLine {
            let flushed = match version {
                Version::Before => self.before_lines.flush(Duration::from_secs(30)),
                Version::After => self.after_lines.flush(Duration::from_secs(30)),
                Version::Appender => self.appender_flush(threads as u64 * per_thread),
            };
            assert!(flushed, "the sink never blocks");
        }
        elapsed
    }
}

impl Subjects {
    /// Waits (at most 30 s) until the appender's worker wrote the `sent` lines just sent.
    fn appender_flush(&self, sent: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.appender_sent.fetch_add(sent, Relaxed) + sent;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.appender_written.0.load(Relaxed)
            + u64::try_from(self.appender.error_counter().dropped_lines()).unwrap_or(u64::MAX)
            < total
        {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }
}

fn criterion_mode(subjects: &Subjects) {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for (kind, name) in [(Kind::Exemplar, "exemplar"), (Kind::LogLine, "log_line")] {
        let mut group = c.benchmark_group(name);
        for threads in THREADS {
            let versions: &[(Version, &str)] = if kind == Kind::LogLine {
                &[
                    (Version::Before, "before"),
                    (Version::After, "after"),
                    (Version::Appender, "appender"),
                ]
            } else {
                &[(Version::Before, "before"), (Version::After, "after")]
            };
            for &(version, label) in versions {
                group.bench_with_input(BenchmarkId::new(label, threads), &threads, |b, &t| {
                    // Per operation: the wall time of `iters` operations on each thread over
                    // the threads.
                    b.iter_custom(|iters| subjects.run(kind, version, t, iters) / t as u32);
                });
            }
        }
        group.finish();
    }
    c.final_summary();
}

/// A fixed shuffle (xorshift), so that a run can be repeated.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn interleaved(subjects: &Subjects, rounds: usize, ops: u64) {
    let mut cases = Vec::new();
    for kind in [Kind::Exemplar, Kind::LogLine] {
        for threads in THREADS {
            for version in [Version::Before, Version::After, Version::Appender] {
                if kind == Kind::LogLine || version != Version::Appender {
                    cases.push((kind, threads, version));
                }
            }
        }
    }
    // Warm-up.
    for &(kind, threads, version) in &cases {
        subjects.run(kind, version, threads, ops / 4 / threads as u64);
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    for round in 0..rounds {
        shuffle(&mut order, round as u64 + 1);
        for &i in &order {
            let (kind, threads, version) = cases[i];
            let per_thread = ops / threads as u64;
            let wall = subjects.run(kind, version, threads, per_thread);
            ns[i].push(wall.as_nanos() as f64 / (per_thread * threads as u64) as f64);
        }
    }
    println!("{rounds} rounds, {ops} operations per case and round, order shuffled per round");
    println!();
    println!("| case | threads | before ns/op (median) | after ns/op (median) | after/before: median [min, max] | tracing-appender ns/op (median) | after/appender: median [min, max] |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ratios = |a: &[f64], b: &[f64]| {
        let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        let (lo, hi) = r
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{:.3} [{lo:.3}, {hi:.3}]", median(&mut r))
    };
    let of = |kind, threads, version| {
        cases
            .iter()
            .position(|c| *c == (kind, threads, version))
            .map(|i| &ns[i])
    };
    for &(kind, threads, version) in &cases {
        if version != Version::Before {
            continue;
        }
        let before = of(kind, threads, Version::Before).expect("before");
        let after = of(kind, threads, Version::After).expect("after");
        let (kind, appender_cells) = match of(kind, threads, Version::Appender) {
            None => ("exemplar", "— | —".to_owned()),
            Some(appender) => (
                "log_line",
                format!(
                    "{:.1} | {}",
                    median(&mut appender.clone()),
                    ratios(after, appender)
                ),
            ),
        };
        println!(
            "| {kind} | {threads} | {:.1} | {:.1} | {} | {appender_cells} |",
            median(&mut before.clone()),
            median(&mut after.clone()),
            ratios(after, before),
        );
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subjects = Subjects::new();
    if let Some(rounds) = arg(&args, "--rounds") {
        let rounds = rounds.parse().expect("--rounds");
        let ops = arg(&args, "--ops").map_or(400_000, |v| v.parse().expect("--ops"));
        interleaved(&subjects, rounds, ops);
    } else {
        criterion_mode(&subjects);
    }
    let dropped = |d: &std::sync::atomic::AtomicU64| d.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "log lines dropped: before {}, after {}, tracing-appender {}",
        dropped(&subjects.before_dropped),
        dropped(&subjects.after_dropped),
        subjects.appender.error_counter().dropped_lines()
    );
}
