//! Cost of one JSON log line: our `JsonFormat` (which adds the trace context) against
//! tracing-subscriber's built-in `.json()` format.
//!
//! The same event (a message and three fields: a string, an integer, a float) is written to
//! `io::sink` by:
//!
//! | case | subscriber | where |
//! |---|---|---|
//! | `builtin_json` | registry + `fmt::layer().json()` | outside any span (no trace ids) |
//! | `ours_in_span` | registry + tracing-opentelemetry layer (spans only) + `fmt::layer().event_format(JsonFormat)` | inside an entered, sampled span: writes `span`, `trace_id`, `span_id`, `trace_sampled` |
//! | `ours_no_span` | registry + `fmt::layer().event_format(JsonFormat)` | outside any span |
//! | `ours_in_span_otel_events` | as `ours_in_span`, but the tracing-opentelemetry layer also sees the event (as `init_telemetry` installs it) | inside the span: the event is also added to the span as a span event |
//!
//! The span is entered once, outside the timed loop, so `ours_in_span` measures formatting
//! only. In `ours_in_span` the tracing-opentelemetry layer has a per-layer filter that lets
//! spans through and no events, so the difference to `builtin_json` is the formatter;
//! `ours_in_span_otel_events` shows what the production stack adds on top (the span event
//! recorded by tracing-opentelemetry, capped by the SDK at 128 events per span).
//!
//! # Run
//!
//! ```text
//! cargo bench --bench json_format -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! # Results
//!
//! AMD EPYC, 2 vCPUs, Linux, rustc 1.95.0, release profile, 2026-11-24; two runs of the
//! command above, criterion medians and their mean; ratio to `builtin_json` of the same run.
//!
//! | case | ns / event (run 1 / run 2) | mean | ratio |
//! |---|---:|---:|---:|
//! | `builtin_json` | 712 / 723 | 718 | 1.00× |
//! | `ours_in_span` | 335 / 342 | 339 | 0.47× |
//! | `ours_no_span` | 271 / 270 | 271 | 0.38× |
//! | `ours_in_span_otel_events` | 626 / 668 | 647 | 0.90× |
//!
//! The writer is `io::sink`, so these are formatting costs. 12.75 has a short decimal form;
//! the access-log line of `benches/http_layer.rs`, whose `duration_ms` has about 15
//! significant digits, spends about 1.3 k instructions on that one field.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

use octollm_telemetry::logs::JsonFormat;

/// The event every case writes.
#[inline(always)]
fn event() {
    tracing::info!(
        user = "alice@example.com",
        attempts = 3_i64,
        latency_ms = 12.75_f64,
        "completion request finished"
    );
}

fn tracer_provider() -> SdkTracerProvider {
    // No processor: the span is never ended during the run, nothing would be exported.
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build()
}

/// An in-memory writer, to check once what a case writes.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The line our format writes for the event inside an entered span of `tp`.
fn line_in_span(tp: &SdkTracerProvider) -> String {
    let buf = Buf::default();
    let writer = buf.clone();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tp.tracer("bench")))
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new("bench"))
                    .with_writer(move || writer.clone()),
            ),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("handle_completion");
        let _entered = span.enter();
        event();
    });
    let bytes = buf.0.lock().expect("buffer").clone();
    String::from_utf8(bytes).expect("utf-8")
}

fn bench_event(c: &mut Criterion, name: &str, dispatch: &Dispatch, in_span: bool) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = in_span.then(|| tracing::info_span!("handle_completion"));
        let _entered = span.as_ref().map(|s| s.enter());
        c.bench_function(name, |b| b.iter(event));
    });
}

fn json_format(c: &mut Criterion) {
    let builtin = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(io::sink),
        ),
    );
    bench_event(c, "builtin_json", &builtin, false);

    let tp = tracer_provider();
    let line = line_in_span(&tp);
    assert!(
        line.contains("\"trace_id\":") && line.contains("\"latency_ms\":12.75"),
        "{line}"
    );
    let ours_in_span = Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tp.tracer("bench"))
                    .with_threads(false)
                    .with_tracked_inactivity(false)
                    .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.is_span())),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new("bench"))
                    .with_writer(io::sink),
            ),
    );
    bench_event(c, "ours_in_span", &ours_in_span, true);

    let ours_no_span = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonFormat::new("bench"))
                .with_writer(io::sink),
        ),
    );
    bench_event(c, "ours_no_span", &ours_no_span, false);

    let ours_otel_events = Dispatch::new(
        tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tp.tracer("bench"))
                    .with_threads(false)
                    .with_tracked_inactivity(false),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new("bench"))
                    .with_writer(io::sink),
            ),
    );
    bench_event(c, "ours_in_span_otel_events", &ours_otel_events, true);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = json_format
}
criterion_main!(benches);
