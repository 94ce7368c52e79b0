//! OTLP/gRPC: one unary `Export` call per request over a tonic channel (plain or rustls), the
//! request's bytes written as they are, the answer's bytes kept for the partial success.
//!
//! A failed call is classified as protocol/otlp.md asks: `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and `DATA_LOSS` are retried (after the server's
//! `RetryInfo` delay when it sent one), `RESOURCE_EXHAUSTED` only when the server sent
//! `RetryInfo`, every other status never.

use bytes::Bytes;
use tonic::codec::CompressionEncoding;
use tonic::Code;
use tonic_types::StatusExt as _;

use super::report::Report;
use super::retry::{Failure, Retry};
use crate::config::{Compression, OtlpSettings};
use crate::error::{BoxError, Signal};

/// Where the requests of one signal go, and with what.
#[derive(Clone)]
pub(super) struct GrpcTransport {
    channel: tonic::transport::Channel,
    metadata: tonic::metadata::MetadataMap,
    method: http::uri::PathAndQuery,
    gzip: bool,
}

impl GrpcTransport {
    /// The transport of `signal`'s requests; made on the export runtime (the channel is).
    pub(super) fn new(settings: &OtlpSettings, signal: Signal) -> Result<Self, BoxError> {
        let channel = match &settings.tls {
            #[cfg(feature = "tls")]
            Some(files) => tls_channel(settings, files)?,
            #[cfg(not(feature = "tls"))]
            Some(_) => return Err("https:// needs the `tls` cargo feature".into()),
            None => tonic::transport::Endpoint::from_shared(settings.endpoint.clone())?
                .user_agent(super::common::USER_AGENT)?
                .timeout(settings.timeout)
                .connect_lazy(),
        };
        Ok(Self {
            channel,
            metadata: tonic::metadata::MetadataMap::from_headers(super::common::header_map(
                settings,
            )?),
            method: method(signal),
            gzip: settings.compression == Compression::Gzip,
        })
    }

    /// One `Export` call with the already encoded request; the answer's bytes on success.
    pub(super) async fn export(self, body: Bytes, report: &Report) -> Result<Bytes, Failure> {
        let mut client = tonic::client::Grpc::new(self.channel);
        if self.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        client.ready().await.map_err(|e| Failure {
            retry: Retry::Backoff,
            reason: format!("gRPC channel not ready: {e}"),
        })?;
        let mut call = tonic::Request::new(body);
        *call.metadata_mut() = self.metadata;
        client
            .unary(call, self.method, Encoded)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| failure(&status, report))
    }
}

/// The `Export` method of `signal`'s collector service.
fn method(signal: Signal) -> http::uri::PathAndQuery {
    http::uri::PathAndQuery::from_static(match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    })
}

/// The gRPC channel of an `https://` endpoint: tonic over rustls with the plan's trust and
/// client certificate.
#[cfg(feature = "tls")]
fn tls_channel(
    settings: &OtlpSettings,
    files: &crate::tls::TlsFiles,
) -> Result<tonic::transport::Channel, BoxError> {
    use tonic::transport::{ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .trust_anchors(crate::tls::trust_anchors(files)?)
        .assume_http2(true);
    if let Some((cert, key)) = &files.identity {
        tls = tls.identity(Identity::from_pem(&*cert.pem, &*key.pem));
    }
    Ok(Endpoint::from_shared(settings.endpoint.clone())?
        .user_agent(super::common::USER_AGENT)?
        .tls_config(tls)?
        .timeout(settings.timeout)
        .connect_lazy())
}

/// What a failed call means for the request: retried or not, and when.
fn failure(status: &tonic::Status, report: &Report) -> Failure {
    let delay = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        // Only a server that says when it can take the request again is asked again.
        Code::ResourceExhausted => delay.is_some(),
        _ => false,
    };
    let retry = match (retryable, delay) {
        (false, _) => Retry::Never,
        (true, Some(delay)) => Retry::After(delay),
        (true, None) => Retry::Backoff,
    };
    let mut reason = format!("gRPC status {:?}", status.code());
    if !status.message().is_empty() {
        reason.push_str(": ");
        reason.push_str(&report.scrub(status.message()));
    }
    // A local transport error (refused connection, TLS) says what went wrong.
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        reason.push_str(": ");
        reason.push_str(&report.scrub(&e.to_string()));
        source = e.source();
    }
    Failure { retry, reason }
}

/// The gRPC codec of a request that is already protobuf: its bytes are written as they are,
/// and the answer's bytes are returned undecoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoded;

impl tonic::codec::Codec for Encoded {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Encoded;
    type Decoder = Encoded;

    fn encoder(&mut self) -> Self::Encoder {
        Encoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        Encoded
    }
}

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

impl tonic::codec::Decoder for Encoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, Self::Error> {
        let len = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, len)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_types::{ErrorDetails, StatusExt as _};

    use super::*;

    fn report() -> Report {
        crate::export::otlp::test_report(Signal::Traces, "sk-live-123").1
    }

    #[test]
    fn the_retryable_codes_are_retried_and_resource_exhausted_only_with_retry_info() {
        let report = report();
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            let f = failure(&tonic::Status::new(code, "busy"), &report);
            assert_eq!(f.retry, Retry::Backoff, "{code:?}");
        }
        for code in [
            Code::ResourceExhausted,
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Internal,
            Code::Unimplemented,
        ] {
            let f = failure(&tonic::Status::new(code, "no"), &report);
            assert_eq!(f.retry, Retry::Never, "{code:?}");
        }
        let delay = Duration::from_millis(1500);
        let details = ErrorDetails::with_retry_info(Some(delay));
        for code in [Code::ResourceExhausted, Code::Unavailable] {
            let status = tonic::Status::with_error_details(code, "slow down", details.clone());
            assert_eq!(failure(&status, &report).retry, Retry::After(delay));
        }
    }

    #[test]
    fn a_status_message_echoing_a_header_value_is_blanked() {
        let status = tonic::Status::unauthenticated("bad key sk-live-123");
        let f = failure(&status, &report());
        assert!(!f.reason.contains("sk-live-123"), "{}", f.reason);
        assert!(
            f.reason.contains("Unauthenticated: bad key <redacted>"),
            "{}",
            f.reason
        );
    }
}
