//! `force_flush` keeps one deadline in total, however many pipelines hang; `shutdown` keeps a
//! share of its deadline for the log lines the pipelines write last.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::TelemetryGuard;
use crate::error::{ShutdownError, Signal};

/// Held shut until the test opens it.
#[derive(Debug, Default, Clone)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn is_open(&self) -> bool {
        *self.0 .0.lock().unwrap()
    }
}

/// A processor whose flush hangs until the gate opens.
#[derive(Debug)]
struct Hanging(Gate);

impl SpanProcessor for Hanging {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, _span: SpanData) {}
    fn force_flush(&self) -> OTelSdkResult {
        self.0.wait();
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

impl LogProcessor for Hanging {
    fn emit(&self, _record: &mut SdkLogRecord, _scope: &InstrumentationScope) {}
    fn force_flush(&self) -> OTelSdkResult {
        self.0.wait();
        Ok(())
    }
}

#[test]
fn force_flush_keeps_one_deadline_across_hanging_pipelines() {
    const DEADLINE: Duration = Duration::from_secs(1);
    let gate = Gate::default();
    let guard = TelemetryGuard {
        tracer_provider: Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_span_processor(Hanging(gate.clone()))
                .build(),
        ),
        meter_provider: None,
        logger_provider: Some(
            SdkLoggerProvider::builder()
                .with_log_processor(Hanging(gate.clone()))
                .build(),
        ),
        log_lines: None,
        runtime: None,
        counters: Arc::default(),
        shutdown_timeout: DEADLINE,
        #[cfg(feature = "jaeger-remote")]
        remote_sampling: None,
    };

    let started = Instant::now();
    let result = guard.force_flush();
    let took = started.elapsed();
    // It returned although both flushes still hang: it does not wait for a step to end.
    assert!(!gate.is_open());
    match &result {
        Err(ShutdownError::Several(errors)) => {
            let signals: Vec<_> = errors
                .iter()
                .map(|e| match e {
                    ShutdownError::Timeout { signal, deadline } => {
                        assert_eq!(*deadline, DEADLINE);
                        *signal
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(signals, [Signal::Traces, Signal::Logs]);
        }
        other => panic!("{other:?}"),
    }
    // One deadline for both steps (waiting for each in turn would take two). A wall-clock
    // bound, generous on purpose: the steps' own time is the deadline's share for the
    // pipelines (nine tenths), and the test only needs to tell one deadline from two.
    assert!(
        took >= DEADLINE * 9 / 10,
        "returned before the deadline: {took:?}"
    );
    assert!(took < DEADLINE * 2, "more than one deadline: {took:?}");
    gate.open();
}

/// A sink that takes its time over every write and keeps what it was given.
#[derive(Clone, Default)]
struct SlowSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SlowSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(30));
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A span pipeline that uses up the whole time its shutdown is given, then writes a log line
/// (as a pipeline's last warning would be written).
#[derive(Debug)]
struct LateWarning(crate::logs::LineQueue);

impl SpanProcessor for LateWarning {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, _span: SpanData) {}
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        std::thread::sleep(timeout);
        let _ = std::io::Write::write(&mut &self.0, b"the last warning\n");
        Ok(())
    }
}

#[test]
fn a_line_written_as_the_pipelines_run_out_of_time_still_reaches_stdout() {
    const DEADLINE: Duration = Duration::from_secs(1);
    let sink = SlowSink::default();
    let lines = crate::logs::LineQueue::start(Box::new(sink.clone()), 1 << 20, Arc::default())
        .expect("writer thread");
    let guard = TelemetryGuard {
        tracer_provider: Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_span_processor(LateWarning(lines.clone()))
                .build(),
        ),
        meter_provider: None,
        logger_provider: None,
        log_lines: Some(lines),
        runtime: None,
        counters: Arc::default(),
        shutdown_timeout: DEADLINE,
        #[cfg(feature = "jaeger-remote")]
        remote_sampling: None,
    };
    let started = Instant::now();
    let result = guard.shutdown();
    assert!(started.elapsed() < DEADLINE * 2, "{:?}", started.elapsed());
    // The pipeline had its share of the deadline; the share kept for the lines wrote the line
    // it wrote at the end, before shutdown returned (a process exits right after).
    let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(written, "the last warning\n", "{result:?}");
}
