//! One export request of any signal, over the plan's protocol: encoded once, sent with the
//! retry policy of `retry.rs`, its answer decoded for a partial success.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::report::Report;
use super::retry::retrying;
use crate::config::{OtlpSettings, Protocol};
use crate::error::{BoxError, Signal};

/// Where and how the encoded requests of one signal are sent, and what is told about the
/// answers.
#[derive(Clone)]
pub(crate) struct Client {
    transport: Transport,
    timeout: Duration,
    report: Report,
}

#[derive(Clone)]
enum Transport {
    #[cfg(feature = "grpc")]
    Grpc(Box<super::grpc::GrpcTransport>),
    #[cfg(feature = "http-proto")]
    Http(Box<super::http::HttpTransport>),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("signal", &self.report.signal())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The client of `settings`; a gRPC one must be made on the export runtime (its channel
    /// is made there).
    #[cfg_attr(
        not(feature = "http-proto"),
        allow(
            unused_variables,
            clippy::needless_pass_by_value,
            reason = "only the HTTP client takes the runtime"
        )
    )]
    pub(crate) fn new(
        settings: &OtlpSettings,
        runtime: Handle,
        report: Report,
    ) -> Result<Self, BoxError> {
        let transport = match settings.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => Transport::Grpc(Box::new(super::grpc::GrpcTransport::new(
                settings,
                report.signal(),
            )?)),
            #[cfg(feature = "http-proto")]
            Protocol::HttpProtobuf => Transport::Http(Box::new(super::http::HttpTransport::new(
                settings, runtime,
            )?)),
            #[allow(unreachable_patterns)]
            _ => return Err(super::common::missing_feature(settings)),
        };
        Ok(Self {
            transport,
            timeout: settings.timeout,
            report,
        })
    }

    /// Sends `body`, the encoded export request of `items` items, repeating retryable failures
    /// within the export timeout; a partial success in the answer is counted and warned about
    /// through the [`Report`].
    pub(crate) async fn export(&self, body: Bytes, items: u64) -> OTelSdkResult {
        let answer = self.send(body).await?;
        if let Some((rejected, message)) = partial_success(self.report.signal(), &answer) {
            self.report.rejected(rejected, items, &message);
        }
        Ok(())
    }

    async fn send(&self, body: Bytes) -> Result<Bytes, OTelSdkError> {
        let signal = self.report.signal();
        let deadline = Instant::now() + self.timeout;
        let report = &self.report;
        let result = match &self.transport {
            #[cfg(feature = "grpc")]
            Transport::Grpc(grpc) => {
                retrying(signal, deadline, || {
                    let grpc = grpc.clone();
                    let body = body.clone();
                    async move { grpc.export(body, report).await }
                })
                .await
            }
            #[cfg(feature = "http-proto")]
            Transport::Http(http) => {
                let body = http.compress(body)?;
                retrying(signal, deadline, || http.export(body.clone(), report)).await
            }
        };
        result
    }
}

/// The `partial_success` of an export answer: how many items the collector rejected and its
/// message. An empty or unreadable answer is a full success.
fn partial_success(signal: Signal, answer: &[u8]) -> Option<(i64, String)> {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    use prost::Message as _;
    if answer.is_empty() {
        return None;
    }
    match signal {
        Signal::Traces => trace::v1::ExportTraceServiceResponse::decode(answer)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Metrics => metrics::v1::ExportMetricsServiceResponse::decode(answer)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => logs::v1::ExportLogsServiceResponse::decode(answer)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_partial_success_is_read_and_an_empty_answer_is_a_full_success() {
        let answer = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 7,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success(Signal::Traces, &answer),
            Some((7, "too old".to_string()))
        );
        assert_eq!(partial_success(Signal::Traces, &[]), None);
        assert_eq!(
            partial_success(
                Signal::Traces,
                &ExportTraceServiceResponse::default().encode_to_vec()
            ),
            None
        );
    }
}
