//! Parsers for what arrives from outside, and the headers the layers write: methods,
//! forwarding headers, query strings, request ids, `traceparent`. Every one is total: malformed input gives `None` (or a safe value), never a panic, and
//! allocates at most a bounded copy of its input.

use http::{HeaderMap, HeaderName, Method, Version};

/// Header names the layers read, parsed once.
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_REQUEST_ID: HeaderName =
    HeaderName::from_static(crate::context::REQUEST_ID_HEADER);
pub(crate) static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) static BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// Longest value recorded for free-text attributes (user agent, query, original method).
pub(crate) const MAX_ATTRIBUTE_LEN: usize = 1024;

/// The method names of `http.request.method` that [`method`] gives, `_OTHER` last.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER",
];

/// The semantic-convention method name, and the original when it is not a standard method.
pub(crate) fn method(method: &Method) -> (&'static str, Option<&str>) {
    let known = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return ("_OTHER", Some(truncate(method.as_str(), 64))),
    };
    (known, None)
}

/// `network.protocol.version`.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// `url.scheme` of a server request: the first hop's `Forwarded: proto=` or
/// `X-Forwarded-Proto`, else the URI's scheme, else `http`.
pub(crate) fn scheme(uri_scheme: Option<&str>, headers: &HeaderMap) -> &'static str {
    let forwarded = forwarded_param(headers, "proto")
        .or_else(|| first_hop(headers, &X_FORWARDED_PROTO))
        .or(uri_scheme);
    uri_scheme_label(forwarded)
}

/// `https` or `http`: only these two are accepted (bounded metric labels).
pub(crate) fn uri_scheme_label(scheme: Option<&str>) -> &'static str {
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// `client.address`: the first hop of `Forwarded: for=`, else of `X-Forwarded-For`.
pub(crate) fn forwarded_client(headers: &HeaderMap) -> Option<&str> {
    forwarded_param(headers, "for")
        .or_else(|| first_hop(headers, &X_FORWARDED_FOR))
        .and_then(strip_port)
        .filter(|a| !a.is_empty() && a.len() <= 256 && !a.eq_ignore_ascii_case("unknown"))
}

/// The value of `param` in the first element of the first `Forwarded` header (RFC 7239).
fn forwarded_param<'a>(headers: &'a HeaderMap, param: &str) -> Option<&'a str> {
    let value = headers.get(http::header::FORWARDED)?.to_str().ok()?;
    let first = value.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The first comma-separated element of a header.
fn first_hop<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    value
        .split(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `[2001:db8::1]:4711` → `2001:db8::1`, `192.0.2.1:80` → `192.0.2.1`; a bare IPv6 address
/// stays as it is.
fn strip_port(addr: &str) -> Option<&str> {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').map(|(host, _)| host);
    }
    match addr.matches(':').count() {
        1 => addr.split_once(':').map(|(host, _)| host),
        _ => Some(addr),
    }
}

