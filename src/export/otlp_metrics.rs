//! The OTLP metric exporter. The SDK's collected metrics become an OTLP request (the
//! conversion of `opentelemetry-proto`), the server duration histogram's points get the
//! exemplars recorded beside the SDK (which records none), and the request goes out over gRPC
//! or HTTP/protobuf with the plan's headers, compression, TLS and timeout.
//!
//! A failed attempt that may succeed later (the collector unavailable or overloaded) is tried
//! again with a growing, jittered pause, always within the export timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::{KeyValue, Value};
#[cfg(feature = "grpc")]
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, Exemplar as ProtoExemplar};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::config::{OtlpSettings, Protocol};
use crate::error::BoxError;
use crate::metrics::exemplars;

/// The first pause before an attempt is repeated; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Pushes metrics to an OTLP collector.
pub(crate) struct MetricExporter {
    transport: Transport,
    timeout: Duration,
    runtime: Handle,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for MetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricExporter")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Transport {
    #[cfg(feature = "grpc")]
    Grpc(Box<GrpcTransport>),
    #[cfg(feature = "http-proto")]
    Http(Box<HttpTransport>),
}

#[cfg(feature = "grpc")]
#[derive(Clone)]
struct GrpcTransport {
    client: MetricsServiceClient<tonic::transport::Channel>,
    metadata: tonic::metadata::MetadataMap,
}

#[cfg(feature = "http-proto")]
#[derive(Clone)]
struct HttpTransport {
    client: super::http_client::OnRuntime,
    uri: http::Uri,
    headers: http::HeaderMap,
    gzip: bool,
}

impl MetricExporter {
    /// The exporter of `settings`; must run on the export runtime (the gRPC channel is made
    /// there).
    pub(crate) fn new(settings: &OtlpSettings, runtime: Handle) -> Result<Self, BoxError> {
        let transport = match settings.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => grpc(settings)?,
            #[cfg(feature = "http-proto")]
            Protocol::HttpProtobuf => http(settings, runtime.clone())?,
            #[allow(unreachable_patterns)]
            _ => return Err(super::otlp::missing_feature(settings)),
        };
        Ok(Self {
            transport,
            timeout: settings.timeout,
            runtime,
            shut_down: AtomicBool::new(false),
        })
    }
}

#[cfg(feature = "grpc")]
fn grpc(settings: &OtlpSettings) -> Result<Transport, BoxError> {
    use tonic::codec::CompressionEncoding;
    let channel = match &settings.tls {
        #[cfg(feature = "tls")]
        Some(files) => super::otlp::tls_channel(settings, files)?,
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err("https:// needs the `tls` cargo feature".into()),
        None => tonic::transport::Endpoint::from_shared(settings.endpoint.clone())?
            .timeout(settings.timeout)
            .connect_lazy(),
    };
    let mut client = MetricsServiceClient::new(channel);
    if settings.compression == crate::config::Compression::Gzip {
        client = client
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip);
    }
    Ok(Transport::Grpc(Box::new(GrpcTransport {
        client,
        metadata: super::otlp::metadata(settings)?,
    })))
}

#[cfg(feature = "http-proto")]
fn http(settings: &OtlpSettings, runtime: Handle) -> Result<Transport, BoxError> {
    use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
    let gzip = settings.compression == crate::config::Compression::Gzip;
    let mut headers = super::otlp::header_map(settings)?;
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("octollm-telemetry/", env!("CARGO_PKG_VERSION"))),
    );
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(Transport::Http(Box::new(HttpTransport {
        client: super::http_client::OnRuntime::new(
            runtime,
            settings.timeout,
            settings.tls.as_deref(),
        )?,
        uri: settings.endpoint.parse()?,
        headers,
        gzip,
    })))
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    retry: bool,
    reason: String,
}

