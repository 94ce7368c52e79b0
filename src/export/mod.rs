//! Span export: the batch processor and the exporters it drives.

mod console;
#[cfg(feature = "http-proto")]
mod http_client;
mod processor;
mod runtime;

pub use processor::ExportStats;
pub(crate) use processor::{BatchProcessor, Counters, WarnSink};

pub(crate) use console::ConsoleExporter;
pub(crate) use runtime::ExportRuntime;

use crate::config::{Compression, OtlpSignal, Protocol, TelemetryConfig};

/// What the export runtime needs to build an OTLP exporter of one signal.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(any(feature = "grpc", feature = "http-proto")),
    allow(dead_code, reason = "read by the transports")
)]
pub(crate) struct OtlpSettings {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) compression: Compression,
}

impl OtlpSettings {
    pub(crate) fn traces(config: &TelemetryConfig) -> Result<Self, crate::InitError> {
        Self::new("traces", &config.traces, config.traces_endpoint()?)
    }

    pub(crate) fn metrics(config: &TelemetryConfig) -> Result<Self, crate::InitError> {
        Self::new("metrics", &config.metrics, config.metrics_endpoint()?)
    }

    fn new(
        signal: &'static str,
        otlp: &OtlpSignal,
        endpoint: String,
    ) -> Result<Self, crate::InitError> {
        if endpoint.starts_with("https://") {
            return Err(crate::InitError::Exporter {
                signal,
                reason: format!(
                    "endpoint {endpoint} uses TLS, which this build does not include: use an \
                     http:// endpoint (an in-cluster collector), or for a schemeless gRPC \
                     endpoint set OTEL_EXPORTER_OTLP_INSECURE=true"
                ),
            });
        }
        Ok(Self {
            protocol: otlp.protocol,
            endpoint,
            headers: otlp.headers.clone(),
            timeout: otlp.timeout,
            compression: otlp.compression,
        })
    }

    pub(crate) fn missing_feature(&self) -> String {
        if cfg!(not(any(feature = "grpc", feature = "http-proto"))) {
            return "OTLP export needs the `grpc` or `http-proto` cargo feature of \
                    octollm-telemetry; enable one, or choose another exporter \
                    (OTEL_TRACES_EXPORTER=console|none, OTEL_METRICS_EXPORTER=prometheus|none)"
                .into();
        }
        match self.protocol {
            Protocol::Grpc => "OTLP/gRPC needs the `grpc` cargo feature of octollm-telemetry; enable it \
                               or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
                .into(),
            Protocol::HttpProtobuf => "OTLP/HTTP needs the `http-proto` cargo feature of \
                                       octollm-telemetry; enable it or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
                .into(),
        }
    }

    #[cfg(feature = "grpc")]
    fn metadata(&self) -> Result<opentelemetry_otlp::tonic_types::metadata::MetadataMap, String> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header {k:?}: {e}"))?;
            let value = http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?}: {e}"))?;
            headers.insert(name, value);
        }
        Ok(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers))
    }
}

#[cfg(any(feature = "grpc", feature = "http-proto"))]
/// Declares `build_spans` / `build_metrics`: the same builder calls for both signals.
macro_rules! otlp_builders {
    ($name:ident, $exporter:ty) => {
        impl OtlpSettings {
            /// Builds the exporter; must run on the export runtime.
            #[allow(unused_variables, unreachable_code)]
            pub(crate) fn $name(
                self,
                runtime: tokio::runtime::Handle,
            ) -> Result<$exporter, String> {
                match self.protocol {
                    #[cfg(feature = "grpc")]
                    Protocol::Grpc => {
                        use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
                        let mut builder = <$exporter>::builder()
                            .with_tonic()
                            .with_endpoint(self.endpoint.clone())
                            .with_timeout(self.timeout)
                            .with_metadata(self.metadata()?);
                        if self.compression == Compression::Gzip {
                            builder =
                                builder.with_compression(opentelemetry_otlp::Compression::Gzip);
                        }
                        builder.build().map_err(|e| e.to_string())
                    }
                    #[cfg(feature = "http-proto")]
                    Protocol::HttpProtobuf => {
                        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
                        let mut builder = <$exporter>::builder()
                            .with_http()
                            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                            .with_http_client(http_client::OnRuntime::new(runtime))
                            .with_endpoint(self.endpoint.clone())
                            .with_timeout(self.timeout)
                            .with_headers(self.headers.iter().cloned().collect());
                        if self.compression == Compression::Gzip {
                            builder =
                                builder.with_compression(opentelemetry_otlp::Compression::Gzip);
                        }
                        builder.build().map_err(|e| e.to_string())
                    }
                    #[allow(unreachable_patterns)]
                    _ => Err(self.missing_feature()),
                }
            }
        }
    };
}

#[cfg(any(feature = "grpc", feature = "http-proto"))]
otlp_builders!(build_spans, opentelemetry_otlp::SpanExporter);
#[cfg(any(feature = "grpc", feature = "http-proto"))]
otlp_builders!(build_metrics, opentelemetry_otlp::MetricExporter);

impl OtlpSettings {
    /// Builds the OTLP span exporter; must run on the export runtime.
    pub(crate) fn span_exporter(
        self,
        runtime: tokio::runtime::Handle,
    ) -> Result<AnyExporter, String> {
        #[cfg(any(feature = "grpc", feature = "http-proto"))]
        return self
            .build_spans(runtime)
            .map(|e| AnyExporter::Otlp(Box::new(e)));
        #[cfg(not(any(feature = "grpc", feature = "http-proto")))]
        {
            drop(runtime);
            Err(self.missing_feature())
        }
    }
}

/// The exporters the export thread can drive.
#[derive(Debug)]
pub(crate) enum AnyExporter {
    #[cfg(any(feature = "grpc", feature = "http-proto"))]
    Otlp(Box<opentelemetry_otlp::SpanExporter>),
    Console(ConsoleExporter),
}

/// Builds the exporter on the export thread.
pub(crate) type ExporterFactory = Box<dyn FnOnce() -> Result<AnyExporter, String> + Send + 'static>;

impl opentelemetry_sdk::trace::SpanExporter for AnyExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            #[cfg(any(feature = "grpc", feature = "http-proto"))]
            AnyExporter::Otlp(e) => e.export(batch).await,
            AnyExporter::Console(e) => e.export(batch).await,
        }
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            #[cfg(any(feature = "grpc", feature = "http-proto"))]
            AnyExporter::Otlp(e) => e.shutdown_with_timeout(timeout),
            AnyExporter::Console(e) => e.shutdown_with_timeout(timeout),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            #[cfg(any(feature = "grpc", feature = "http-proto"))]
            AnyExporter::Otlp(e) => e.set_resource(resource),
            AnyExporter::Console(e) => e.set_resource(resource),
        }
    }
}
