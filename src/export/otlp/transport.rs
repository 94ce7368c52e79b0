//! The transport of the crate's own OTLP exporters (spans and metrics): an encoded request goes
//! out over gRPC or HTTP/protobuf with the plan's headers, compression, TLS and timeout.
//!
//! A request is encoded once; a failed attempt that may succeed later (the collector
//! unavailable or overloaded) sends the same bytes again after a growing, jittered pause, up
//! to [`MAX_RETRIES`] times and always within the export timeout, as `opentelemetry-otlp`'s
//! exporters do. A collector that stays away costs one batch about a second, not the whole
//! timeout, so the queue behind it keeps moving.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::config::{OtlpSettings, Protocol};
use crate::error::BoxError;

/// The first pause before an attempt is repeated; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How many times a failed attempt is repeated at most.
const MAX_RETRIES: u32 = 3;

/// What a request carries: it names the gRPC method and the failures.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Traces => "span",
            Signal::Metrics => "metrics",
        }
    }

    #[cfg(feature = "grpc")]
    fn grpc_method(self) -> http::uri::PathAndQuery {
        http::uri::PathAndQuery::from_static(match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        })
    }
}

/// Where and how encoded requests are sent.
#[derive(Clone)]
pub(crate) enum Transport {
    #[cfg(feature = "grpc")]
    Grpc(Box<GrpcTransport>),
    #[cfg(feature = "http-proto")]
    Http(Box<HttpTransport>),
}

#[cfg(feature = "grpc")]
#[derive(Clone)]
pub(crate) struct GrpcTransport {
    channel: tonic::transport::Channel,
    metadata: tonic::metadata::MetadataMap,
    gzip: bool,
}

#[cfg(feature = "http-proto")]
#[derive(Clone)]
pub(crate) struct HttpTransport {
    client: super::http_client::OnRuntime,
    uri: http::Uri,
    headers: http::HeaderMap,
    gzip: bool,
}

