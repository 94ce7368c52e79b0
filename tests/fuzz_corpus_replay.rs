//! Replays every file of every corpus under `fuzz/corpus/` through the function its fuzz
//! target calls, on the stable toolchain and without a sanitizer, so that an input that once
//! crashed a parser stays fixed. An input that panics, or that runs longer than
//! [`PER_INPUT`], fails the test; so does a missing or empty corpus, or a fuzz target without
//! an entry here.

#![cfg(feature = "_fuzz")]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use octollm_telemetry::fuzz;

/// Text targets take the input only when it is UTF-8, exactly as the fuzz targets do.
fn text(data: &[u8], f: fn(&str)) {
    if let Ok(s) = std::str::from_utf8(data) {
        f(s);
    }
}

/// Each fuzz target (the file name under `fuzz/fuzz_targets/` and the corpus directory) and
/// the body of its `fuzz_target!`.
#[allow(clippy::type_complexity)]
const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("traceparent", |d| {
        let _ = fuzz::traceparent(d);
    }),
    ("tracestate", |d| text(d, fuzz::tracestate)),
    ("baggage", |d| text(d, fuzz::baggage)),
    ("request_id", |d| {
        let _ = fuzz::request_id(d);
    }),
    ("forwarded", fuzz::forwarded),
    ("query", |d| text(d, fuzz::query)),
    ("environment", |d| text(d, fuzz::environment)),
    ("resource_attributes", |d| {
        text(d, fuzz::resource_attributes)
    }),
    ("otlp_headers", |d| text(d, fuzz::otlp_headers)),
    ("sampler", |d| text(d, fuzz::sampler)),
];

/// Time one input may take (an unoptimised build; every corpus input takes milliseconds).
const PER_INPUT: Duration = Duration::from_secs(5);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_fuzz_target_has_a_replayed_corpus() {
    let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "fuzz/fuzz_targets/ and the replay table must name the same targets"
    );
}

#[test]
fn corpora_replay_without_panics() {
    let corpus = fuzz_dir().join("corpus");
    let mut failures = Vec::new();
    let mut replayed = 0usize;
    for (name, run) in TARGETS {
        let dir = corpus.join(name);
        assert!(dir.is_dir(), "missing corpus directory {}", dir.display());
        let inputs = files(&dir);
        assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
        for path in inputs {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let len = data.len();
            // Each input runs on its own thread so that a runaway one is reported instead of
            // hanging the test; it is abandoned and ends with the test process.
            let (done, outcome) = mpsc::channel();
            let run = *run;
            thread::spawn(move || {
                let ok = panic::catch_unwind(AssertUnwindSafe(|| run(&data))).is_ok();
                let _ = done.send(ok);
            });
            let started = Instant::now();
            match outcome.recv_timeout(PER_INPUT) {
                Ok(true) => {}
                Ok(false) => failures.push(format!("{name}: {} ({len} bytes)", path.display())),
                Err(_) => panic!(
                    "{name}: {} ({len} bytes) still running after {:?}{}",
                    path.display(),
                    started.elapsed(),
                    if failures.is_empty() {
                        String::new()
                    } else {
                        format!("; inputs that panicked before it:\n{}", failures.join("\n"))
                    }
                ),
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} corpus inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
