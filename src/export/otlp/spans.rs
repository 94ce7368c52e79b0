//! The OTLP span exporter. A batch of finished spans is moved, not copied, into one encoded
//! OTLP request (grouped by instrumentation scope under the pipeline's resource) and sent
//! through the crate's OTLP client ([`super::transport::Client`]); a retried attempt sends the
//! same bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::report::Report;
use super::transport::Client;
use crate::config::OtlpSettings;
use crate::error::BoxError;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, InstrumentationScope as ProtoScope, KeyValue as ProtoKeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, Span as ProtoSpan, SpanFlags, Status as ProtoStatus,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message as _;

/// Sends spans to an OTLP collector; driven by the batch processor on the export runtime.
pub(crate) struct SpanExporter {
    client: Client,
    /// The `resource` field of `ResourceSpans`, encoded once.
    resource_field: Vec<u8>,
    resource_schema_url: String,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for SpanExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanExporter")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl SpanExporter {
    /// The exporter of `settings`; must run on the export runtime (the gRPC channel is made
    /// there).
    pub(crate) fn new(
        settings: &OtlpSettings,
        runtime: tokio::runtime::Handle,
        report: Report,
    ) -> Result<Self, BoxError> {
        Ok(Self {
            client: Client::new(settings, runtime, report)?,
            resource_field: Vec::new(),
            resource_schema_url: String::new(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// The encoded export request of `batch`: one resource, one entry per instrumentation
    /// scope in the order the scopes first appear.
    ///
    /// Each span is encoded as soon as it is converted, and the two messages around the spans
    /// (`ResourceSpans`, `ScopeSpans`) are framed around their encoded bodies. Encoding the
    /// whole request as one message would size every span once per level of nesting.
    /// (Encoding into a `Vec` cannot fail, so the encoders' results are dropped.)
    fn encode(&self, batch: Vec<SpanData>) -> Vec<u8> {
        let mut scopes: Vec<(InstrumentationScope, Vec<u8>)> = Vec::new();
        for data in batch {
            // A batch holds few scopes (often one): a look along the list is the cheapest.
            let found = scopes
                .iter()
                .position(|(scope, _)| *scope == data.instrumentation_scope);
            let at = found.unwrap_or_else(|| {
                scopes.push((data.instrumentation_scope.clone(), Vec::new()));
                scopes.len() - 1
            });
            let spans = &mut scopes[at].1;
            spans.push(field::SCOPE_SPANS_SPANS);
            span(data).encode_length_delimited(spans).unwrap_or(());
        }
        let mut resource_spans = self.resource_field.clone();
        for (scope, spans) in scopes {
            let mut body = Vec::with_capacity(spans.len() + 64);
            body.push(field::SCOPE_SPANS_SCOPE);
            ProtoScope::from((&scope, None))
                .encode_length_delimited(&mut body)
                .unwrap_or(());
            body.extend_from_slice(&spans);
            string_field(&mut body, field::SCOPE_SPANS_SCHEMA_URL, scope.schema_url());
            message_field(
                &mut resource_spans,
                field::RESOURCE_SPANS_SCOPE_SPANS,
                &body,
            );
        }
        string_field(
            &mut resource_spans,
            field::RESOURCE_SPANS_SCHEMA_URL,
            Some(&self.resource_schema_url),
        );
        let mut request = Vec::with_capacity(resource_spans.len() + 8);
        message_field(&mut request, field::REQUEST_RESOURCE_SPANS, &resource_spans);
        request
    }
}

/// The keys (field number and the length-delimited wire type) of the OTLP trace messages'
/// fields the exporter frames itself (`opentelemetry/proto/trace/v1/trace.proto` and
/// `collector/trace/v1/trace_service.proto`).
mod field {
    const fn key(number: u8) -> u8 {
        (number << 3) | 2
    }
    pub(super) const REQUEST_RESOURCE_SPANS: u8 = key(1);
    pub(super) const RESOURCE_SPANS_RESOURCE: u8 = key(1);
    pub(super) const RESOURCE_SPANS_SCOPE_SPANS: u8 = key(2);
    pub(super) const RESOURCE_SPANS_SCHEMA_URL: u8 = key(3);
    pub(super) const SCOPE_SPANS_SCOPE: u8 = key(1);
    pub(super) const SCOPE_SPANS_SPANS: u8 = key(2);
    pub(super) const SCOPE_SPANS_SCHEMA_URL: u8 = key(3);
}

/// Appends a length-delimited field holding the already encoded `body`.
fn message_field(out: &mut Vec<u8>, key: u8, body: &[u8]) {
    out.push(key);
    prost::encode_length_delimiter(body.len(), out).unwrap_or(());
    out.extend_from_slice(body);
}

/// Appends a string field, unless it is empty (proto3 leaves default values out).
fn string_field(out: &mut Vec<u8>, key: u8, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        message_field(out, key, value.as_bytes());
    }
}

impl opentelemetry_sdk::trace::SpanExporter for SpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let items = batch.len() as u64;
        let body = self.encode(batch).into();
        self.client.export(body, items).await
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let resource = ResourceAttributesWithSchema::from(resource);
        let encoded = ProtoResource {
            attributes: resource.attributes.0,
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
        .encode_to_vec();
        self.resource_field.clear();
        message_field(
            &mut self.resource_field,
            field::RESOURCE_SPANS_RESOURCE,
            &encoded,
        );
        self.resource_schema_url = resource.schema_url.unwrap_or_default();
    }
}

/// One span in OTLP form, its strings moved rather than copied where the SDK owns them.
fn span(data: SpanData) -> ProtoSpan {
    let context = &data.span_context;
    ProtoSpan {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().header(),
        parent_span_id: if data.parent_span_id == SpanId::INVALID {
            Vec::new()
        } else {
            data.parent_span_id.to_bytes().to_vec()
        },
        flags: flags(data.parent_span_is_remote, context.trace_flags().to_u8()),
        name: data.name.into_owned(),
        kind: span::SpanKind::from(data.span_kind) as i32,
        start_time_unix_nano: nanos(data.start_time),
        end_time_unix_nano: nanos(data.end_time),
        attributes: attributes(data.attributes),
        dropped_attributes_count: data.dropped_attributes_count,
        dropped_events_count: data.events.dropped_count,
        events: data
            .events
            .into_iter()
            .map(|event| span::Event {
                time_unix_nano: nanos(event.timestamp),
                name: event.name.into_owned(),
                attributes: attributes(event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_links_count: data.links.dropped_count,
        links: data
            .links
            .into_iter()
            .map(|link| span::Link {
                trace_id: link.span_context.trace_id().to_bytes().to_vec(),
                span_id: link.span_context.span_id().to_bytes().to_vec(),
                trace_state: link.span_context.trace_state().header(),
                attributes: attributes(link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: flags(
                    link.span_context.is_remote(),
                    link.span_context.trace_flags().to_u8(),
                ),
            })
            .collect(),
        status: Some(ProtoStatus {
            code: status::StatusCode::from(&data.status) as i32,
            message: match data.status {
                Status::Error { description } => description.into_owned(),
                _ => String::new(),
            },
        }),
    }
}

/// The span flags: the W3C trace flags, and whether the parent (or linked) context is remote.
fn flags(remote: bool, trace_flags: u8) -> u32 {
    let mut flags = u32::from(trace_flags) | SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        flags |= SpanFlags::ContextIsRemoteMask as u32;
    }
    flags
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn attributes(attributes: Vec<KeyValue>) -> Vec<ProtoKeyValue> {
    attributes
        .into_iter()
        .map(|kv| ProtoKeyValue {
            key: kv.key.into(),
            value: Some(any_value(kv.value)),
            key_strindex: 0,
        })
        .collect()
}

/// A string value is moved into the message; the other kinds take `opentelemetry-proto`'s
/// conversion.
fn any_value(value: Value) -> AnyValue {
    match value {
        Value::String(s) => AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        },
        other => AnyValue::from(other),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use opentelemetry::trace::{
        Event, Link, SpanContext, SpanKind, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::{Array, StringValue};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::trace::{SpanEvents, SpanExporter as _, SpanLinks};

    use super::*;

    fn context(trace: u128, span: u64, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            TraceState::from_key_value([("vendor", "value")]).unwrap(),
        )
    }

    fn data(name: &'static str, scope: &InstrumentationScope) -> SpanData {
        let mut events = SpanEvents::default();
        events.events.push(Event::new(
            "exception",
            SystemTime::UNIX_EPOCH + Duration::from_nanos(1_500),
            vec![KeyValue::new("exception.type", "panic")],
            1,
        ));
        events.dropped_count = 2;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(7, 8, true),
            vec![KeyValue::new("link.kind", "batch")],
            0,
        ));
        SpanData {
            span_context: context(
                0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
                0xb7ad_6b71_6920_3331,
                false,
            ),
            parent_span_id: SpanId::from(0x00f0_67aa_0ba9_02b7),
            parent_span_is_remote: true,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed(name),
            start_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(1_000),
            end_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(2_000),
            attributes: vec![
                KeyValue::new("http.route", String::from("/items/{id}")),
                KeyValue::new("http.response.status_code", 500_i64),
                KeyValue::new("error", true),
                KeyValue::new("ratio", 0.25),
                KeyValue::new(
                    "tags",
                    Value::Array(Array::String(vec![StringValue::from("a"), "b".into()])),
                ),
            ],
            dropped_attributes_count: 3,
            events,
            links,
            status: Status::error("upstream failed"),
            instrumentation_scope: scope.clone(),
        }
    }

    fn exporter() -> SpanExporter {
        let protocol = if cfg!(feature = "grpc") {
            crate::config::Protocol::Grpc
        } else {
            crate::config::Protocol::HttpProtobuf
        };
        let settings = OtlpSettings {
            protocol,
            endpoint: "http://127.0.0.1:1/v1/traces".into(),
            headers: crate::config::Headers::default(),
            timeout: Duration::from_secs(1),
            compression: crate::config::Compression::None,
            tls: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut exporter = runtime
            .block_on(async {
                let report = Report::new(
                    crate::error::Signal::Traces,
                    &settings,
                    std::sync::Arc::new(|n| n),
                    crate::export::processor::WarnSink::default(),
                );
                SpanExporter::new(&settings, runtime.handle().clone(), report)
            })
            .unwrap();
        exporter.set_resource(
            &Resource::builder_empty()
                .with_service_name("checkout")
                .with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
                .build(),
        );
        exporter
    }

    /// Every field the SDK gives a span reaches the message, and the message is what
    /// `opentelemetry-proto`'s own conversion makes of the same spans.
    #[test]
    fn a_batch_becomes_the_request_the_reference_conversion_makes() {
        let ours = InstrumentationScope::builder("octollm-telemetry")
            .with_version("1.0.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.27.0")
            .with_attributes([KeyValue::new("scope.kind", "server")])
            .build();
        let theirs = InstrumentationScope::builder("an-app").build();
        let batch = vec![
            data("GET /items/{id}", &ours),
            data("query", &theirs),
            data("POST /items", &ours),
        ];
        let exporter = exporter();
        let bytes = exporter.encode(batch.clone());

        let resource = ResourceAttributesWithSchema::from(
            &Resource::builder_empty()
                .with_service_name("checkout")
                .with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
                .build(),
        );
        let reference = ExportTraceServiceRequest {
            resource_spans:
                opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                    batch, &resource,
                ),
        };
        // The same bytes prost writes for the reference request, field for field.
        assert_eq!(bytes, reference.encode_to_vec());
        let request = ExportTraceServiceRequest::decode(&*bytes).unwrap();
        assert_eq!(request, reference);

        let rs = &request.resource_spans[0];
        assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.26.0");
        assert_eq!(
            rs.scope_spans[0].schema_url,
            "https://opentelemetry.io/schemas/1.27.0"
        );
        let names: Vec<&str> = rs
            .scope_spans
            .iter()
            .map(|s| s.scope.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(
            names,
            ["octollm-telemetry", "an-app"],
            "in order of appearance"
        );
        let first = &rs.scope_spans[0].spans[0];
        assert_eq!(rs.scope_spans[0].spans.len(), 2);
        assert_eq!(first.name, "GET /items/{id}");
        assert_eq!(
            first.flags,
            0x01 | SpanFlags::ContextHasIsRemoteMask as u32 | SpanFlags::ContextIsRemoteMask as u32
        );
        assert_eq!(first.trace_state, "vendor=value");
        assert_eq!(first.status.as_ref().unwrap().message, "upstream failed");
        assert_eq!(first.dropped_events_count, 2);
    }

    #[test]
    fn a_root_span_has_no_parent_id() {
        let mut root = data("root", &InstrumentationScope::builder("x").build());
        root.parent_span_id = SpanId::INVALID;
        root.parent_span_is_remote = false;
        root.status = Status::Ok;
        let span = span(root);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.flags, 0x01 | SpanFlags::ContextHasIsRemoteMask as u32);
        assert_eq!(span.status.unwrap().code, status::StatusCode::Ok as i32);
    }

    #[test]
    fn nothing_is_sent_after_shutdown() {
        let exporter = exporter();
        exporter
            .shutdown_with_timeout(Duration::from_secs(1))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(exporter.export(Vec::new()));
        assert!(matches!(outcome, Err(OTelSdkError::AlreadyShutdown)));
    }
}