impl Transport {
    /// Sends `request` once it is encoded, repeating retryable failures until `deadline`.
    async fn send(self, request: ExportMetricsServiceRequest, deadline: Instant) -> OTelSdkResult {
        match self {
            #[cfg(feature = "grpc")]
            Transport::Grpc(grpc) => {
                let GrpcTransport { client, metadata } = *grpc;
                retrying(deadline, || {
                    let mut call = tonic::Request::new(request.clone());
                    *call.metadata_mut() = metadata.clone();
                    let mut client = client.clone();
                    async move { client.export(call).await.map(drop).map_err(grpc_failure) }
                })
                .await
            }
            #[cfg(feature = "http-proto")]
            Transport::Http(http) => {
                let HttpTransport {
                    client,
                    uri,
                    headers,
                    gzip,
                } = *http;
                let body = encode(&request, gzip)
                    .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
                retrying(deadline, || {
                    let mut call = http::Request::new(body.clone());
                    *call.method_mut() = http::Method::POST;
                    *call.uri_mut() = uri.clone();
                    *call.headers_mut() = headers.clone();
                    let client = client.clone();
                    async move {
                        http_outcome(
                            opentelemetry_http::HttpClient::send_bytes(&client, call).await,
                        )
                    }
                })
                .await
            }
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the next try would end after
/// `deadline`; no attempt runs past `deadline`.
async fn retrying<F, Fut>(deadline: Instant, mut attempt: F) -> OTelSdkResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let failure = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(failure)) => failure,
            Err(_) => {
                return Err(OTelSdkError::InternalFailure(
                    "metrics export timed out".into(),
                ))
            }
        };
        let jitter = backoff.mul_f64(rand::random::<f64>() * 0.5);
        let pause = backoff + jitter;
        if !failure.retry || Instant::now() + pause >= deadline {
            return Err(OTelSdkError::InternalFailure(format!(
                "metrics export failed: {}",
                failure.reason
            )));
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A gRPC failure; the status message stays out (a collector may echo credentials in it).
#[cfg(feature = "grpc")]
#[allow(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn grpc_failure(status: tonic::Status) -> Failure {
    use tonic::Code;
    let retry = matches!(
        status.code(),
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    );
    let mut reason = format!("gRPC status {:?}", status.code());
    // A local transport error (refused connection, TLS) says what went wrong.
    let mut source = std::error::Error::source(&status);
    while let Some(e) = source {
        reason.push_str(": ");
        reason.push_str(&e.to_string());
        source = e.source();
    }
    Failure { retry, reason }
}

#[cfg(feature = "http-proto")]
fn http_outcome(
    outcome: Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError>,
) -> Result<(), Failure> {
    match outcome {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(Failure {
            retry: matches!(response.status().as_u16(), 429 | 502 | 503 | 504),
            reason: format!("HTTP status {}", response.status()),
        }),
        Err(e) => Err(Failure {
            retry: true,
            reason: e.to_string(),
        }),
    }
}

#[cfg(feature = "http-proto")]
fn encode(request: &ExportMetricsServiceRequest, gzip: bool) -> std::io::Result<bytes::Bytes> {
    use prost::Message as _;
    let plain = request.encode_to_vec();
    if !gzip {
        return Ok(plain.into());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &plain)?;
    Ok(encoder.finish()?.into())
}

impl PushMetricExporter for MetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut request = ExportMetricsServiceRequest::from(metrics);
        attach_exemplars(&mut request);
        let deadline = Instant::now() + self.timeout;
        let transport = self.transport.clone();
        // On the export runtime, whichever thread the reader calls from.
        self.runtime
            .spawn(transport.send(request, deadline))
            .await
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Adds to each point of the crate's server duration histogram the exemplars of its series
/// recorded within the point's window (from its start to its collection).
fn attach_exemplars(request: &mut ExportMetricsServiceRequest) {
    use opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;
    let ours = request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| r.scope_metrics.iter_mut())
        .filter(|s| {
            s.scope
                .as_ref()
                .is_some_and(|s| s.name == crate::installed::SCOPE)
        });
    for scope in ours {
        for m in &mut scope.metrics {
            let Some(metric::Data::Histogram(histogram)) = &mut m.data else {
                continue;
            };
            if m.name != HTTP_SERVER_REQUEST_DURATION {
                continue;
            }
            for point in &mut histogram.data_points {
                let attributes: Vec<KeyValue> =
                    point.attributes.iter().filter_map(key_value).collect();
                let Some(slots) = exemplars::of_attributes(&attributes) else {
                    continue;
                };
                let window = point.start_time_unix_nano..=point.time_unix_nano;
                point.exemplars.extend(
                    slots
                        .iter()
                        .flatten()
                        .filter(|e| window.contains(&e.time_unix_nano))
                        .map(|e| ProtoExemplar {
                            filtered_attributes: Vec::new(),
                            time_unix_nano: e.time_unix_nano,
                            span_id: e.span_id.to_vec(),
                            trace_id: e.trace_id.to_vec(),
                            value: Some(exemplar::Value::AsDouble(e.value)),
                        }),
                );
            }
        }
    }
}

