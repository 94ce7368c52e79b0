//! The human-readable line format: tracing-subscriber's full format, followed by the short
//! trace, span and request ids of the line, so that a terminal shows which lines belong
//! together and which trace to open.

use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How many hex digits of an id a pretty line shows (the JSON line has them whole).
const SHORT: usize = 8;

/// `2026-12-01T09:12:03.512214Z  INFO reflex: pii scan finished entities=2
/// trace_id=4bf92f35 span_id=00f067aa request_id=c12e95ce`.
#[derive(Debug, Clone)]
pub(crate) struct PrettyFormat {
    plain: Format<Full>,
    coloured: Format<Full>,
}

impl Default for PrettyFormat {
    fn default() -> Self {
        Self {
            plain: Format::default().with_ansi(false),
            coloured: Format::default().with_ansi(true),
        }
    }
}

thread_local! {
    /// The line being written, reused from line to line.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N> FormatEvent<S, N> for PrettyFormat
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
        let inner = if w.has_ansi_escapes() {
            &self.coloured
        } else {
            &self.plain
        };
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                // A line logged while this thread writes one: write it without ids.
                return inner.format_event(ctx, w, event);
            };
            line.clear();
            inner.format_event(ctx, Writer::new(&mut *line), event)?;
            let text = line.strip_suffix('\n').unwrap_or(&line);
            w.write_str(text)?;
            write_ids(&mut w)?;
            w.write_char('\n')
        })
    }
}

/// ` trace_id=… span_id=… request_id=…`, each cut to [`SHORT`] characters, for what is known.
fn write_ids(w: &mut Writer<'_>) -> fmt::Result {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            let mut hex = [0u8; 32];
            crate::shared::hex_into(&sc.trace_id().to_bytes(), &mut hex);
            w.write_str(" trace_id=")?;
            w.write_str(short(&hex))?;
            crate::shared::hex_into(&sc.span_id().to_bytes(), &mut hex[..16]);
            w.write_str(" span_id=")?;
            w.write_str(short(&hex[..16]))?;
        }
        if let Some(request) = cx.get::<crate::context::RequestContext>() {
            let id = request.id.as_str();
            w.write_str(" request_id=")?;
            w.write_str(id.get(..SHORT).unwrap_or(id))?;
        }
        Ok(())
    })
}

fn short(hex: &[u8]) -> &str {
    // Only ASCII hex digits were written.
    std::str::from_utf8(&hex[..SHORT]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_in_a_span_end_with_its_short_ids_and_others_have_none() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(PrettyFormat::default())
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        let ids = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            let span = tracing::info_span!("work");
            let _entered = span.enter();
            tracing::info!(items = 3, "inside");
            let cx = tracing_opentelemetry::OpenTelemetrySpanExt::context(&span);
            let sc = cx.span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("outside"), "{text}");
        assert!(!lines[0].contains("trace_id="), "{text}");
        let want = format!(
            "inside items=3 trace_id={} span_id={}",
            &ids.0[..SHORT],
            &ids.1[..SHORT]
        );
        assert!(
            lines[1].ends_with(&want),
            "{} should end with {want}",
            lines[1]
        );
    }
}
