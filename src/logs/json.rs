//! The JSON line format: one object per event, assembled in a reused per-thread buffer (plain
//! `String` pushes, no dynamic call per piece) and handed to the subscriber's buffer at once.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Keys the formatter writes itself; an event field with one of these names is written as
/// `fields.<name>` so that it can never overwrite them.
pub const RESERVED_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "target",
    "message",
    "span",
    "trace_id",
    "span_id",
    "trace_sampled",
    "request_id",
    "service",
];

/// A [`FormatEvent`] that writes one JSON object per line with the trace context of the
/// current span: see the [module documentation](crate::logs) for the schema.
///
/// [`init_telemetry`](crate::init_telemetry) installs it; it is public for services that build
/// their own subscriber:
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let layer = tracing_subscriber::fmt::layer()
///     .event_format(octollm_telemetry::logs::JsonFormat::new("reflex-layer"));
/// let _subscriber = tracing_subscriber::registry().with(layer);
/// ```
#[derive(Debug, Clone)]
pub struct JsonFormat {
    /// The service name, already written as a JSON string (quotes included).
    service: Box<str>,
}

impl JsonFormat {
    /// A formatter that writes `"service": <service>` on every line.
    pub fn new(service: &str) -> Self {
        let mut quoted = String::with_capacity(service.len() + 2);
        // Writing into a String cannot fail.
        let _ = write_json_str(&mut quoted, service);
        Self {
            service: quoted.into_boxed_str(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        thread_local! {
            static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
        }
        LINE.with(|cell| {
            // A field whose `Debug` logs formats its own line into a buffer of its own.
            let mut spare = String::new();
            let mut held = cell.try_borrow_mut();
            let line = match &mut held {
                Ok(line) => &mut **line,
                Err(_) => &mut spare,
            };
            line.clear();
            let result = self
                .write_line(ctx, line, event)
                .and_then(|()| w.write_str(line));
            if line.capacity() > 64 * 1024 {
                *line = String::with_capacity(512);
            }
            result
        })
    }
}

impl JsonFormat {
    fn write_line<S, N>(
        &self,
        ctx: &FmtContext<'_, S, N>,
        w: &mut String,
        event: &Event<'_>,
    ) -> fmt::Result
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let meta = event.metadata();
        w.write_str("{\"timestamp\":\"")?;
        write!(w, "{}", humantime::format_rfc3339_micros(SystemTime::now()))?;
        w.write_str("\",\"level\":\"")?;
        w.write_str(level_str(*meta.level()))?;
        w.write_str("\",\"target\":")?;
        write_json_str(w, meta.target())?;

        let mut fields = FieldWriter { w, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;

        let tracing_span = ctx.lookup_current();
        if let Some(span) = &tracing_span {
            w.write_str(",\"span\":")?;
            write_json_str(w, span.name())?;
        }
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            let request = cx.get::<crate::context::RequestContext>();
            if sc.is_valid() {
                if let (None, Some(request)) = (&tracing_span, request) {
                    // Inside the HTTP layer's server span, outside any `tracing` span.
                    w.write_str(",\"span\":")?;
                    write_json_str(w, &request.span_name)?;
                }
                let mut hex = [0u8; 32];
                w.write_str(",\"trace_id\":\"")?;
                w.write_str(hex_encode(&sc.trace_id().to_bytes(), &mut hex))?;
                w.write_str("\",\"span_id\":\"")?;
                w.write_str(hex_encode(&sc.span_id().to_bytes(), &mut hex))?;
                w.write_str(if sc.is_sampled() {
                    "\",\"trace_sampled\":true"
                } else {
                    "\",\"trace_sampled\":false"
                })?;
            }
            match request {
                Some(request) => {
                    w.write_str(",\"request_id\":")?;
                    write_json_str(w, request.id.as_str())
                }
                None => Ok(()),
            }
        })?;
        w.write_str(",\"service\":")?;
        w.write_str(&self.service)?;
        w.write_str("}\n")
    }
}

/// Whether `name` is one of [`RESERVED_KEYS`] (a `match` the compiler turns into a few
/// comparisons, on every field of every line).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "timestamp"
            | "level"
            | "target"
            | "message"
            | "span"
            | "trace_id"
            | "span_id"
            | "trace_sampled"
            | "request_id"
            | "service"
    )
}

fn level_str(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn hex_encode<'a>(bytes: &[u8], out: &'a mut [u8; 32]) -> &'a str {
    let len = bytes.len() * 2;
    crate::shared::hex_into(bytes, &mut out[..len]);
    // Only ASCII hex digits were written.
    std::str::from_utf8(&out[..len]).unwrap_or_default()
}

/// Writes an event's fields as `,"name":value` pairs.
struct FieldWriter<'a> {
    w: &'a mut String,
    result: fmt::Result,
}

impl FieldWriter<'_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        if name == "message" {
            self.w.push_str(",\"message\":");
            return Ok(());
        }
        if is_reserved(name) {
            self.w.push_str(",\"fields.");
            JsonEscaper(&mut *self.w).write_str(name)?;
            self.w.push_str("\":");
            return Ok(());
        }
        self.w.push(',');
        write_json_str(&mut *self.w, name)?;
        self.w.push(':');
        Ok(())
    }

    fn record_with(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.w));
        }
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_with(field, |w| write_json_str(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_with(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_with(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.record_with(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.record_with(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_with(field, |w| {
            if value.is_finite() {
                w.write_str(ryu::Buffer::new().format_finite(value))
            } else {
                // JSON has no NaN or infinity.
                write!(w, "\"{value}\"")
            }
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_with(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_with(field, |w| {
            w.write_char('"')?;
            write!(JsonEscaper(&mut *w), "{value}")?;
            w.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_with(field, |w| {
            w.write_char('"')?;
            write!(JsonEscaper(&mut *w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// Writes `s` as a JSON string, quotes included.
pub(crate) fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    JsonEscaper(&mut *w).write_str(s)?;
    w.write_char('"')
}

/// A `fmt::Write` adapter that escapes what passes through it for a JSON string body, so that
/// `Debug` and `Display` output is escaped without an intermediate `String`.
struct JsonEscaper<W>(W);

/// The bytes a JSON string body cannot hold as they are: `"`, `\\`, control characters, DEL.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table
};

impl<W: fmt::Write> fmt::Write for JsonEscaper<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut start = 0;
        // Runs of plain bytes are written whole; a table lookup per byte finds the next one to
        // escape.
        while let Some(offset) = bytes[start..]
            .iter()
            .position(|&b| NEEDS_ESCAPE[usize::from(b)])
        {
            let i = start + offset;
            if start < i {
                self.0.write_str(&s[start..i])?;
            }
            let b = bytes[i];
            match b {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                _ => write!(self.0, "\\u{b:04x}")?,
            }
            start = i + 1;
        }
        if start < bytes.len() {
            self.0.write_str(&s[start..])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[test]
fn reserved_match_agrees_with_the_list() {
    for key in RESERVED_KEYS {
        assert!(is_reserved(key), "{key}");
    }
    assert!(!is_reserved("levels") && !is_reserved("spans") && !is_reserved(""));
}