/// `server.address` and `server.port` from the URI's authority or the `Host` header.
pub(crate) fn server<'a>(
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
) -> Option<(&'a str, Option<u16>)> {
    let authority = match uri.authority() {
        Some(a) => a.as_str(),
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    // Drop user info, then split host and port; `[v6]:port` keeps its brackets until here.
    let host_port = authority.rsplit('@').next()?;
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let valid_host = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'));
    if !valid_host {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

/// Query keys whose values are replaced by `REDACTED` (matched case-insensitively, anywhere
/// in the key: `access_token`, `api_key`, `X-Amz-Signature`, …).
pub const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "key",
    "signature",
    "sig",
    "auth",
    "credential",
    "session",
    "jwt",
    "code",
];

/// The query string with the values of sensitive keys replaced by `REDACTED`, cut to a
/// bounded length. `None` for an empty query.
pub(crate) fn redact_query(query: &str) -> Option<String> {
    if query.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(query.len().min(MAX_ATTRIBUTE_LEN));
    for (i, pair) in query.split('&').enumerate() {
        if out.len() >= MAX_ATTRIBUTE_LEN {
            break;
        }
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_sensitive(key) => {
                let room = MAX_ATTRIBUTE_LEN.saturating_sub(out.len() + "=REDACTED".len());
                if room == 0 {
                    break;
                }
                out.push_str(truncate(key, room.min(256)));
                out.push_str("=REDACTED");
            }
            _ => out.push_str(truncate(
                pair,
                MAX_ATTRIBUTE_LEN - out.len().min(MAX_ATTRIBUTE_LEN),
            )),
        }
    }
    Some(out)
}

fn is_sensitive(key: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let lower = decoded.to_ascii_lowercase();
    SENSITIVE_QUERY_KEYS.iter().any(|s| lower.contains(s))
}

/// A request id from outside is kept when it is 1 to 128 visible ASCII characters.
pub(crate) fn valid_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// `00-<trace id>-<span id>-<flags>` for a response or request header; `flags` are the ones
/// to send (`crate::propagation::outgoing_flags`, which adds the trace's `random` flag).
pub(crate) fn traceparent(sc: &opentelemetry::trace::SpanContext, flags: u8) -> http::HeaderValue {
    let mut out = [0u8; 55];
    out[..3].copy_from_slice(b"00-");
    crate::shared::hex_into(&sc.trace_id().to_bytes(), &mut out[3..35]);
    out[35] = b'-';
    crate::shared::hex_into(&sc.span_id().to_bytes(), &mut out[36..52]);
    out[52] = b'-';
    // Only the flags this version defines: sampled and random.
    crate::shared::hex_into(&[flags & 0x03], &mut out[53..55]);
    http::HeaderValue::from_bytes(&out).unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn methods() {
        assert_eq!(method(&Method::GET), ("GET", None));
        assert_eq!(method(&Method::PATCH), ("PATCH", None));
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method(&custom), ("_OTHER", Some("PURGE")));
        let long = Method::from_bytes(&[b'X'; 200]).unwrap();
        assert_eq!(method(&long).1.unwrap().len(), 64);
    }

    #[rustfmt::skip]
    #[test]
    fn client_addresses() {
        let rows: &[(&[(&'static str, &'static str)], Option<&str>)] = &[
            (&[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")], Some("192.0.2.60")),
            (&[("forwarded", "For=\"[2001:db8:cafe::17]:4711\", for=198.51.100.1")], Some("2001:db8:cafe::17")),
            (&[("forwarded", "for=192.0.2.60:8080")], Some("192.0.2.60")),
            (&[("forwarded", "for=unknown")], None),
            (&[("x-forwarded-for", "203.0.113.195, 70.41.3.18, 150.172.238.178")], Some("203.0.113.195")),
            (&[("x-forwarded-for", "2001:db8:85a3::8a2e:370:7334")], Some("2001:db8:85a3::8a2e:370:7334")),
            (&[("forwarded", "proto=https"), ("x-forwarded-for", "10.0.0.1")], Some("10.0.0.1")),
            (&[("x-forwarded-for", "")], None),
            (&[("x-forwarded-for", ",,,")], None),
            (&[("forwarded", "for=\"[broken")], None),
            (&[], None),
        ];
        for (h, want) in rows {
            assert_eq!(forwarded_client(&headers(h)), *want, "{h:?}");
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(scheme(None, &headers(&[])), "http");
        assert_eq!(scheme(Some("https"), &headers(&[])), "https");
        assert_eq!(
            scheme(None, &headers(&[("x-forwarded-proto", "https")])),
            "https"
        );
        assert_eq!(
            scheme(None, &headers(&[("forwarded", "for=1.2.3.4;proto=https")])),
            "https"
        );
        assert_eq!(
            scheme(None, &headers(&[("x-forwarded-proto", "gopher")])),
            "http"
        );
    }

    #[test]
    fn servers() {
        let uri: http::Uri = "/items".parse().unwrap();
        assert_eq!(
            server(&uri, &headers(&[("host", "api.octollm.dev:8443")])),
            Some(("api.octollm.dev", Some(8443)))
        );
        assert_eq!(
            server(&uri, &headers(&[("host", "[::1]:80")])),
            Some(("::1", Some(80)))
        );
        assert_eq!(
            server(&uri, &headers(&[("host", "example.com")])),
            Some(("example.com", None))
        );
        assert_eq!(server(&uri, &headers(&[("host", "bad host")])), None);
        assert_eq!(server(&uri, &headers(&[])), None);
        let abs: http::Uri = "http://h2.example:81/x".parse().unwrap();
        assert_eq!(server(&abs, &headers(&[])), Some(("h2.example", Some(81))));
    }

    #[rustfmt::skip]
    #[test]
    fn query_redaction() {
        let rows = [
            ("", None),
            ("q=rust&page=2", Some("q=rust&page=2")),
            ("access_token=abc&q=1", Some("access_token=REDACTED&q=1")),
            ("Password=hunter2", Some("Password=REDACTED")),
            ("api_key=k&X-Amz-Signature=s&client_secret=x", Some("api_key=REDACTED&X-Amz-Signature=REDACTED&client_secret=REDACTED")),
            ("sess%69on=abc", Some("sess%69on=REDACTED")),
            ("flag&token", Some("flag&token")),
            ("a==b&token==c", Some("a==b&token=REDACTED")),
        ];
        for (q, want) in rows {
            assert_eq!(redact_query(q).as_deref(), want, "{q:?}");
        }
        let huge = format!("q={}", "x".repeat(100_000));
        assert!(redact_query(&huge).unwrap().len() <= MAX_ATTRIBUTE_LEN);
        // Found by fuzzing: sensitive pairs near the limit used to overshoot it.
        let near = format!("a={}&{}token=1&secret=2", "x".repeat(1000), "k".repeat(300));
        assert!(redact_query(&near).unwrap().len() <= MAX_ATTRIBUTE_LEN);
        let many = "password=1&".repeat(500);
        assert!(redact_query(&many).unwrap().len() <= MAX_ATTRIBUTE_LEN);
    }

    #[test]
    fn request_ids() {
        assert!(valid_request_id(b"0f1e2d3c-aaaa-4bbb-8ccc-123456789abc"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(b"has space"));
        assert!(!valid_request_id(&[b'a'; 129]));
        assert!(!valid_request_id(b"caf\xc3\xa9"));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn redaction_is_bounded_and_hides_sensitive_values(key in "[a-z_]{0,12}", value in "[A-Za-z0-9]{1,40}", rest in ".{0,200}") {
            let query = format!("{key}token{key}={value}&{rest}");
            let out = redact_query(&query).unwrap();
            prop_assert!(out.len() <= MAX_ATTRIBUTE_LEN + 16);
            let first = out.split('&').next().unwrap();
            prop_assert!(first.ends_with("=REDACTED"), "{}", first);
        }

        #[test]
        fn forwarding_parsers_return_part_of_their_input(value in ".{0,300}") {
            let mut headers = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert("x-forwarded-for", v.clone());
                headers.insert("forwarded", v);
            }
            if let Some(addr) = forwarded_client(&headers) {
                prop_assert!(value.contains(addr));
                prop_assert!(addr.len() <= 256);
            }
            let s = scheme(None, &headers);
            prop_assert!(s == "http" || s == "https");
        }

        #[test]
        fn request_ids_are_visible_ascii(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if valid_request_id(&bytes) {
                prop_assert!(http::HeaderValue::from_bytes(&bytes).is_ok());
                prop_assert!(bytes.len() <= 128);
            }
        }
    }
}

/// The request headers as the propagators see them, every value of a repeated header
/// included (two `traceparent` headers are invalid; `tracestate` headers are combined).
pub(crate) struct IncomingHeaders<'a>(pub(crate) &'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for IncomingHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let mut values = self.0.get_all(key).iter().peekable();
        values.peek()?;
        // A value that is not visible ASCII is kept as an empty string, so that a bad second
        // `traceparent` still counts as a second one.
        Some(values.map(|v| v.to_str().unwrap_or("")).collect())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The incoming `x-request-id` when it is well formed, else a new UUID, also set on the
/// request for the handler.
pub(crate) fn request_id<B>(req: &mut http::Request<B>) -> http::HeaderValue {
    match req.headers().get(&X_REQUEST_ID) {
        Some(v) if valid_request_id(v.as_bytes()) => v.clone(),
        _ => {
            let mut id = GeneratedId([0; 36]);
            crate::context::random_uuid()
                .hyphenated()
                .encode_lower(&mut id.0);
            // One allocation, shared by the request, the response and the log context: a
            // header value made from a copied slice is copied once more on its first clone.
            let generated = http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
                .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
            req.headers_mut()
                .insert(X_REQUEST_ID.clone(), generated.clone());
            generated
        }
    }
}

/// The text of a generated request id (a hyphenated UUID), owned by the header value's bytes.
struct GeneratedId([u8; 36]);

impl AsRef<[u8]> for GeneratedId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
