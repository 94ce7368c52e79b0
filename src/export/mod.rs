//! Span export: the batch processor and the exporters it drives.

mod console;
mod processor;

pub use processor::ExportStats;
pub(crate) use processor::{BatchProcessor, Counters, WarnSink};

pub(crate) use console::ConsoleExporter;

use crate::config::{Compression, Protocol, TelemetryConfig};

/// What the export thread needs to build the OTLP exporter (it is built there, inside the
/// thread's own Tokio runtime).
#[derive(Debug, Clone)]
pub(crate) struct OtlpSettings {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) compression: Compression,
}

impl OtlpSettings {
    pub(crate) fn from_config(config: &TelemetryConfig) -> Result<Self, crate::InitError> {
        let endpoint = config.traces_endpoint()?;
        if endpoint.starts_with("https://") {
            return Err(crate::InitError::Exporter {
                signal: "traces",
                reason: format!(
                    "endpoint {endpoint} uses TLS, which this build does not include: use an \
                     http:// endpoint (an in-cluster collector), or for a schemeless gRPC \
                     endpoint set OTEL_EXPORTER_OTLP_INSECURE=true"
                ),
            });
        }
        Ok(Self {
            protocol: config.protocol,
            endpoint,
            headers: config.headers.clone(),
            timeout: config.timeout,
            compression: config.compression,
        })
    }

    /// Builds the exporter; must run inside a Tokio runtime.
    pub(crate) fn build(self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        match self.protocol {
            Protocol::Grpc => self.build_grpc(),
            Protocol::HttpProtobuf => self.build_http(),
        }
    }

    #[cfg(feature = "grpc")]
    fn build_grpc(self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
        use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header {k:?}: {e}"))?;
            let value = http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?}: {e}"))?;
            headers.insert(name, value);
        }
        let metadata = MetadataMap::from_headers(headers);
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(self.endpoint)
            .with_timeout(self.timeout)
            .with_metadata(metadata);
        if self.compression == Compression::Gzip {
            builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        builder.build().map_err(|e| e.to_string())
    }

    #[cfg(not(feature = "grpc"))]
    fn build_grpc(self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        Err(
            "OTLP/gRPC needs the `grpc` cargo feature of octollm-telemetry; enable it or set \
             OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
                .into(),
        )
    }

    #[cfg(feature = "http-proto")]
    fn build_http(self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(reqwest::Client::new())
            .with_endpoint(self.endpoint)
            .with_timeout(self.timeout)
            .with_headers(self.headers.into_iter().collect());
        if self.compression == Compression::Gzip {
            builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        builder.build().map_err(|e| e.to_string())
    }

    #[cfg(not(feature = "http-proto"))]
    fn build_http(self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        Err(
            "OTLP/HTTP needs the `http-proto` cargo feature of octollm-telemetry; enable it or \
             set OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
                .into(),
        )
    }
}

/// The exporters the export thread can drive.
#[derive(Debug)]
pub(crate) enum AnyExporter {
    Otlp(Box<opentelemetry_otlp::SpanExporter>),
    Console(ConsoleExporter),
}

/// Builds the exporter on the export thread.
pub(crate) type ExporterFactory = Box<dyn FnOnce() -> Result<AnyExporter, String> + Send>;

impl opentelemetry_sdk::trace::SpanExporter for AnyExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            AnyExporter::Otlp(e) => e.export(batch).await,
            AnyExporter::Console(e) => e.export(batch).await,
        }
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            AnyExporter::Otlp(e) => e.shutdown_with_timeout(timeout),
            AnyExporter::Console(e) => e.shutdown_with_timeout(timeout),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            AnyExporter::Otlp(e) => e.set_resource(resource),
            AnyExporter::Console(e) => e.set_resource(resource),
        }
    }
}
