//! `tracing` spans inside a sampled-out trace, which the crate's bridge tracer makes without
//! the SDK (see `src/export/bridge.rs`): what users rely on stays as it was. Log lines inside
//! such a span carry the trace id and the span's own id; parentage holds across spawned
//! tasks; `OpenTelemetrySpanExt::{context, set_parent, add_link}` work; a worker's root span
//! is covered too; nothing is exported. Built with `TelemetryConfig::build`, installs nothing.

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{LogFormat, MetricsExporter, Sampler, Telemetry, TelemetryConfig};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::{Map, Value};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::support::lines::Lines;

/// The one line whose message is `message`.
fn with_message(lines: &Lines, message: &str) -> Map<String, Value> {
    let mut found: Vec<Map<String, Value>> = lines
        .json()
        .into_iter()
        .filter_map(|l| match l {
            Value::Object(l) => Some(l),
            _ => None,
        })
        .filter(|l| l.get("message").and_then(Value::as_str) == Some(message))
        .collect();
    assert_eq!(found.len(), 1, "one line {message:?} in:\n{}", lines.text());
    found.remove(0)
}

struct Stack {
    telemetry: Telemetry,
    dispatch: tracing::Dispatch,
    lines: Lines,
    spans: InMemorySpanExporter,
}

impl Stack {
    fn new(sampler: Sampler) -> Self {
        let lines = Lines::default();
        let writer = lines.clone();
        let spans = InMemorySpanExporter::default();
        let telemetry = TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "sampled-out")])
            .unwrap()
            .sampler(sampler)
            .span_exporter(spans.clone())
            .metrics_exporter(MetricsExporter::None)
            .runtime_metrics(false)
            .log_format(LogFormat::Json)
            .log_writer(writer)
            .build()
            .unwrap();
        let dispatch =
            tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
        Self {
            telemetry,
            dispatch,
            lines,
            spans,
        }
    }

    fn exported(&self) -> Vec<SpanData> {
        self.telemetry.tracer_provider().force_flush().unwrap();
        self.spans.get_finished_spans().unwrap()
    }
}

fn ids(span: &tracing::Span) -> (TraceId, SpanId, bool) {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    assert!(sc.is_valid(), "a valid span context");
    (sc.trace_id(), sc.span_id(), sc.is_sampled())
}

fn line_ids(line: &Map<String, Value>) -> (String, String, bool) {
    (
        line["trace_id"].as_str().unwrap().to_owned(),
        line["span_id"].as_str().unwrap().to_owned(),
        line["trace_sampled"].as_bool().unwrap(),
    )
}

#[test]
fn lines_in_a_sampled_out_trace_carry_the_trace_id_and_their_own_span_id() {
    let stack = Stack::new(Sampler::ParentBasedTraceIdRatio(0.0));
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let root = tracing::info_span!("request");
        let (trace, root_id, sampled) = ids(&root);
        assert!(!sampled);
        root.in_scope(|| {
            let child = tracing::info_span!("load_item", item.id = 42);
            let (child_trace, child_id, child_sampled) = ids(&child);
            assert_eq!(child_trace, trace, "the child is in the root's trace");
            assert_ne!(child_id, root_id, "the child has its own span id");
            assert!(!child_sampled);
            child.in_scope(|| {
                tracing::info!("inside the child");
                let grandchild = tracing::info_span!("decode");
                grandchild.in_scope(|| tracing::warn!("inside the grandchild"));
                let (g_trace, g_id, _) = ids(&grandchild);
                assert_eq!(g_trace, trace);
                assert!(g_id != child_id && g_id != root_id);
                let line = with_message(&stack.lines, "inside the grandchild");
                assert_eq!(
                    line_ids(&line),
                    (trace.to_string(), g_id.to_string(), false)
                );
                assert_eq!(line["span"], "decode");
            });
            let line = with_message(&stack.lines, "inside the child");
            assert_eq!(
                line_ids(&line),
                (trace.to_string(), child_id.to_string(), false)
            );
            assert_eq!(line["span"], "load_item");
        });
    });
    assert!(
        stack.exported().is_empty(),
        "nothing of the trace is exported"
    );
}

