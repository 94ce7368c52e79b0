//! The OTLP log exporter, and the parts every OTLP exporter of the crate shares: the checked
//! headers and the TLS channel, built from the plan's [`OtlpSettings`] on the export runtime.

#[cfg(any(feature = "grpc", feature = "http-proto"))]
use crate::config::Compression;
use crate::config::{OtlpSettings, Protocol};
use crate::error::BoxError;

#[cfg(feature = "http-proto")]
mod http_client;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) mod metrics;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) mod spans;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
mod transport;

/// The gRPC channel of an `https://` endpoint: tonic over rustls with the plan's trust and
/// client certificate. (A plain endpoint gets the exporter's own channel.)
#[cfg(all(feature = "grpc", feature = "tls"))]
pub(crate) fn tls_channel(
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
        .tls_config(tls)?
        .timeout(settings.timeout)
        .connect_lazy())
}

/// Why OTLP export cannot work in this build, when a transport feature is missing.
pub(crate) fn missing_feature(settings: &OtlpSettings) -> BoxError {
    if cfg!(not(any(feature = "grpc", feature = "http-proto"))) {
        return "OTLP export needs the `grpc` or `http-proto` cargo feature of \
                octollm-telemetry; enable one, or choose another exporter \
                (OTEL_TRACES_EXPORTER=console|none, OTEL_METRICS_EXPORTER=prometheus|none)"
            .into();
    }
    match settings.protocol {
        Protocol::Grpc => "OTLP/gRPC needs the `grpc` cargo feature of octollm-telemetry; enable \
                           it or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
            .into(),
        Protocol::HttpProtobuf => "OTLP/HTTP needs the `http-proto` cargo feature of \
                                   octollm-telemetry; enable it or set \
                                   OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
            .into(),
    }
}

/// The headers of `OTEL_EXPORTER_OTLP_*HEADERS` (or code), checked.
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) fn header_map(settings: &OtlpSettings) -> Result<http::HeaderMap, BoxError> {
    let mut headers = http::HeaderMap::new();
    for (k, v) in settings.headers.iter() {
        let name = http::HeaderName::from_bytes(k.as_bytes())?;
        let value = http::HeaderValue::from_str(v)?;
        headers.insert(name, value);
    }
    Ok(headers)
}

#[cfg(feature = "grpc")]
pub(crate) fn metadata(
    settings: &OtlpSettings,
) -> Result<opentelemetry_otlp::tonic_types::metadata::MetadataMap, BoxError> {
    Ok(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(header_map(settings)?))
}

/// The OTLP log exporter of `settings` (`opentelemetry-otlp`'s); must be built on the export
/// runtime.
#[cfg(any(feature = "grpc", feature = "http-proto"))]
#[cfg_attr(
    not(feature = "http-proto"),
    allow(
        unused_variables,
        clippy::needless_pass_by_value,
        reason = "only the HTTP client takes the runtime"
    )
)]
pub(crate) fn logs(
    settings: &OtlpSettings,
    runtime: tokio::runtime::Handle,
) -> Result<opentelemetry_otlp::LogExporter, BoxError> {
    use opentelemetry_otlp::LogExporter;
    match settings.protocol {
        #[cfg(feature = "grpc")]
        Protocol::Grpc => {
            use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
            let mut builder = LogExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(metadata(settings)?);
            if settings.compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            #[cfg(feature = "tls")]
            if let Some(files) = &settings.tls {
                builder = builder.with_channel(tls_channel(settings, files)?);
            }
            Ok(builder.build()?)
        }
        #[cfg(feature = "http-proto")]
        Protocol::HttpProtobuf => {
            use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
            let mut builder = LogExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_http_client(http_client::OnRuntime::new(
                    runtime,
                    settings.timeout,
                    settings.tls.as_deref(),
                )?)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.0.iter().cloned().collect());
            if settings.compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            Ok(builder.build()?)
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing_feature(settings)),
    }
}
