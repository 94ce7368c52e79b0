//! The W3C `random` trace flag on the exported spans of traces started in this process.
//!
//! The SDK starts a local root with `TraceFlags::default()` and gives a child its parent's
//! flags, so without help no span of a trace started here would carry `random`, although the
//! crate's tracer providers draw every trace id at random. A span's context cannot change
//! once the SDK created it, so the batch processor completes the flags of what it exports:
//! - a local root (no parent) started its trace here: `random` is set;
//! - any other span is decided when it starts, from its parent context, by the rule of the
//!   outgoing and response `traceparent` ([`random_flag`]): a trace joined from a caller keeps
//!   the caller's flag (which the SDK already copied from the remote parent), any other trace
//!   started here. The sampled spans that need the flag are noted by span id and taken off
//!   when they end, so the set holds spans in flight only (spans still open when their
//!   provider shuts down are never ended, and stay).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use opentelemetry::trace::{Span as _, SpanContext, SpanId, TraceContextExt as _, TraceFlags};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{Span, SpanData};

use super::trace_context::{random_flag, RANDOM};

/// Shards of the set, so that spans starting and ending on different threads rarely meet on
/// one lock.
const SHARDS: usize = 16;

/// The ids of the sampled spans in flight that get `random` when they end.
static NEEDS_RANDOM: LazyLock<[Mutex<HashSet<u64>>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashSet::new())));

fn shard(id: SpanId) -> (u64, &'static Mutex<HashSet<u64>>) {
    let id = u64::from_be_bytes(id.to_bytes());
    // The remainder is below `SHARDS`.
    #[allow(clippy::cast_possible_truncation)]
    let index = (id % SHARDS as u64) as usize;
    (id, &NEEDS_RANDOM[index])
}

/// When `span` starts under `parent`: notes it if it is a sampled local child whose trace
/// takes `random` but whose flags, inherited from its parent, lack it.
pub(crate) fn on_start(span: &Span, parent: &Context) {
    let sc = span.span_context();
    let parent_span = parent.span();
    let parent_sc = parent_span.span_context();
    if !sc.is_sampled() || sc.trace_flags().to_u8() & RANDOM != 0 || !parent_sc.is_valid() {
        // Not exported; already set; or a local root, completed in `on_end`.
        return;
    }
    if random_flag(parent, sc.trace_id()) != 0 {
        let (id, shard) = shard(sc.span_id());
        shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }
}

/// When a sampled `span` ends: sets `random` on a local root and on the spans noted when they
/// started.
pub(crate) fn on_end(span: &mut SpanData) {
    let flags = span.span_context.trace_flags().to_u8();
    if flags & RANDOM != 0 {
        return;
    }
    let local_root = span.parent_span_id == SpanId::INVALID;
    let noted = || {
        let (id, shard) = shard(span.span_context.span_id());
        shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    };
    if local_root || noted() {
        let sc = &span.span_context;
        span.span_context = SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            TraceFlags::new(flags | RANDOM),
            sc.is_remote(),
            sc.trace_state().clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanProcessor};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::propagation::TraceContext;

    /// Calls the hooks as the batch processor does, and keeps what it would export.
    #[derive(Debug, Clone, Default)]
    struct Exported(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Exported {
        fn on_start(&self, span: &mut Span, cx: &Context) {
            on_start(span, cx);
        }
        fn on_end(&self, mut span: SpanData) {
            if span.span_context.is_sampled() {
                on_end(&mut span);
                self.0.lock().unwrap().push(span);
            }
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    impl Exported {
        /// Each exported span's name and flags.
        fn flags(&self) -> HashMap<String, u8> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|s| (s.name.to_string(), s.span_context.trace_flags().to_u8()))
                .collect()
        }
    }

    fn provider() -> (SdkTracerProvider, Exported) {
        let exported = Exported::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(exported.clone())
            .build();
        (provider, exported)
    }

    fn noted(id: SpanId) -> bool {
        let (id, shard) = shard(id);
        shard.lock().unwrap().contains(&id)
    }

    fn caller(flags: &str) -> Context {
        let carrier = HashMap::from([(
            "traceparent".to_owned(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
        )]);
        TraceContext.extract(&carrier)
    }

    #[test]
    fn every_span_of_a_trace_started_here_is_random_whatever_ends_first() {
        let (provider, exported) = provider();
        let tracer = provider.tracer("t");
        let root = tracer.start_with_context("root", &Context::new());
        let root_cx = Context::new().with_span(root);
        let child = tracer.start_with_context("child", &root_cx);
        let child_id = child.span_context().span_id();
        let child_cx = root_cx.with_span(child);
        let grandchild = tracer.start_with_context("grandchild", &child_cx);
        let grandchild_id = grandchild.span_context().span_id();
        assert!(noted(child_id) && noted(grandchild_id));
        // The root ends first, the grandchild last.
        root_cx.span().end();
        child_cx.span().end();
        drop(grandchild);
        let flags = exported.flags();
        assert_eq!(flags.len(), 3, "{flags:?}");
        assert!(flags.values().all(|f| *f == 0x03), "{flags:?}");
        assert!(
            !noted(child_id) && !noted(grandchild_id),
            "taken off when ended"
        );
    }

    #[test]
    fn a_continued_trace_keeps_the_callers_flag() {
        for (received, expected) in [("01", 0x01), ("03", 0x03)] {
            let (provider, exported) = provider();
            let tracer = provider.tracer("t");
            let parent = caller(received);
            let server = tracer.start_with_context("server", &parent);
            let server_cx = parent.with_span(server);
            let child = tracer.start_with_context("child", &server_cx);
            assert!(!noted(child.span_context().span_id()));
            drop(child);
            server_cx.span().end();
            let flags = exported.flags();
            assert_eq!(flags.len(), 2, "{flags:?}");
            assert!(
                flags.values().all(|f| *f == expected),
                "{received}: {flags:?}"
            );
        }
    }

    #[test]
    fn tracing_spans_get_the_same_flags() {
        let (provider, exported) = provider();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("local_root")
                .in_scope(|| tracing::info_span!("local_child").in_scope(|| {}));
            let joined = tracing::info_span!("joined");
            joined.set_parent(caller("01")).unwrap();
            joined.in_scope(|| tracing::info_span!("joined_child").in_scope(|| {}));
        });
        let flags = exported.flags();
        assert_eq!(flags.len(), 4, "{flags:?}");
        assert_eq!(flags["local_root"], 0x03);
        assert_eq!(flags["local_child"], 0x03);
        assert_eq!(flags["joined"], 0x01);
        assert_eq!(flags["joined_child"], 0x01);
    }
}