#[test]
fn parentage_holds_across_spawned_tasks_in_a_sampled_out_trace() {
    let stack = Stack::new(Sampler::ParentBasedTraceIdRatio(0.0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let root = tracing::info_span!("request");
        let (trace, ..) = ids(&root);
        let task_span = root.in_scope(|| tracing::info_span!("task"));
        let (_, task_id, _) = ids(&task_span);
        // Created inside the root, polled after the root was left, on a spawned task.
        let handle = runtime.spawn(
            async {
                tokio::task::yield_now().await;
                tracing::info!("inside the task");
                let inner = tracing::info_span!("inner");
                let inner_ids = ids(&inner);
                async { tracing::info!("inside the inner span") }
                    .instrument(inner)
                    .await;
                inner_ids
            }
            .instrument(task_span),
        );
        drop(root);
        let (inner_trace, inner_id, _) = runtime.block_on(handle).unwrap();
        assert_eq!(
            inner_trace, trace,
            "the task's child is in the root's trace"
        );
        assert_eq!(
            line_ids(&with_message(&stack.lines, "inside the task")),
            (trace.to_string(), task_id.to_string(), false)
        );
        assert_eq!(
            line_ids(&with_message(&stack.lines, "inside the inner span")),
            (trace.to_string(), inner_id.to_string(), false)
        );
    });
    assert!(stack.exported().is_empty());
}

#[test]
fn extension_calls_work_on_spans_in_a_sampled_out_trace() {
    let stack = Stack::new(Sampler::ParentBasedTraceIdRatio(0.0));
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let linked = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let root = tracing::info_span!("request");
        let (trace, ..) = ids(&root);
        root.in_scope(|| {
            // `add_link` on a sampled-out span: accepted, nothing recorded.
            let quiet = tracing::info_span!("quiet");
            quiet.add_link(linked.clone());
            assert_eq!(ids(&quiet).0, trace);
            drop(quiet);

            // `set_parent` before the span starts moves it into a sampled trace: recorded,
            // with its fields, its parent and a link.
            let moved = tracing::info_span!("consume", messaging.system = "kafka");
            moved
                .set_parent(opentelemetry::Context::new().with_remote_span_context(remote.clone()))
                .expect("set_parent before the span starts");
            moved.add_link(linked.clone());
            let (moved_trace, _, moved_sampled) = ids(&moved);
            assert_eq!(moved_trace, remote.trace_id());
            assert!(moved_sampled);
            moved.in_scope(|| tracing::info!("inside the moved span"));
        });
    });
    let exported = stack.exported();
    assert_eq!(
        exported.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>(),
        ["consume"],
        "only the span moved into a sampled trace is exported"
    );
    let consume = &exported[0];
    assert_eq!(consume.span_context.trace_id(), remote.trace_id());
    assert_eq!(consume.parent_span_id, remote.span_id());
    assert!(consume
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "messaging.system" && kv.value.as_str() == "kafka"));
    assert_eq!(
        consume
            .links
            .iter()
            .map(|l| l.span_context.span_id())
            .collect::<Vec<_>>(),
        [linked.span_id()]
    );
}

#[test]
fn a_workers_root_span_starts_its_trace_sampled_or_not() {
    for (ratio, sampled) in [(0.0, false), (1.0, true)] {
        let stack = Stack::new(Sampler::ParentBasedTraceIdRatio(ratio));
        let (trace, root_id, child_id) = tracing::dispatcher::with_default(&stack.dispatch, || {
            let job = tracing::info_span!("job", job.id = 7);
            let (trace, root_id, root_sampled) = ids(&job);
            assert_eq!(root_sampled, sampled);
            job.in_scope(|| {
                let step = tracing::info_span!("step");
                let (step_trace, step_id, step_sampled) = ids(&step);
                assert_eq!((step_trace, step_sampled), (trace, sampled));
                step.in_scope(|| tracing::info!("inside the step"));
                assert_eq!(
                    line_ids(&with_message(&stack.lines, "inside the step")),
                    (trace.to_string(), step_id.to_string(), sampled)
                );
                (trace, root_id, step_id)
            })
        });
        let exported = stack.exported();
        if sampled {
            let step = exported.iter().find(|s| s.name == "step").expect("step");
            let job = exported.iter().find(|s| s.name == "job").expect("job");
            assert_eq!(job.span_context.span_id(), root_id);
            assert_eq!(step.span_context.span_id(), child_id);
            assert_eq!(step.parent_span_id, root_id);
            assert_eq!(step.span_context.trace_id(), trace);
        } else {
            assert!(exported.is_empty(), "{exported:?}");
        }
    }
}

#[test]
fn a_sampler_that_ignores_the_parent_still_decides_each_child() {
    // `always_on` records a child whatever its parent decided: the SDK decides it.
    let stack = Stack::new(Sampler::AlwaysOn);
    let unsampled = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let span = tracing::info_span!("under_an_unsampled_parent");
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(unsampled.clone()))
            .unwrap();
        let (trace, _, sampled) = ids(&span);
        assert_eq!(trace, unsampled.trace_id());
        assert!(sampled, "always_on samples it");
    });
    assert_eq!(stack.exported().len(), 1);
}
