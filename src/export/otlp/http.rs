//! OTLP/HTTP (binary protobuf): one `POST` per request, on hyper (HTTP/1.1) over rustls for
//! `https://` endpoints, with every request run on the export runtime, so that an exporter
//! called from a thread without a Tokio runtime (the SDK's periodic metric reader) works as
//! well as one called on it.
//!
//! A failed request is classified as protocol/otlp.md asks: 429, 502, 503 and 504 are
//! retried, after the server's `Retry-After` (seconds or an HTTP date) when it sent one; every
//! other status never; a request that did not get an answer (refused, reset) is retried.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_sdk::error::OTelSdkError;
use tokio::runtime::Handle;

use super::report::Report;
use super::retry::{Failure, Retry};
use crate::config::{Compression, OtlpSettings};
use crate::error::BoxError;
use crate::tls::TlsFiles;

#[derive(Debug, Clone)]
enum Client {
    Plain(HyperClient<HttpConnector>),
    #[cfg(feature = "tls")]
    Tls(HyperClient<hyper_rustls::HttpsConnector<HttpConnector>>),
}

#[derive(Debug, Clone)]
struct OnRuntime {
    client: Client,
    runtime: Handle,
}

impl OnRuntime {
    /// A client whose requests time out after `timeout`; TLS with `tls`'s trust and client
    /// certificate when given (the endpoint is `https://`).
    fn new(runtime: Handle, timeout: Duration, tls: Option<&TlsFiles>) -> Result<Self, BoxError> {
        let client = match tls {
            None => Client::Plain(HyperClient::with_default_connector(timeout, None)),
            #[cfg(feature = "tls")]
            Some(files) => {
                // hyper-rustls sets ALPN (http/1.1) itself.
                let config = crate::tls::config(files)?;
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_only()
                    .enable_http1()
                    .build();
                Client::Tls(HyperClient::new(connector, timeout, None))
            }
            #[cfg(not(feature = "tls"))]
            Some(_) => return Err("https:// needs the `tls` cargo feature".into()),
        };
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move {
                match client {
                    Client::Plain(client) => client.send_bytes(request).await,
                    #[cfg(feature = "tls")]
                    Client::Tls(client) => client.send_bytes(request).await,
                }
            })
            .await
            .map_err(|e| -> HttpError { Box::new(e) })?
    }
}

/// Where the requests of one signal go, and with what.
#[derive(Clone)]
pub(super) struct HttpTransport {
    client: OnRuntime,
    uri: http::Uri,
    headers: http::HeaderMap,
    gzip: bool,
}

impl HttpTransport {
    /// The transport of `settings` (whose endpoint is the signal's full URL), its requests run
    /// on `runtime`.
    pub(super) fn new(settings: &OtlpSettings, runtime: Handle) -> Result<Self, BoxError> {
        use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
        let gzip = settings.compression == Compression::Gzip;
        let mut headers = super::common::header_map(settings)?;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(super::common::USER_AGENT),
        );
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(Self {
            client: OnRuntime::new(runtime, settings.timeout, settings.tls.as_deref())?,
            uri: settings.endpoint.parse()?,
            headers,
            gzip,
        })
    }

    /// `body` as it goes on the wire: gzip-compressed when the plan says so.
    pub(super) fn compress(&self, body: Bytes) -> Result<Bytes, OTelSdkError> {
        if !self.gzip {
            return Ok(body);
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, &body)
            .and_then(|()| encoder.finish())
            .map(Bytes::from)
            .map_err(|e| OTelSdkError::InternalFailure(format!("gzip: {e}")))
    }

    /// One `POST` of the already encoded (and compressed) request; the answer's body on
    /// success.
    pub(super) async fn export(&self, body: Bytes, report: &Report) -> Result<Bytes, Failure> {
        let mut call = Request::new(body);
        *call.method_mut() = http::Method::POST;
        *call.uri_mut() = self.uri.clone();
        *call.headers_mut() = self.headers.clone();
        match self.client.send_bytes(call).await {
            Ok(response) if response.status().is_success() => Ok(response.into_body()),
            Ok(response) => Err(failure(&response, SystemTime::now())),
            Err(e) => Err(Failure {
                retry: Retry::Backoff,
                reason: report.scrub(&e.to_string()),
            }),
        }
    }
}

/// What a refused request means: retried or not, and when.
fn failure(response: &Response<Bytes>, now: SystemTime) -> Failure {
    let status = response.status();
    let reason = format!("HTTP status {status}");
    if !matches!(status.as_u16(), 429 | 502 | 503 | 504) {
        return Failure {
            retry: Retry::Never,
            reason,
        };
    }
    let retry = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, now))
        .map_or(Retry::Backoff, Retry::After);
    Failure { retry, reason }
}

/// The delay of a `Retry-After` value: whole seconds, or an HTTP date (RFC 9110 10.2.3). A date
/// in the past is no delay; a value that is neither is ignored.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Response<Bytes> {
        let mut response = Response::builder().status(status);
        if let Some(v) = retry_after {
            response = response.header(http::header::RETRY_AFTER, v);
        }
        response.body(Bytes::new()).unwrap()
    }

    #[test]
    fn only_429_and_the_gateway_errors_are_retried_and_retry_after_is_read_both_ways() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        for status in [429, 502, 503, 504] {
            assert_eq!(failure(&answer(status, None), now).retry, Retry::Backoff);
        }
        for status in [400, 401, 403, 404, 413, 500] {
            let f = failure(&answer(status, Some("1")), now);
            assert_eq!(f.retry, Retry::Never, "{status}");
        }
        let seconds = failure(&answer(429, Some("7")), now);
        assert_eq!(seconds.retry, Retry::After(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(12));
        let dated = failure(&answer(503, Some(&date)), now);
        assert_eq!(dated.retry, Retry::After(Duration::from_secs(12)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(12));
        assert_eq!(
            failure(&answer(503, Some(&past)), now).retry,
            Retry::After(Duration::ZERO)
        );
        let nonsense = failure(&answer(503, Some("soon")), now);
        assert_eq!(nonsense.retry, Retry::Backoff);
        assert_eq!(nonsense.reason, "HTTP status 503 Service Unavailable");
    }
}
