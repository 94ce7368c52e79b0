//! The W3C propagators that `OTEL_PROPAGATORS` names: the crate's own W3C Trace Context
//! ([`trace_context`]) and W3C Baggage ([`baggage`]) propagators. [`crate::installed`] keeps the one
//! `init_telemetry` installed, where the HTTP layers reach it without the global propagator's
//! lock on every request.

use std::sync::Arc;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};

use crate::config::Propagators;

mod baggage;
mod random_flag;
mod trace_context;

pub(crate) use baggage::BaggagePropagator;
pub(crate) use random_flag::{on_end as random_flag_on_end, on_start as random_flag_on_start};
pub(crate) use trace_context::outgoing_flags;

#[cfg(feature = "_fuzz")]
pub(crate) use trace_context::parse_traceparent;
pub(crate) use trace_context::TraceContext;

pub(crate) type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// The propagators `OTEL_PROPAGATORS` names, in one composite.
pub(crate) fn build(which: Propagators) -> SharedPropagator {
    let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    if which.trace_context {
        propagators.push(Box::new(TraceContext));
    }
    if which.baggage {
        propagators.push(Box::new(BaggagePropagator));
    }
    Arc::new(TextMapCompositePropagator::new(propagators))
}

/// Writes `cx` into outgoing request headers with `propagator`.
pub(crate) fn inject(
    propagator: &dyn TextMapPropagator,
    cx: &opentelemetry::Context,
    headers: &mut http::HeaderMap,
) {
    propagator.inject_context(cx, &mut opentelemetry_http::HeaderInjector(headers));
}

/// Lets the global propagator share the instance the layers use.
#[derive(Debug)]
pub(crate) struct SharedAsGlobal(pub(crate) SharedPropagator);

impl TextMapPropagator for SharedAsGlobal {
    fn inject_context(
        &self,
        cx: &opentelemetry::Context,
        injector: &mut dyn opentelemetry::propagation::Injector,
    ) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn opentelemetry::propagation::Extractor,
    ) -> opentelemetry::Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        self.0.fields()
    }
}

#[cfg(test)]
mod properties {
    use std::collections::HashMap;

    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::trace::TraceContextExt as _;
    use proptest::prelude::*;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn extract(headers: &[(&str, &str)]) -> opentelemetry::Context {
        let carrier: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        build(Propagators {
            trace_context: true,
            baggage: true,
        })
        .extract(&carrier)
    }

    /// `k1=v1,k2=v2`: the list header of `pairs`.
    fn list_header(pairs: &[(String, String)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Distinct keys, so that a list means one thing.
    fn distinct<T>(pairs: Vec<(String, T)>) -> Vec<(String, T)> {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect()
    }

    proptest! {
        #[test]
        fn any_tracestate_keeps_the_parent(value in ".{0,600}") {
            let cx = extract(&[("traceparent", PARENT), ("tracestate", &value)]);
            let sc = cx.span().span_context().clone();
            prop_assert!(sc.is_valid() && sc.is_remote());
            prop_assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }

        #[test]
        fn well_formed_tracestate_round_trips(
            pairs in proptest::collection::vec(("[a-z][a-z0-9_*/-]{0,15}", "[!-+.-<>-~]{1,20}"), 1..8)
        ) {
            let pairs = distinct(pairs);
            let header = list_header(&pairs);
            let cx = extract(&[("traceparent", PARENT), ("tracestate", &header)]);
            let state = cx.span().span_context().trace_state().clone();
            for (k, v) in &pairs {
                prop_assert_eq!(state.get(k), Some(v.as_str()), "{}", header);
            }
            prop_assert_eq!(state.header(), header);
        }

        #[test]
        fn any_baggage_is_bounded(value in ".{0,9000}") {
            let cx = extract(&[("baggage", &value)]);
            let baggage = cx.baggage();
            prop_assert!(baggage.len() <= baggage::MAX_MEMBERS);
            let size: usize = baggage.iter().map(|(k, (v, _))| k.as_str().len() + v.as_str().len()).sum();
            prop_assert!(size <= baggage::MAX_BYTES, "{}", size);
        }

        /// Lists of valid `token=octets` members, up to 200 of them and up to 300 bytes each:
        /// at most 64 members within 8192 bytes are kept and forwarded, in order, and a
        /// member is dropped only when the limits leave no room for it.
        #[test]
        fn valid_baggage_is_kept_within_the_limits(
            pairs in proptest::collection::vec(
                (r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", r"[!#$&-+\--:<-\[\]-~]{0,300}"),
                0..200,
            ),
            max_value in 0usize..300,
        ) {
            let pairs: Vec<(String, String)> = distinct(pairs)
                .into_iter()
                .map(|(k, mut v)| { v.truncate(max_value); (k, v) })
                .collect();
            let cx = extract(&[("baggage", &list_header(&pairs))]);
            let mut out: HashMap<String, String> = HashMap::new();
            build(Propagators { trace_context: true, baggage: true }).inject_context(&cx, &mut out);
            let sent = out.get("baggage").cloned().unwrap_or_default();
            let kept: Vec<&str> = sent.split(',').filter(|m| !m.is_empty()).collect();
            prop_assert!(kept.len() <= baggage::MAX_MEMBERS, "{}", kept.len());
            prop_assert!(sent.len() <= baggage::MAX_BYTES, "{}", sent.len());
            prop_assert_eq!(cx.baggage().len(), kept.len());
            // In input order, each with its value; a dropped member did not fit.
            let mut next = kept.iter().peekable();
            for (k, v) in &pairs {
                let member = format!("{k}={v}");
                if next.peek() == Some(&&member.as_str()) {
                    next.next();
                    prop_assert_eq!(cx.baggage().get(k.as_str()).map(|v| v.as_str().to_owned()), Some(v.clone()));
                } else {
                    prop_assert!(
                        kept.len() == baggage::MAX_MEMBERS || sent.len() + 1 + member.len() > baggage::MAX_BYTES,
                        "{} dropped with {} members in {} bytes", member, kept.len(), sent.len()
                    );
                }
            }
            prop_assert!(next.next().is_none(), "members sent that were not received");
        }

        #[test]
        fn well_formed_baggage_round_trips(
            pairs in proptest::collection::vec(("[A-Za-z][A-Za-z0-9_.-]{0,15}", "[A-Za-z0-9_.~-]{0,20}"), 1..8)
        ) {
            let pairs = distinct(pairs);
            let header = list_header(&pairs);
            let cx = extract(&[("baggage", &header)]);
            for (k, v) in &pairs {
                let got = cx.baggage().get(k.as_str()).map(|v| v.as_str().to_owned());
                prop_assert_eq!(got.as_deref(), Some(v.as_str()), "{}", header);
            }
        }
    }
}
