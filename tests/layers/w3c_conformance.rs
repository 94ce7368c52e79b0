//! W3C Trace Context (Level 2) and W3C Baggage conformance, in both directions: each row of
//! the tables is a request carrying the headers of one rule of the specifications' parsing
//! and mutation sections; the server layer reads them (in), and the client layer of a call
//! the handler makes writes what the specification says to forward (out). The server span
//! exported for the request shows which parent was joined.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use octollm_telemetry::{Telemetry, TelemetryConfig};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tower::{Service as _, ServiceExt as _};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Harness {
    telemetry: Telemetry,
    spans: InMemorySpanExporter,
}

fn harness() -> Harness {
    let spans = InMemorySpanExporter::default();
    let telemetry = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "w3c"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .unwrap()
    .span_exporter(spans.clone())
    .log_writer(std::io::sink)
    .build()
    .unwrap();
    Harness { telemetry, spans }
}

/// What the downstream call carried, the response's `traceparent`, and the exported spans.
#[derive(Debug)]
struct Seen {
    out: HeaderMap,
    /// The `traceparent` the server layer wrote on the response.
    response: Option<String>,
    /// The exported server span's trace and parent (`None`: not sampled, not exported).
    server: Option<(String, String)>,
    /// The W3C trace flags of the exported server and client spans, as two hex digits.
    flags: Option<(String, String)>,
}

impl Harness {
    /// One request with `headers` (repeated names allowed) through the server layer; the
    /// handler calls a downstream service through the client layer.
    async fn request(&self, headers: &[(&str, &str)]) -> Seen {
        let captured: Arc<Mutex<HeaderMap>> = Arc::default();
        let sink = Arc::clone(&captured);
        let client_layer = octollm_telemetry::http::client_layer()
            .tracer_provider(self.telemetry.tracer_provider())
            .propagator(self.telemetry.propagator());
        let handler = move || {
            let sink = Arc::clone(&sink);
            let client_layer = client_layer.clone();
            async move {
                let downstream = tower::service_fn(move |req: Request<Body>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        *sink.lock().unwrap() = req.headers().clone();
                        Ok::<_, std::convert::Infallible>(axum::http::Response::new(Body::empty()))
                    }
                });
                let mut client = tower::ServiceBuilder::new()
                    .layer(client_layer)
                    .service(downstream);
                let req = Request::get("http://downstream/work")
                    .body(Body::empty())
                    .unwrap();
                let _ = client.ready().await.unwrap().call(req).await;
                "ok"
            }
        };
        let app = axum::Router::new()
            .route("/in", axum::routing::get(handler))
            .layer(
                octollm_telemetry::http::layer()
                    .tracer_provider(self.telemetry.tracer_provider())
                    .without_metrics()
                    .propagator(self.telemetry.propagator()),
            );
        let mut req = Request::get("/in");
        for (name, value) in headers {
            req = req.header(
                *name,
                axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let response = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        let response_parent = header(response.headers(), "traceparent");
        // The server span ends with the response body.
        let _ = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        self.telemetry.tracer_provider().force_flush().unwrap();
        let spans = self.spans.get_finished_spans().unwrap();
        self.spans.reset();
        let of_kind = |kind| spans.iter().find(|s| s.span_kind == kind);
        let server = of_kind(opentelemetry::trace::SpanKind::Server);
        let client = of_kind(opentelemetry::trace::SpanKind::Client);
        let hex = |s: &opentelemetry_sdk::trace::SpanData| {
            format!("{:02x}", s.span_context.trace_flags().to_u8())
        };
        let flags = server.zip(client).map(|(s, c)| (hex(s), hex(c)));
        let server = server.map(|s| {
            (
                s.span_context.trace_id().to_string(),
                s.parent_span_id.to_string(),
            )
        });
        let out = captured.lock().unwrap().clone();
        Seen {
            out,
            response: response_parent,
            server,
            flags,
        }
    }
}

/// Checks that the response `traceparent` (of the server span, in `trace`) and the exported
/// server and client spans carry `flags`, as the outgoing call did.
fn assert_flags_everywhere(rule: &str, seen: &Seen, trace: &str, flags: &str) {
    let response = seen.response.as_deref().expect("a response traceparent");
    let parts: Vec<&str> = response.split('-').collect();
    assert_eq!(parts.len(), 4, "{rule}: {response}");
    assert_eq!(parts[1], trace, "{rule}: the response names the trace");
    assert_eq!(parts[3], flags, "{rule}: response traceparent flags");
    let sampled = u8::from_str_radix(flags, 16).unwrap() & 1 == 1;
    match &seen.flags {
        Some((server, client)) => {
            assert_eq!(server, flags, "{rule}: exported server span flags");
            assert_eq!(client, flags, "{rule}: exported client span flags");
        }
        None => assert!(!sampled, "{rule}: sampled spans are exported"),
    }
}

