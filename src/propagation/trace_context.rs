//! W3C Trace Context (Level 2), `traceparent` and `tracestate`, parsed and written to the
//! letter of the specification (<https://www.w3.org/TR/trace-context-2/>), in place of the
//! SDK's propagator, which differs from it in the ways listed in [`TraceContext`].
//!
//! The SDK's [`TraceState`] cannot hold every list the specification allows (it refuses some
//! valid keys and accepts some invalid values), so the validated list travels beside it in the
//! context as [`Forwarded`], and [`TraceContext::inject_context`] writes that list while the
//! span's `TraceState` is the one extracted (nobody changed it). The list written is rebuilt
//! from the one received, with the same members in the same order: the whitespace around
//! members and the empty members are left out, several `tracestate` headers become one, and
//! of a key given twice only the first member is kept.

use std::sync::Arc;

use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::Context;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The `sampled` and `random` flags: the ones this version defines; the others are sent as 0.
const KNOWN_FLAGS: u8 = 0x03;
/// The `random` flag (Level 2): the right-most 7 bytes of the trace id are random.
pub(crate) const RANDOM: u8 = 0x02;
/// At most this many list members; a longer list is invalid as a whole.
const MAX_MEMBERS: usize = 32;

/// The W3C `traceparent`/`tracestate` propagator.
///
/// Where it differs from `opentelemetry_sdk::propagation::TraceContextPropagator`:
/// - more than one `traceparent` header is invalid: the request starts a new trace;
/// - every `tracestate` header is read and combined in order (an empty one adds nothing);
/// - a `tracestate` list is checked against the specification's grammar (keys of up to 256
///   characters from `a-z0-9_-*/@` starting with a letter or digit, values of 1 to 256
///   printable characters without `,` and `=` not ending in a space, at most 32 members) and
///   discarded whole when it breaks it, never cut; of a key given twice, the first member is
///   kept and the later ones dropped (what the W3C test suite expects);
/// - the `random` trace flag is kept, and set on traces started in this process (the crate's
///   tracer providers draw every trace id at random): on outgoing calls, on the response
///   `traceparent` and on the exported spans alike ([`random_flag`]);
/// - no `tracestate` header is sent for an empty list;
/// - optional whitespace around a `traceparent` value is accepted.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TraceContext;

/// The `tracestate` list of an extracted parent, as the specification validated it, with the
/// parent it came with and the SDK's view of the same list.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    trace_id: TraceId,
    /// The parent's `random` flag (the SDK drops it from the spans it does not sample).
    random: u8,
    sdk: TraceState,
    header: Arc<str>,
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// The known flags only.
    pub(crate) flags: u8,
}

fn lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn hex_u8(bytes: &[u8]) -> u8 {
    let nibble = |c: u8| {
        if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        }
    };
    (nibble(bytes[0]) << 4) | nibble(bytes[1])
}

/// Space and horizontal tab, the optional whitespace of RFC 9110.
fn ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one `traceparent` value: version `00` with exactly four fields, or a higher version
/// (not `ff`) whose first four fields have the same form and, if more follows, a dash after
/// the flags; lower-case hex of the exact lengths; neither id all zeros.
pub(crate) fn parse_traceparent(value: &str) -> Option<Parent> {
    let value = value.trim_matches(ows).as_bytes();
    if value.len() < 55 {
        return None;
    }
    let (version, trace, span, flags) =
        (&value[0..2], &value[3..35], &value[36..52], &value[53..55]);
    let dashes = value[2] == b'-' && value[35] == b'-' && value[52] == b'-';
    if !dashes || !lower_hex(version) || !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags)
    {
        return None;
    }
    let length_ok = match version {
        b"00" => value.len() == 55,
        b"ff" => false,
        _ => value.len() == 55 || value[55] == b'-',
    };
    if !length_ok {
        return None;
    }
    let trace_id = TraceId::from_hex(std::str::from_utf8(trace).ok()?).ok()?;
    let span_id = SpanId::from_hex(std::str::from_utf8(span).ok()?).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        flags: hex_u8(flags) & KNOWN_FLAGS,
    })
}

/// A `tracestate` key: a lower-case letter or digit, then up to 255 of `a-z 0-9 _ - * / @`.
pub(crate) fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && bytes.len() <= 256
        && bytes.iter().all(|&c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// A `tracestate` value: 1 to 256 printable ASCII characters (0x20–0x7E) without `,` and
/// `=`, the last one not a space.
pub(crate) fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 256
        && bytes.last() != Some(&b' ')
        && bytes
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

/// Combines the `tracestate` header values in order and validates the list. `Some(members)`
/// (possibly empty) for a valid list, `None` for one to discard whole. A key repeated later in
/// the list is dropped there: the first member of each key is kept.
pub(crate) fn parse_tracestate<'a>(values: &[&'a str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in values.iter().flat_map(|v| v.split(',')) {
        // Spaces and tabs around a member are not part of it; an empty member is allowed.
        let member = member.trim_matches(ows);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(value) {
            return None;
        }
        if members.iter().any(|(k, _)| *k == key) {
            continue;
        }
        members.push((key, value));
        if members.len() > MAX_MEMBERS {
            return None;
        }
    }
    Some(members)
}

