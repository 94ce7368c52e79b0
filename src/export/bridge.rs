//! The tracer the `tracing` bridge (tracing-opentelemetry) starts its spans with.
//!
//! It is the SDK's tracer, except for one case: a span whose parent is a valid span that is
//! not sampled, under a sampler that always drops such a span (every `parentbased_*` sampler,
//! and `always_off`). There the SDK would draw a span id, run the sampler (which can only
//! drop it), and build a non-recording span that holds a handle on the provider. This tracer
//! makes the same span context directly: the parent's trace id and trace state, a new span
//! id, trace flags `00`, not remote. Log lines written inside such a span carry the trace id
//! and the span's own id, as before; nothing of it is exported, as before; a span whose parent
//! is sampled, or that is a root, goes through the SDK untouched.
//!
//! Kept here rather than left to the SDK because a `tracing` span inside a sampled-out trace
//! is the common case of a service sampled at 10%: measured with `scripts/bench.sh`
//! (callgrind, `stack_span_sampled_out` minus `stack_sampled_out`), see
//! `docs/performance.md`, round three.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanBuilder, SpanContext, Status, TraceContextExt as _, TraceFlags, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, SdkTracer};

/// The SDK's tracer, with the sampled-out child made directly (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct BridgeTracer {
    sdk: SdkTracer,
    /// Whether the configured sampler drops every span whose parent is not sampled.
    drops_unsampled_children: bool,
}

impl BridgeTracer {
    pub(crate) fn new(sdk: SdkTracer, drops_unsampled_children: bool) -> Self {
        Self {
            sdk,
            drops_unsampled_children,
        }
    }
}

impl Tracer for BridgeTracer {
    type Span = BridgeSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> BridgeSpan {
        if self.drops_unsampled_children && !parent_cx.is_telemetry_suppressed() {
            let parent = parent_cx.span();
            let sc = parent.span_context();
            if sc.is_valid() && !sc.is_sampled() {
                // What the SDK builds for a dropped span with a valid parent.
                return BridgeSpan::Unsampled(SpanContext::new(
                    sc.trace_id(),
                    RandomIdGenerator::default().new_span_id(),
                    TraceFlags::default(),
                    false,
                    sc.trace_state().clone(),
                ));
            }
        }
        BridgeSpan::Sdk(self.sdk.build_with_context(builder, parent_cx))
    }
}

/// A span of [`BridgeTracer`]: the SDK's, or the context of a span that records nothing.
#[derive(Debug)]
// Boxing the SDK's span would cost every recorded span one more allocation; the value is
// moved once, into the context's own allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum BridgeSpan {
    Sdk(opentelemetry_sdk::trace::Span),
    Unsampled(SpanContext),
}

impl opentelemetry::trace::Span for BridgeSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Self::Sdk(span) = self {
            span.add_event_with_timestamp(name, timestamp, attributes);
        }
    }

    fn span_context(&self) -> &SpanContext {
        match self {
            Self::Sdk(span) => span.span_context(),
            Self::Unsampled(sc) => sc,
        }
    }

    fn is_recording(&self) -> bool {
        match self {
            Self::Sdk(span) => span.is_recording(),
            Self::Unsampled(_) => false,
        }
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Self::Sdk(span) = self {
            span.set_attribute(attribute);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Self::Sdk(span) = self {
            span.set_status(status);
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Self::Sdk(span) = self {
            span.update_name(new_name);
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let Self::Sdk(span) = self {
            span.add_link(span_context, attributes);
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Self::Sdk(span) = self {
            span.end_with_timestamp(timestamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        Span as _, SpanId, SpanKind, TraceId, TraceState, TracerProvider as _,
    };
    use opentelemetry_sdk::trace::{SamplingDecision, SdkTracerProvider, ShouldSample as _};

    use super::*;
    use crate::config::Sampler;

    fn unsampled_parent(remote: bool) -> Context {
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::default(),
            remote,
            TraceState::from_key_value([("ot", "th:fd70a4"), ("vendor", "x")]).unwrap(),
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn the_fast_path_is_taken_only_where_the_sdk_sampler_drops_the_child() {
        for sampler in [
            Sampler::AlwaysOn,
            Sampler::AlwaysOff,
            Sampler::TraceIdRatio(0.5),
            Sampler::ParentBasedAlwaysOn,
            Sampler::ParentBasedAlwaysOff,
            Sampler::ParentBasedTraceIdRatio(0.5),
            Sampler::ParentBasedTraceIdRatio(1.0),
        ] {
            let sdk = sampler.to_sdk().expect("a fixed sampler");
            for remote in [false, true] {
                let cx = unsampled_parent(remote);
                let decision = sdk
                    .should_sample(
                        Some(&cx),
                        cx.span().span_context().trace_id(),
                        "child",
                        &SpanKind::Internal,
                        &[],
                        &[],
                    )
                    .decision;
                if sampler.drops_unsampled_children() {
                    assert_eq!(decision, SamplingDecision::Drop, "{sampler:?}");
                }
            }
        }
        assert!(!Sampler::AlwaysOn.drops_unsampled_children());
    }

    #[test]
    fn a_sampled_out_child_has_the_context_the_sdk_would_give_it() {
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBasedTraceIdRatio(1.0).to_sdk().unwrap())
            .build();
        let sdk = provider.tracer("t");
        let bridge = BridgeTracer::new(sdk.clone(), true);
        for remote in [false, true] {
            let parent = unsampled_parent(remote);
            let ours = bridge.build_with_context(sdk.span_builder("child"), &parent);
            let theirs = sdk.build_with_context(sdk.span_builder("child"), &parent);
            assert!(matches!(ours, BridgeSpan::Unsampled(_)), "the fast path");
            let (ours, theirs) = (ours.span_context(), theirs.span_context());
            assert_eq!(ours.trace_id(), theirs.trace_id());
            assert_eq!(ours.trace_flags(), theirs.trace_flags());
            assert_eq!(ours.is_remote(), theirs.is_remote());
            assert_eq!(ours.trace_state(), theirs.trace_state());
            assert_ne!(ours.span_id(), parent.span().span_context().span_id());
            assert!(ours.is_valid() && !ours.is_sampled());
        }
        // A sampled parent, a root and a suppressed context go to the SDK.
        let sampled = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        for cx in [
            sampled,
            Context::new(),
            unsampled_parent(false).with_telemetry_suppressed(),
        ] {
            let span = bridge.build_with_context(sdk.span_builder("child"), &cx);
            assert!(matches!(span, BridgeSpan::Sdk(_)));
        }
        let mut recorded = bridge.build_with_context(sdk.span_builder("root"), &Context::new());
        assert!(recorded.is_recording());
        recorded.end();
    }
}