fn key_value(kv: &ProtoKeyValue) -> Option<KeyValue> {
    let value = match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::from(s.clone()),
        any_value::Value::IntValue(n) => Value::I64(*n),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::DoubleValue(d) => Value::F64(*d),
        _ => return None,
    };
    Some(KeyValue::new(kv.key.clone(), value))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    };

    use super::*;

    fn string(key: &str, value: &str) -> ProtoKeyValue {
        ProtoKeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(
        scope: &str,
        name: &str,
        route: &str,
        window: (u64, u64),
    ) -> ExportMetricsServiceRequest {
        let point = HistogramDataPoint {
            attributes: vec![
                string("http.request.method", "GET"),
                ProtoKeyValue {
                    key: "http.response.status_code".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(200)),
                    }),
                    ..Default::default()
                },
                string("http.route", route),
            ],
            start_time_unix_nano: window.0,
            time_unix_nano: window.1,
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        ..Default::default()
                    }),
                    metrics: vec![Metric {
                        name: name.into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![point],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                ..Default::default()
            }],
        }
    }

    fn exemplars_of(request: &ExportMetricsServiceRequest) -> Vec<ProtoExemplar> {
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metric::Data::Histogram(h)) = &metric.data else {
            unreachable!("built as a histogram")
        };
        h.data_points[0].exemplars.clone()
    }

    fn record(route: &str, value: f64) -> SpanContext {
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let attributes = [
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.route", route.to_owned()),
        ];
        exemplars::record(&attributes, value, &sc);
        sc
    }

    const DURATION: &str = "http.server.request.duration";

    #[test]
    fn a_point_gets_the_exemplars_of_its_series_recorded_in_its_window() {
        let sc = record("/unit/window", 0.02);
        let mut now = request(
            crate::installed::SCOPE,
            DURATION,
            "/unit/window",
            (0, u64::MAX),
        );
        attach_exemplars(&mut now);
        let got = exemplars_of(&now);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].trace_id, sc.trace_id().to_bytes().to_vec());
        assert_eq!(got[0].span_id, sc.span_id().to_bytes().to_vec());
        assert_eq!(got[0].value, Some(exemplar::Value::AsDouble(0.02)));

        // A point collected before the request was recorded does not carry it.
        let mut before = request(crate::installed::SCOPE, DURATION, "/unit/window", (0, 1));
        attach_exemplars(&mut before);
        assert!(exemplars_of(&before).is_empty());
    }

    #[test]
    fn other_series_scopes_and_instruments_get_none() {
        record("/unit/other", 0.5);
        for mut r in [
            request(
                crate::installed::SCOPE,
                DURATION,
                "/unit/elsewhere",
                (0, u64::MAX),
            ),
            request("an-app", DURATION, "/unit/other", (0, u64::MAX)),
            request(
                crate::installed::SCOPE,
                "http.client.request.duration",
                "/unit/other",
                (0, u64::MAX),
            ),
        ] {
            attach_exemplars(&mut r);
            assert!(exemplars_of(&r).is_empty());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_are_tried_again_until_the_deadline_and_no_further() {
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(3);
        let outcome = retrying(deadline, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            async {
                Err(Failure {
                    retry: true,
                    reason: "unavailable".into(),
                })
            }
        })
        .await;
        assert!(outcome.is_err());
        let n = attempts.load(Ordering::Relaxed);
        assert!((3..=8).contains(&n), "{n} attempts in 3 s");
        assert!(Instant::now() <= deadline);

        let once = std::sync::atomic::AtomicUsize::new(0);
        let outcome = retrying(Instant::now() + Duration::from_secs(3), || {
            once.fetch_add(1, Ordering::Relaxed);
            async {
                Err(Failure {
                    retry: false,
                    reason: "bad request".into(),
                })
            }
        })
        .await;
        assert!(outcome.is_err());
        assert_eq!(
            once.load(Ordering::Relaxed),
            1,
            "a permanent failure is not repeated"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_ends_at_the_deadline() {
        let start = Instant::now();
        let outcome = retrying(start + Duration::from_secs(2), std::future::pending).await;
        assert!(outcome.is_err());
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