/// The SDK's `TraceState` for the members it can hold (each is tried alone, in order).
fn sdk_state(members: &[(&str, &str)]) -> TraceState {
    let kept = members
        .iter()
        .filter(|(k, v)| TraceState::from_key_value([(*k, *v)]).is_ok());
    TraceState::from_key_value(kept.copied()).unwrap_or_default()
}

/// `00-<trace id>-<span id>-<flags>`, lower-case, the flags limited to the known ones.
pub(crate) fn format_traceparent(sc: &SpanContext, flags: u8) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        flags & KNOWN_FLAGS
    )
}

/// The `random` flag of the trace `trace_id` seen from `cx`: the caller's, as received, when
/// `cx` continues an extracted parent of that trace; else set (the trace started in this
/// process, and the crate's providers draw trace ids at random). The one rule behind the
/// outgoing and response `traceparent` and the exported spans' flags.
pub(crate) fn random_flag(cx: &Context, trace_id: TraceId) -> u8 {
    match cx.get::<Forwarded>() {
        Some(f) if f.trace_id == trace_id => f.random,
        _ => RANDOM,
    }
}

/// The flags to send for `sc` in `cx`: the span's `sampled`, and the trace's `random`
/// ([`random_flag`]).
pub(crate) fn outgoing_flags(cx: &Context, sc: &SpanContext) -> u8 {
    let flags = sc.trace_flags().to_u8();
    if sc.is_remote() {
        return flags;
    }
    (flags & !RANDOM) | random_flag(cx, sc.trace_id())
}

/// The `tracestate` to send for `sc` in `cx`: the list received, when the span's state is
/// still the one extracted with it; else the span's own state. `None` for an empty list.
pub(crate) fn outgoing_tracestate(cx: &Context, sc: &SpanContext) -> Option<String> {
    let header = match cx.get::<Forwarded>() {
        Some(f) if f.trace_id == sc.trace_id() && &f.sdk == sc.trace_state() => {
            f.header.to_string()
        }
        _ => sc.trace_state().header(),
    };
    (!header.is_empty()).then_some(header)
}

impl TraceContext {
    /// The parent in `extractor`, with its forwarded `tracestate`, if it is valid.
    fn extract_parent(extractor: &dyn Extractor) -> Option<(SpanContext, Forwarded)> {
        let parents = extractor.get_all(TRACEPARENT)?;
        let [only] = parents.as_slice() else {
            // None, or more than one: start a new trace.
            return None;
        };
        let parent = parse_traceparent(only)?;
        let states = extractor.get_all(TRACESTATE).unwrap_or_default();
        let members = parse_tracestate(&states).unwrap_or_default();
        let sdk = sdk_state(&members);
        let header = members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let sc = SpanContext::new(
            parent.trace_id,
            parent.span_id,
            TraceFlags::new(parent.flags),
            true,
            sdk.clone(),
        );
        let forwarded = Forwarded {
            trace_id: parent.trace_id,
            random: parent.flags & RANDOM,
            sdk,
            header: header.into(),
        };
        Some((sc, forwarded))
    }
}

impl TextMapPropagator for TraceContext {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        injector.set(TRACEPARENT, format_traceparent(sc, outgoing_flags(cx, sc)));
        if let Some(state) = outgoing_tracestate(cx, sc) {
            injector.set(TRACESTATE, state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match Self::extract_parent(extractor) {
            Some((sc, forwarded)) => cx.with_remote_span_context(sc).with_value(forwarded),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

fn fields() -> &'static [String] {
    static NAMES: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()])
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn well_formed_traceparents_are_accepted(
            trace in "[0-9a-f]{32}", span in "[0-9a-f]{16}", flags in "[0-9a-f]{2}"
        ) {
            let value = format!("00-{trace}-{span}-{flags}");
            let zero = trace.bytes().all(|b| b == b'0') || span.bytes().all(|b| b == b'0');
            let parsed = parse_traceparent(&value);
            prop_assert_eq!(parsed.is_some(), !zero);
            if let Some(p) = parsed {
                prop_assert_eq!(p.trace_id.to_string(), trace);
                prop_assert_eq!(p.flags, u8::from_str_radix(&flags, 16).unwrap() & KNOWN_FLAGS);
            }
        }

        #[test]
        fn any_input_is_parsed_without_panic(value in ".{0,80}", states in proptest::collection::vec(".{0,80}", 0..3)) {
            if let Some(p) = parse_traceparent(&value) {
                prop_assert!(p.trace_id != TraceId::INVALID && p.span_id != SpanId::INVALID);
            }
            let states: Vec<&str> = states.iter().map(String::as_str).collect();
            if let Some(members) = parse_tracestate(&states) {
                prop_assert!(members.len() <= MAX_MEMBERS);
                prop_assert!(members.iter().all(|(k, v)| valid_key(k) && valid_value(v)));
            }
        }
    }
}
