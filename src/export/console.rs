//! The console exporters, beside the OTLP ones (`otlp/`): `OTEL_TRACES_EXPORTER=console`
//! writes finished spans as readable lines on stderr, `OTEL_LOGS_EXPORTER=console` one line
//! per log record.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::UNIX_EPOCH;

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Writes one block per span to stderr: name, ids, kind, status, duration, attributes.
#[derive(Debug, Default)]
pub(crate) struct ConsoleExporter {
    service: String,
}

impl ConsoleExporter {
    pub(crate) fn render(&self, span: &SpanData, out: &mut String) {
        let duration = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let start = span
            .start_time
            .duration_since(UNIX_EPOCH)
            .map(|d| humantime::format_rfc3339_micros(UNIX_EPOCH + d).to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            "[span] {name:?} service={service} trace_id={trace} span_id={span_id}",
            name = span.name,
            service = self.service,
            trace = span.span_context.trace_id(),
            span_id = span.span_context.span_id(),
        );
        if span.parent_span_id != SpanId::INVALID {
            let _ = write!(out, " parent_id={}", span.parent_span_id);
            if span.parent_span_is_remote {
                out.push_str(" (remote parent)");
            }
        }
        let status = match &span.status {
            Status::Unset => "unset".to_owned(),
            Status::Ok => "ok".to_owned(),
            Status::Error { description } => format!("error({description})"),
        };
        let _ = writeln!(
            out,
            " kind={:?} status={status} start={start} duration={duration:?}",
            span.span_kind
        );
        for kv in &span.attributes {
            let _ = writeln!(out, "    {} = {}", kv.key, kv.value);
        }
        for event in &span.events.events {
            let _ = write!(out, "    event {:?}", event.name);
            for kv in &event.attributes {
                let _ = write!(out, " {}={}", kv.key, kv.value);
            }
            out.push('\n');
        }
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::with_capacity(256 * batch.len());
        for span in &batch {
            self.render(span, &mut out);
        }
        // A closed stderr is not worth failing the pipeline for.
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        if let Some(name) = resource.get(&opentelemetry::Key::from_static_str("service.name")) {
            self.service = name.to_string();
        }
    }
}

/// `OTEL_LOGS_EXPORTER=console`: one line per record on stderr.
#[derive(Debug, Default)]
pub(crate) struct ConsoleLogExporter {
    service: String,
}

impl ConsoleLogExporter {
    fn render(&self, record: &SdkLogRecord, out: &mut String) {
        let _ = write!(
            out,
            "[log] {} service={}",
            record.severity_text().unwrap_or("-"),
            self.service
        );
        if let Some(tc) = record.trace_context() {
            let _ = write!(out, " trace_id={} span_id={}", tc.trace_id, tc.span_id);
        }
        if let Some(target) = record.target() {
            let _ = write!(out, " target={target}");
        }
        if let Some(body) = record.body() {
            let _ = write!(out, " body={body:?}");
        }
        for (key, value) in record.attributes_iter() {
            let _ = write!(out, " {key}={value:?}");
        }
        out.push('\n');
    }
}

impl LogExporter for ConsoleLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let mut out = String::new();
        for (record, _) in batch.iter() {
            self.render(record, &mut out);
        }
        std::io::stderr()
            .lock()
            .write_all(out.as_bytes())
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string())
            .unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tower::ServiceExt as _;

    /// Credentials sent to an instrumented service never reach the console output.
    #[tokio::test]
    async fn console_output_carries_no_credentials() {
        const SECRET: &str = "c0ns0le-S3cret";
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let app = axum::Router::new()
            .route("/login", axum::routing::post(|| async { "ok" }))
            .layer(
                crate::http::layer()
                    .tracer_provider(&provider)
                    .without_metrics(),
            );
        let query: Vec<String> = crate::http::SENSITIVE_QUERY_KEYS
            .iter()
            .map(|key| format!("{key}={SECRET}"))
            .collect();
        let mut request = http::Request::post(format!("/login?{}", query.join("&")));
        for (name, value) in [
            ("authorization", format!("Bearer {SECRET}")),
            ("proxy-authorization", format!("Basic {SECRET}")),
            ("cookie", format!("sid={SECRET}")),
            ("set-cookie", format!("sid={SECRET}")),
            ("x-api-key", SECRET.to_owned()),
            ("x-auth-token", SECRET.to_owned()),
            ("x-csrf-token", SECRET.to_owned()),
            ("x-amz-security-token", SECRET.to_owned()),
        ] {
            request = request.header(name, value);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let finished = spans.get_finished_spans().unwrap();
        assert_eq!(finished.len(), 1);
        let mut out = String::new();
        ConsoleExporter::default().render(&finished[0], &mut out);
        assert!(
            out.contains("POST /login") && out.contains("url.query"),
            "{out}"
        );
        assert!(!out.contains(SECRET), "{out}");
    }
}