fn header(map: &HeaderMap, name: &str) -> Option<String> {
    let all: Vec<&str> = map
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(all.len() <= 1, "one {name} header at most: {all:?}");
    all.first().map(|s| (*s).to_owned())
}

/// The outgoing `traceparent`, split.
fn out_parent(seen: &Seen) -> (String, String, String, String) {
    let tp = header(&seen.out, "traceparent").expect("an outgoing traceparent");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    (
        parts[0].into(),
        parts[1].into(),
        parts[2].into(),
        parts[3].into(),
    )
}

/// `Some(flags)`: the request joins `TRACE` with parent `PARENT` and sends these flags on;
/// `None`: it starts a new trace.
type Joins = Option<&'static str>;

/// A rule, the request headers that exercise it, and what the request does.
type TraceparentCase = (&'static str, Vec<(&'static str, String)>, Joins);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_rules_in_and_out() {
    let h = harness();
    let long = |s: &str| format!("{s}-what-the-future-will-be-like");
    #[rustfmt::skip]
    let cases: Vec<TraceparentCase> = vec![
        ("valid, sampled", vec![("traceparent", VALID.into())], Some("01")),
        ("valid, not sampled", vec![("traceparent", format!("00-{TRACE}-{PARENT}-00"))], Some("00")),
        ("header name in any case", vec![("TraceParent", VALID.into())], Some("01")),
        ("random flag kept (03)", vec![("traceparent", format!("00-{TRACE}-{PARENT}-03"))], Some("03")),
        ("random flag kept, not sampled (02)", vec![("traceparent", format!("00-{TRACE}-{PARENT}-02"))], Some("02")),
        ("unknown flags sent as zero (09)", vec![("traceparent", format!("00-{TRACE}-{PARENT}-09"))], Some("01")),
        ("unknown flags sent as zero (ff)", vec![("traceparent", format!("00-{TRACE}-{PARENT}-ff"))], Some("03")),
        ("leading and trailing whitespace", vec![("traceparent", format!(" \t{VALID}\t "))], Some("01")),
        ("higher version, same length", vec![("traceparent", format!("cc-{TRACE}-{PARENT}-01"))], Some("01")),
        ("higher version, more fields", vec![("traceparent", long(&format!("cc-{TRACE}-{PARENT}-01")))], Some("01")),
        ("higher version, no dash after flags", vec![("traceparent", format!("cc-{TRACE}-{PARENT}-01.what"))], None),
        ("version 00 with more fields", vec![("traceparent", long(VALID))], None),
        ("version 00 with a trailing dash", vec![("traceparent", format!("{VALID}-"))], None),
        ("version ff", vec![("traceparent", format!("ff-{TRACE}-{PARENT}-01"))], None),
        ("version with an illegal character", vec![("traceparent", format!(".0-{TRACE}-{PARENT}-01"))], None),
        ("version upper case", vec![("traceparent", format!("0A-{TRACE}-{PARENT}-01"))], None),
        ("version too long", vec![("traceparent", format!("000-{TRACE}-{PARENT}-01"))], None),
        ("version too short", vec![("traceparent", format!("0-{TRACE}-{PARENT}-01"))], None),
        ("trace-id all zero", vec![("traceparent", format!("00-{}-{PARENT}-01", "0".repeat(32)))], None),
        ("trace-id upper case", vec![("traceparent", format!("00-{}-{PARENT}-01", TRACE.to_uppercase()))], None),
        ("trace-id illegal character", vec![("traceparent", format!("00-4bf92f3577b34da6a3ce929d0e0e473.-{PARENT}-01"))], None),
        ("trace-id too long", vec![("traceparent", format!("00-{TRACE}0-{PARENT}-01"))], None),
        ("trace-id too short", vec![("traceparent", format!("00-{}-{PARENT}-01", &TRACE[1..]))], None),
        ("parent-id all zero", vec![("traceparent", format!("00-{TRACE}-{}-01", "0".repeat(16)))], None),
        ("parent-id upper case", vec![("traceparent", format!("00-{TRACE}-{}-01", PARENT.to_uppercase()))], None),
        ("parent-id illegal character", vec![("traceparent", format!("00-{TRACE}-00f067aa0ba902b.-01"))], None),
        ("parent-id too long", vec![("traceparent", format!("00-{TRACE}-{PARENT}0-01"))], None),
        ("parent-id too short", vec![("traceparent", format!("00-{TRACE}-{}-01", &PARENT[1..]))], None),
        ("flags illegal character", vec![("traceparent", format!("00-{TRACE}-{PARENT}-.0"))], None),
        ("flags upper case", vec![("traceparent", format!("00-{TRACE}-{PARENT}-0A"))], None),
        ("flags too long", vec![("traceparent", format!("00-{TRACE}-{PARENT}-001"))], None),
        ("flags too short", vec![("traceparent", format!("00-{TRACE}-{PARENT}-0"))], None),
        ("two traceparent headers, same value", vec![("traceparent", VALID.into()), ("traceparent", VALID.into())], None),
        ("two traceparent headers, different", vec![
            ("traceparent", VALID.into()),
            ("traceparent", format!("00-{}-{PARENT}-01", "1".repeat(32))),
        ], None),
        ("no traceparent", vec![], None),
    ];
    for (rule, headers, joins) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let seen = h.request(&headers).await;
        let (version, trace, span, flags) = out_parent(&seen);
        assert_eq!(version, "00", "{rule}: always sent as version 00");
        assert_ne!(span, PARENT, "{rule}: the parent-id is the client span's");
        match joins {
            Some(expected_flags) => {
                assert_eq!(trace, TRACE, "{rule}: joins the caller's trace");
                assert_eq!(&flags, expected_flags, "{rule}: flags sent on");
                // The caller's random flag, as received, on the response and the spans too.
                assert_flags_everywhere(rule, &seen, TRACE, expected_flags);
                let sampled = u8::from_str_radix(expected_flags, 16).unwrap() & 1 == 1;
                match &seen.server {
                    Some((server_trace, server_parent)) => {
                        assert!(sampled, "{rule}: an unsampled parent is not recorded");
                        assert_eq!(server_trace, TRACE, "{rule}");
                        assert_eq!(server_parent, PARENT, "{rule}: under the caller's span");
                    }
                    None => assert!(!sampled, "{rule}: a sampled parent is recorded"),
                }
            }
            None => {
                assert_ne!(trace, TRACE, "{rule}: starts a new trace");
                let (server_trace, server_parent) = seen
                    .server
                    .as_ref()
                    .expect("a new trace is sampled (always on)");
                assert_eq!(server_trace, &trace, "{rule}");
                assert_eq!(server_parent, "0000000000000000", "{rule}: a root span");
                // A trace started here has a random trace id, and says so (sampled: always on)
                // on the outgoing call, the response and every exported span.
                assert_eq!(flags, "03", "{rule}: sampled and random");
                assert_flags_everywhere(rule, &seen, &trace, "03");
                assert_eq!(
                    header(&seen.out, "tracestate"),
                    None,
                    "{rule}: no tracestate on a new trace"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracestate_rules_in_and_out() {
    let h = harness();
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let key256 = format!("a{}", "b".repeat(255));
    let value256 = "v".repeat(256);
    let printable: String = (0x20u8..=0x7e)
        .filter(|c| *c != b',' && *c != b'=')
        .map(char::from)
        .collect();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<String>, Option<String>)> = vec![
        ("one member", vec!["foo=1".into()], Some("foo=1".into())),
        ("an empty header is accepted, and not sent", vec![String::new()], None),
        ("a whitespace-only header", vec![" \t ".into()], None),
        ("headers combined in order", vec!["foo=1,bar=2".into(), "rojo=1,congo=2".into(), "baz=3".into()], Some("foo=1,bar=2,rojo=1,congo=2,baz=3".into())),
        ("an empty header among others adds nothing", vec!["foo=1".into(), String::new(), "bar=2".into()], Some("foo=1,bar=2".into())),
        ("empty list members", vec![",foo=1,,bar=2,".into()], Some("foo=1,bar=2".into())),
        ("whitespace around members", vec!["foo=1 \t , \t bar=2,\t baz=3 ".into()], Some("foo=1,bar=2,baz=3".into())),
        ("a value's leading space is part of it", vec!["foo= 1".into()], Some("foo= 1".into())),
        ("32 members", vec![members(32)], Some(members(32))),
        ("33 members: the whole list is discarded", vec![members(33)], None),
        ("33 members over two headers", vec![members(16), (16..33).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>().join(",")], None),
        ("a key twice: the first member kept", vec!["foo=1,foo=2".into()], Some("foo=1".into())),
        ("a key twice, same value", vec!["foo=1,bar=2,foo=1".into()], Some("foo=1,bar=2".into())),
        ("a key twice, in two headers", vec!["foo=2".into(), "bar=1,foo=1".into()], Some("foo=2,bar=1".into())),
        ("a key twice still counts once toward 32", vec![format!("{},k0=x", members(32))], Some(members(32))),
        ("every key character", vec!["abcdefghijklmnopqrstuvwxyz0123456789_-*/@=1".into()], Some("abcdefghijklmnopqrstuvwxyz0123456789_-*/@=1".into())),
        ("a key starting with a digit", vec!["1foo=1".into()], Some("1foo=1".into())),
        ("a multi-tenant key", vec!["tenant@vendor=1".into()], Some("tenant@vendor=1".into())),
        ("a multi-tenant key with a 14-character system", vec!["tenant@abcdefghijklmn=1".into()], Some("tenant@abcdefghijklmn=1".into())),
        ("a 256-character key", vec![format!("{key256}=1")], Some(format!("{key256}=1"))),
        ("a 257-character key", vec![format!("{key256}b=1")], None),
        ("a key with an upper-case letter", vec!["Foo=1".into()], None),
        ("a key with a dot", vec!["foo.bar=1".into()], None),
        ("a key with a space before =", vec!["foo =1".into()], None),
        ("a key starting with @", vec!["@foo=1".into()], None),
        ("every value character", vec![format!("foo={printable}")], Some(format!("foo={printable}"))),
        ("a 256-character value", vec![format!("foo={value256}")], Some(format!("foo={value256}"))),
        ("a 257-character value", vec![format!("foo={value256}v")], None),
        ("an empty value", vec!["foo=".into()], None),
        ("a value with =", vec!["foo=a=b".into()], None),
        ("a value with a tab", vec!["foo=a\tb".into()], None),
        ("a member without =", vec!["foo".into()], None),
        ("one bad member discards the list", vec!["foo=1,BAR=2".into()], None),
    ];
    for (rule, states, expected) in &cases {
        let mut headers = vec![("traceparent", VALID)];
        headers.extend(states.iter().map(|s| ("tracestate", s.as_str())));
        let seen = h.request(&headers).await;
        let (_, trace, ..) = out_parent(&seen);
        assert_eq!(trace, TRACE, "{rule}: tracestate never affects traceparent");
        assert_eq!(&header(&seen.out, "tracestate"), expected, "{rule}");
    }

    // A tracestate without a valid traceparent is not read.
    let seen = h
        .request(&[("traceparent", "00-bad"), ("tracestate", "foo=1")])
        .await;
    assert_ne!(out_parent(&seen).1, TRACE);
    assert_eq!(header(&seen.out, "tracestate"), None);
    let seen = h.request(&[("tracestate", "foo=1")]).await;
    assert_eq!(header(&seen.out, "tracestate"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_rules_in_and_out() {
    let h = harness();
    let members = |range: std::ops::Range<usize>| {
        range
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    // Members of 200 bytes each: 40 take 8039 bytes with their commas, 41 would take 8240.
    let big = |i: usize| format!("b{i:02}={}", "x".repeat(196));
    let bigs = |n: usize| (0..n).map(big).collect::<Vec<_>>().join(",");
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<String>, Option<String>)> = vec![
        ("one member", vec!["userId=alice".into()], Some("userId=alice".into())),
        ("percent-encoding kept as received", vec!["name=hello%20world%2C%3B".into()], Some("name=hello%20world%2C%3B".into())),
        ("properties round-trip", vec!["k=v;p1=x;flag".into()], Some("k=v;p1=x;flag".into())),
        ("a value may hold =", vec!["k=a=b".into()], Some("k=a=b".into())),
        ("an empty value", vec!["k=".into()], Some("k=".into())),
        ("whitespace around members and =", vec![" a = 1 ,\tb=2\t".into()], Some("a = 1,b=2".into())),
        ("headers combined", vec!["a=1".into(), "b=2".into()], Some("a=1,b=2".into())),
        ("an invalid member is dropped alone", vec!["good=1,bad member,also=2,=3,k4=a\\b".into()], Some("good=1,also=2".into())),
        ("a member with a bad property is dropped alone", vec!["a=1;p=\"q\",b=2".into()], Some("b=2".into())),
        ("a value that is not UTF-8 once decoded", vec!["a=%ff,b=2".into()], Some("b=2".into())),
        ("64 members kept", vec![members(0..64)], Some(members(0..64))),
        ("the 65th member dropped whole", vec![members(0..65)], Some(members(0..64))),
        ("the first of a key twice", vec!["a=1,a=2".into()], Some("a=1".into())),
        ("8192 bytes kept, the members beyond dropped whole", vec![bigs(42)], Some(bigs(40))),
        ("no members", vec![",,".into()], None),
    ];
    for (rule, values, expected) in &cases {
        let mut headers = vec![("traceparent", VALID)];
        headers.extend(values.iter().map(|s| ("baggage", s.as_str())));
        let seen = h.request(&headers).await;
        let out = header(&seen.out, "baggage");
        assert!(
            &out == expected,
            "{rule}: sent {} bytes, expected {} bytes\nsent: {:.300?}\nexpected: {:.300?}",
            out.as_ref().map_or(0, String::len),
            expected.as_ref().map_or(0, String::len),
            out,
            expected
        );
        if let Some(out) = out {
            assert!(out.len() <= 8192, "{rule}: {} bytes", out.len());
        }
    }
}
