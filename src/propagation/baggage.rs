//! W3C Baggage (<https://www.w3.org/TR/baggage/>), parsed and written to the specification, in
//! place of the SDK's propagator (which reads one header only, drops a whole header longer
//! than 8192 bytes, cuts values at a second `=`, and percent-decodes keys).
//!
//! - Every `baggage` header is read, in order, as one list.
//! - A member is `key=value` with optional `;property` parts. The key is an HTTP token. The
//!   value is percent-decoded (it must be UTF-8), and may hold `=`. Each property is
//!   `key[=value]`. An invalid member is dropped alone; the others are kept.
//! - The first 64 members, within 8192 bytes, are kept. Members beyond the limit are dropped
//!   whole, never cut. Of two members with the same key, the first is kept.
//! - The values reach the application through the SDK's [`Baggage`]. While the context's
//!   baggage is unchanged, outgoing calls get the list rebuilt from the members kept, each
//!   written as received (values still percent-encoded as they came): several headers become
//!   one, the whitespace around members and the empty members are left out, and the invalid,
//!   repeated and over-the-limit members are dropped.
//! - Once code has changed the baggage, the list is written from the SDK's baggage: values
//!   percent-encoded (everything outside `baggage-octet`, and `%`); a member whose key is not
//!   an HTTP token, or whose metadata is not a list of valid properties, is not sent.

use std::sync::Arc;

use opentelemetry::baggage::{Baggage, BaggageExt as _};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

const BAGGAGE: &str = "baggage";
/// The specification's limits: at least this many members and bytes are propagated.
pub(crate) const MAX_MEMBERS: usize = 64;
pub(crate) const MAX_BYTES: usize = 8192;

/// What a value is percent-encoded with on the way out: everything outside `baggage-octet`,
/// and `%` itself.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// The W3C `baggage` propagator.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BaggagePropagator;

/// The list as received, and the entries the SDK's baggage held when it was extracted.
#[derive(Debug, Clone)]
struct Forwarded {
    entries: Vec<(String, String, String)>,
    header: Arc<str>,
}

/// One valid member: its text (trimmed, as received), key, decoded value and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub(crate) text: &'a str,
    pub(crate) key: &'a str,
    pub(crate) value: String,
    pub(crate) properties: String,
}

