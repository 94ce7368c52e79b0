use std::io;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
            .collect()
    }
}

/// Runs `f` under a subscriber with the OTel layer and our JSON format; returns the lines.
fn capture(sampler: Sampler, f: impl FnOnce()) -> Vec<Value> {
    let buffer = Buffer::default();
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonFormat::new("svc \"quoted\""))
                .with_writer(move || writer.clone()),
        );
    tracing::subscriber::with_default(subscriber, f);
    buffer.lines()
}

#[test]
fn schema_of_a_line_inside_a_span() {
    let mut ids = (String::new(), String::new());
    let lines = capture(Sampler::AlwaysOn, || {
        let span = tracing::info_span!("detect_pii");
        let _e = span.enter();
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        ids = (sc.trace_id().to_string(), sc.span_id().to_string());
        tracing::warn!(
            entities = 2_u64,
            ratio = 0.5,
            ok = true,
            who = "a\"b",
            delta = -3_i64,
            "pii found"
        );
    });
    assert_eq!(lines.len(), 1);
    let line = lines[0].as_object().unwrap();
    assert_eq!(line["level"], "warn");
    assert_eq!(line["target"], module_path!());
    assert_eq!(line["message"], "pii found");
    assert_eq!(line["entities"], 2);
    assert_eq!(line["ratio"], 0.5);
    assert_eq!(line["ok"], true);
    assert_eq!(line["who"], "a\"b");
    assert_eq!(line["delta"], -3);
    assert_eq!(line["span"], "detect_pii");
    assert_eq!(line["trace_id"], ids.0.as_str());
    assert_eq!(line["span_id"], ids.1.as_str());
    assert_eq!(line["trace_sampled"], true);
    assert_eq!(line["service"], "svc \"quoted\"");
    let ts = line["timestamp"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-11-24T09:12:03.512214Z".len(),
        "{ts}"
    );
    assert_eq!(ids.0.len(), 32);
    assert_eq!(ids.1.len(), 16);
}

#[test]
fn no_trace_keys_outside_a_span() {
    let lines = capture(Sampler::AlwaysOn, || tracing::info!("boot"));
    let line = lines[0].as_object().unwrap();
    for key in ["trace_id", "span_id", "trace_sampled", "span"] {
        assert!(!line.contains_key(key), "{key} in {line:?}");
    }
    assert_eq!(line["message"], "boot");
}

#[test]
fn unsampled_spans_still_carry_ids() {
    let lines = capture(Sampler::AlwaysOff, || {
        let span = tracing::info_span!("quiet");
        let _e = span.enter();
        tracing::info!("inside");
    });
    let line = lines[0].as_object().unwrap();
    assert_eq!(line["trace_sampled"], false);
    let trace_id = line["trace_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(trace_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_ne!(trace_id, "00000000000000000000000000000000");
}

#[test]
fn nested_spans_log_the_innermost() {
    let lines = capture(Sampler::AlwaysOn, || {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        tracing::info!("in outer");
        let inner = tracing::info_span!("inner");
        let _i = inner.enter();
        tracing::info!("in inner");
    });
    assert_eq!(lines[0]["span"], "outer");
    assert_eq!(lines[1]["span"], "inner");
    assert_eq!(lines[0]["trace_id"], lines[1]["trace_id"]);
    assert_ne!(lines[0]["span_id"], lines[1]["span_id"]);
}

#[test]
fn reserved_keys_are_never_overwritten() {
    let lines = capture(Sampler::AlwaysOn, || {
        tracing::info!(
            level = "fake",
            trace_id = "fake",
            service = "fake",
            timestamp = 1,
            "real"
        );
    });
    let line = lines[0].as_object().unwrap();
    assert_eq!(line["level"], "info");
    assert_eq!(line["service"], "svc \"quoted\"");
    assert_eq!(line["message"], "real");
    assert!(!line.contains_key("trace_id"));
    assert_eq!(line["fields.level"], "fake");
    assert_eq!(line["fields.trace_id"], "fake");
    assert_eq!(line["fields.service"], "fake");
    assert_eq!(line["fields.timestamp"], 1);
}

#[derive(Debug)]
#[allow(dead_code)]
struct Thing(&'static str);

#[test]
fn any_content_stays_valid_json() {
    let nasty = "quote\" backslash\\ newline\n cr\r tab\t nul\u{0} bell\u{7} esc\u{1b} del\u{7f} unicode é ✓ \u{2028}";
    let lines = capture(Sampler::AlwaysOn, || {
        let err = io::Error::other("bad\n\"thing\"");
        tracing::error!(text = nasty, debug = ?Thing(nasty), error = &err as &dyn std::error::Error, nan = f64::NAN, inf = f64::INFINITY, big = u64::MAX, neg = i128::MIN / 2, "msg {}", nasty);
    });
    let line = lines[0].as_object().unwrap();
    assert_eq!(line["text"], nasty);
    assert_eq!(line["debug"], format!("{:?}", Thing(nasty)));
    assert_eq!(line["error"], "bad\n\"thing\"");
    assert_eq!(line["nan"], "NaN");
    assert_eq!(line["inf"], "inf");
    assert_eq!(line["big"], u64::MAX);
    assert!(line["neg"].is_number());
    assert_eq!(line["message"], format!("msg {nasty}"));
}

#[test]
fn writes_one_line_per_event() {
    let lines = capture(Sampler::AlwaysOn, || {
        for i in 0..10 {
            tracing::info!(i, "line");
        }
    });
    assert_eq!(lines.len(), 10);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["i"], i as u64);
    }
}

/// A field whose `Debug` logs an event of its own.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!(inner = 1, "logged while formatting");
        f.write_str("chatty")
    }
}

/// (`tracing` drops an event dispatched while another is being handled on the same thread.)
#[test]
fn a_field_that_logs_while_formatted_leaves_the_lines_whole() {
    let lines = capture(Sampler::AlwaysOn, || {
        tracing::info!(value = ?Chatty, "outer");
        tracing::info!("after");
    });
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["outer", "after"]);
    assert_eq!(lines[0]["value"], "chatty");
}
