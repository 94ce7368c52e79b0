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
