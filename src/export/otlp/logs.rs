//! The OTLP log record exporter: a batch becomes one export request (the conversion of
//! `opentelemetry-proto`, records grouped by instrumentation scope under the pipeline's
//! resource), sent through the crate's OTLP client ([`super::transport::Client`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::LogBatch;
use opentelemetry_sdk::Resource;

use super::report::Report;
use super::transport::Client;
use crate::config::OtlpSettings;
use crate::error::BoxError;

/// Sends log records to an OTLP collector; driven by the crate's batch processor on the export
/// runtime.
pub(crate) struct LogExporter {
    client: Client,
    resource: ResourceAttributesWithSchema,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for LogExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogExporter")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl LogExporter {
    /// The exporter of `settings`; must run on the export runtime (the gRPC channel is made
    /// there).
    pub(crate) fn new(
        settings: &OtlpSettings,
        runtime: tokio::runtime::Handle,
        report: Report,
    ) -> Result<Self, BoxError> {
        Ok(Self {
            client: Client::new(settings, runtime, report)?,
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
            shut_down: AtomicBool::new(false),
        })
    }

    /// The encoded export request of `batch`, and how many records it carries.
    fn encode(&self, batch: &LogBatch<'_>) -> (Vec<u8>, u64) {
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(batch, &self.resource),
        };
        let records = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len() as u64)
            .sum();
        (prost::Message::encode_to_vec(&request), records)
    }
}

impl opentelemetry_sdk::logs::LogExporter for LogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let (body, records) = self.encode(&batch);
        self.client.export(body.into(), records).await
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
    }
}