impl Transport {
    /// The transport of `settings`; a gRPC one must be made on the export runtime (its channel
    /// is made there).
    #[cfg_attr(
        not(feature = "http-proto"),
        allow(
            unused_variables,
            clippy::needless_pass_by_value,
            reason = "only the HTTP client takes the runtime"
        )
    )]
    pub(crate) fn new(settings: &OtlpSettings, runtime: Handle) -> Result<Self, BoxError> {
        match settings.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => grpc(settings),
            #[cfg(feature = "http-proto")]
            Protocol::HttpProtobuf => http(settings, runtime),
            #[allow(unreachable_patterns)]
            _ => Err(super::missing_feature(settings)),
        }
    }

    /// Sends `body` (an encoded export request of `signal`), repeating retryable failures
    /// until `deadline`.
    pub(crate) async fn send(
        &self,
        signal: Signal,
        body: Bytes,
        deadline: Instant,
    ) -> OTelSdkResult {
        match self {
            #[cfg(feature = "grpc")]
            Transport::Grpc(grpc) => {
                retrying(signal, deadline, || {
                    let grpc = grpc.clone();
                    let body = body.clone();
                    async move { grpc.export(signal, body).await }
                })
                .await
            }
            #[cfg(feature = "http-proto")]
            Transport::Http(http) => {
                let body = if http.gzip {
                    gzip(&body).map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?
                } else {
                    body
                };
                retrying(signal, deadline, || {
                    let mut call = http::Request::new(body.clone());
                    *call.method_mut() = http::Method::POST;
                    *call.uri_mut() = http.uri.clone();
                    *call.headers_mut() = http.headers.clone();
                    let client = http.client.clone();
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

#[cfg(feature = "grpc")]
fn grpc(settings: &OtlpSettings) -> Result<Transport, BoxError> {
    let channel = match &settings.tls {
        #[cfg(feature = "tls")]
        Some(files) => super::tls_channel(settings, files)?,
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err("https:// needs the `tls` cargo feature".into()),
        None => tonic::transport::Endpoint::from_shared(settings.endpoint.clone())?
            .timeout(settings.timeout)
            .connect_lazy(),
    };
    Ok(Transport::Grpc(Box::new(GrpcTransport {
        channel,
        metadata: super::metadata(settings)?,
        gzip: settings.compression == crate::config::Compression::Gzip,
    })))
}

#[cfg(feature = "grpc")]
impl GrpcTransport {
    /// One unary `Export` call with the already encoded request.
    async fn export(self, signal: Signal, body: Bytes) -> Result<(), Failure> {
        use tonic::codec::CompressionEncoding;
        let mut client = tonic::client::Grpc::new(self.channel);
        if self.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        client.ready().await.map_err(|e| Failure {
            retry: true,
            reason: format!("gRPC channel not ready: {e}"),
        })?;
        let mut call = tonic::Request::new(body);
        *call.metadata_mut() = self.metadata;
        client
            .unary(call, signal.grpc_method(), Encoded)
            .await
            .map(drop)
            .map_err(grpc_failure)
    }
}

/// The gRPC codec of a request that is already protobuf: its bytes are written as they are.
/// The collector's answer (an empty message or a partial success) is read and not kept.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone, Copy)]
struct Encoded;

#[cfg(feature = "grpc")]
impl tonic::codec::Codec for Encoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Encoded;
    type Decoder = Encoded;

    fn encoder(&mut self) -> Self::Encoder {
        Encoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        Encoded
    }
}

#[cfg(feature = "grpc")]
impl tonic::codec::Encoder for Encoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

#[cfg(feature = "grpc")]
impl tonic::codec::Decoder for Encoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, Self::Error> {
        let rest = bytes::Buf::remaining(src);
        bytes::Buf::advance(src, rest);
        Ok(Some(()))
    }
}

#[cfg(feature = "http-proto")]
fn http(settings: &OtlpSettings, runtime: Handle) -> Result<Transport, BoxError> {
    use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
    let gzip = settings.compression == crate::config::Compression::Gzip;
    let mut headers = super::header_map(settings)?;
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

/// Runs `attempt` until it succeeds, fails for good, has been repeated [`MAX_RETRIES`] times,
/// or the next try would start after `deadline`; no attempt runs past `deadline`.
async fn retrying<F, Fut>(signal: Signal, deadline: Instant, mut attempt: F) -> OTelSdkResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        let failure = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(failure)) => failure,
            Err(_) => {
                return Err(OTelSdkError::InternalFailure(format!(
                    "{} export timed out",
                    signal.name()
                )))
            }
        };
        let jitter = backoff.mul_f64(rand::random::<f64>() * 0.5);
        let pause = backoff + jitter;
        if !failure.retry || retries == MAX_RETRIES || Instant::now() + pause >= deadline {
            return Err(OTelSdkError::InternalFailure(format!(
                "{} export failed: {}",
                signal.name(),
                failure.reason
            )));
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        retries += 1;
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
fn gzip(plain: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, plain)?;
    Ok(encoder.finish()?.into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the attempts of one `retrying` run whose every attempt fails.
    async fn attempts(retry: bool, deadline: Duration) -> (usize, OTelSdkResult) {
        let attempts = AtomicUsize::new(0);
        let outcome = retrying(Signal::Traces, Instant::now() + deadline, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            async move {
                Err(Failure {
                    retry,
                    reason: "unavailable".into(),
                })
            }
        })
        .await;
        (attempts.load(Ordering::Relaxed), outcome)
    }

    #[tokio::test(start_paused = true)]
    async fn a_retryable_failure_is_repeated_three_times_with_growing_pauses() {
        let start = Instant::now();
        let (n, outcome) = attempts(true, Duration::from_secs(10)).await;
        let error = outcome.unwrap_err().to_string();
        assert!(error.contains("span export failed: unavailable"), "{error}");
        assert_eq!(n, 1 + MAX_RETRIES as usize);
        // Pauses of 100, 200 and 400 ms, each with up to half again of jitter.
        let spent = Instant::now() - start;
        assert!(
            (Duration::from_millis(700)..=Duration::from_millis(1050)).contains(&spent),
            "{spent:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_starts_after_the_deadline_and_a_permanent_failure_is_not_repeated() {
        let start = Instant::now();
        // 100-150 ms, then 200-300 ms: the second pause would pass a 250 ms deadline.
        let (n, outcome) = attempts(true, Duration::from_millis(250)).await;
        assert!(outcome.is_err());
        assert_eq!(n, 2);
        assert!(Instant::now() - start < Duration::from_millis(250));

        let (n, outcome) = attempts(false, Duration::from_secs(10)).await;
        assert!(outcome.is_err());
        assert_eq!(n, 1, "a permanent failure is not repeated");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_ends_at_the_deadline() {
        let start = Instant::now();
        let outcome = retrying(
            Signal::Metrics,
            start + Duration::from_secs(2),
            std::future::pending,
        )
        .await;
        assert!(outcome.is_err());
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