fn ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// An HTTP token (RFC 9110 `tchar`s), at least one.
pub(crate) fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`s only (possibly none).
fn octets(s: &str) -> bool {
    s.bytes()
        .all(|c| matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
}

/// `key OWS "=" OWS value` or `key`.
fn property(p: &str) -> bool {
    match p.split_once('=') {
        Some((k, v)) => token(k.trim_end_matches(ows)) && octets(v.trim_start_matches(ows)),
        None => token(p),
    }
}

/// One list member, or `None` when it breaks the grammar.
pub(crate) fn parse_member(text: &str) -> Option<Member<'_>> {
    let text = text.trim_matches(ows);
    let (pair, properties) = match text.split_once(';') {
        Some((pair, rest)) => (pair, Some(rest)),
        None => (text, None),
    };
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (key.trim_end_matches(ows), value.trim_matches(ows));
    if !token(key) || !octets(value) {
        return None;
    }
    let value = percent_decode_str(value).decode_utf8().ok()?.into_owned();
    let properties = match properties {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(';').map(|p| p.trim_matches(ows)).collect();
            if !parts.iter().all(|p| property(p)) {
                return None;
            }
            parts.join(";")
        }
        None => String::new(),
    };
    Some(Member {
        text,
        key,
        value,
        properties,
    })
}

/// The members kept from the combined headers: valid ones, first of each key, within the
/// limits (the rest dropped whole).
pub(crate) fn parse<'a>(values: &[&'a str]) -> Vec<Member<'a>> {
    let mut kept: Vec<Member<'a>> = Vec::new();
    let mut bytes = 0;
    for member in values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(parse_member)
    {
        if kept.len() == MAX_MEMBERS {
            break;
        }
        if kept.iter().any(|m| m.key == member.key) {
            continue;
        }
        let size = member.text.len() + usize::from(!kept.is_empty());
        if bytes + size > MAX_BYTES {
            // A smaller member further on may still fit.
            continue;
        }
        bytes += size;
        kept.push(member);
    }
    kept
}

/// One member set in code, as written on the way out: `key=value` with the value
/// percent-encoded, then the properties. `None`, and the member is not sent, when the key is
/// not an HTTP token or a property breaks the grammar: either would change the list's meaning
/// (a key holding `,` or `=` adds members) or make it invalid.
pub(crate) fn outgoing_member(key: &str, value: &str, metadata: &str) -> Option<String> {
    if !token(key) {
        return None;
    }
    let mut member = format!("{key}={}", utf8_percent_encode(value, VALUE_ENCODE));
    if !metadata.trim_matches(ows).is_empty() {
        for p in metadata.split(';') {
            let p = p.trim_matches(ows);
            if !property(p) {
                return None;
            }
            member.push(';');
            member.push_str(p);
        }
    }
    Some(member)
}

/// The SDK's baggage entries, sorted, to tell whether code changed them.
fn entries(baggage: &Baggage) -> Vec<(String, String, String)> {
    let mut all: Vec<(String, String, String)> = baggage
        .iter()
        .map(|(k, (v, m))| (k.to_string(), v.to_string(), m.as_str().to_owned()))
        .collect();
    all.sort_unstable();
    all
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        if let Some(forwarded) = cx.get::<Forwarded>() {
            if forwarded.entries == entries(baggage) {
                injector.set(BAGGAGE, forwarded.header.to_string());
                return;
            }
        }
        let header = baggage
            .iter()
            .filter_map(|(key, (value, metadata))| {
                outgoing_member(key.as_str(), value.as_str(), metadata.as_str())
            })
            .collect::<Vec<_>>()
            .join(",");
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(values) = extractor.get_all(BAGGAGE) else {
            return cx.clone();
        };
        let members = parse(&values);
        if members.is_empty() {
            return cx.clone();
        }
        let mut baggage = Baggage::new();
        let mut sent = Vec::with_capacity(members.len());
        for m in &members {
            let before = baggage.len();
            let _ = baggage.insert_with_metadata(
                m.key.to_owned(),
                m.value.clone(),
                m.properties.as_str(),
            );
            if baggage.len() > before {
                sent.push(m.text);
            }
        }
        let forwarded = Forwarded {
            entries: entries(&baggage),
            header: sent.join(",").into(),
        };
        cx.with_baggage(baggage).with_value(forwarded)
    }

    fn fields(&self) -> FieldIter<'_> {
        static NAMES: std::sync::OnceLock<[String; 1]> = std::sync::OnceLock::new();
        FieldIter::new(NAMES.get_or_init(|| [BAGGAGE.to_owned()]))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The `baggage` header injected for baggage set in code (nothing extracted).
    fn injected(baggage: Baggage) -> Option<String> {
        let cx = Context::new().with_baggage(baggage);
        let mut out: HashMap<String, String> = HashMap::new();
        BaggagePropagator.inject_context(&cx, &mut out);
        out.remove(BAGGAGE)
    }

    #[test]
    fn a_key_that_is_not_a_token_is_not_sent() {
        for key in ["a,b=c", "a=b", "k,evil=1", "a b", "a;b", "é", ""] {
            assert_eq!(outgoing_member(key, "v", ""), None, "{key:?}");
        }
        assert_eq!(
            outgoing_member("a!#$%&'*+-.^_`|~1", "v", "").as_deref(),
            Some("a!#$%&'*+-.^_`|~1=v")
        );
    }

    #[test]
    fn values_are_percent_encoded_and_decode_back() {
        let value = "a b,c;d%e\"f\\g=h/é\u{7f}";
        let member = outgoing_member("k", value, "").unwrap();
        assert_eq!(member, "k=a%20b%2Cc%3Bd%25e%22f%5Cg=h/%C3%A9%7F");
        let parsed = parse_member(&member).unwrap();
        assert_eq!(parsed.value, value);
    }

    #[test]
    fn malformed_properties_drop_the_member() {
        for metadata in [
            "p=\"q\"", "p=a b", "p=a,b", ";", "p=1;;q=2", "bad key", "=1", "p\\q",
        ] {
            assert_eq!(outgoing_member("k", "v", metadata), None, "{metadata:?}");
        }
        assert_eq!(
            outgoing_member("k", "v", "p=1; flag ;q = x").as_deref(),
            Some("k=v;p=1;flag;q = x")
        );
    }

    #[test]
    fn injected_baggage_keeps_only_the_valid_members() {
        let mut baggage = Baggage::new();
        // The SDK itself refuses this key today; the propagator would not send it either.
        let _ = baggage.insert_with_metadata("a,b=c", "x", "");
        let _ = baggage.insert_with_metadata("bad", "1", "p=\"q\"");
        let _ = baggage.insert_with_metadata("good", "hello world,;", "p=1");
        assert_eq!(
            injected(baggage).as_deref(),
            Some("good=hello%20world%2C%3B;p=1")
        );

        let mut only_bad = Baggage::new();
        let _ = only_bad.insert_with_metadata("bad", "1", "p=a,b");
        assert_eq!(injected(only_bad), None, "no empty header");
    }
}
