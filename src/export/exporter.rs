//! The exporters the export thread drives: OTLP or the console.

use super::console::ConsoleExporter;
use crate::config::OtlpSettings;
use crate::error::BoxError;
use crate::user_exporter::UserExporter;

/// The exporters the export thread can drive.
#[derive(Debug)]
pub(crate) enum AnyExporter {
    #[cfg(feature = "_otlp")]
    Otlp(Box<super::otlp::spans::SpanExporter>),
    Console(ConsoleExporter),
    User(UserExporter),
}

impl AnyExporter {
    /// The OTLP span exporter of `settings`; must run on the export runtime.
    #[cfg_attr(
        not(feature = "_otlp"),
        allow(clippy::needless_pass_by_value, reason = "the transports take it")
    )]
    pub(crate) fn otlp(
        settings: &OtlpSettings,
        runtime: tokio::runtime::Handle,
        rejecter: std::sync::Arc<dyn Fn(u64) -> u64 + Send + Sync>,
        warn_sink: std::sync::Arc<std::sync::OnceLock<tracing::dispatcher::WeakDispatch>>,
    ) -> Result<Self, BoxError> {
        #[cfg(feature = "_otlp")]
        {
            let report = super::otlp::Report::new(
                crate::error::Signal::Traces,
                settings,
                rejecter,
                warn_sink,
            );
            super::otlp::spans::SpanExporter::new(settings, runtime, report)
                .map(|e| AnyExporter::Otlp(Box::new(e)))
        }
        #[cfg(not(feature = "_otlp"))]
        {
            drop((runtime, rejecter, warn_sink));
            Err(super::otlp::missing_feature(settings))
        }
    }
}

/// Builds the exporter on the export thread.
pub(crate) type ExporterFactory =
    Box<dyn FnOnce() -> Result<AnyExporter, BoxError> + Send + 'static>;

impl opentelemetry_sdk::trace::SpanExporter for AnyExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            #[cfg(feature = "_otlp")]
            AnyExporter::Otlp(e) => e.export(batch).await,
            AnyExporter::Console(e) => e.export(batch).await,
            AnyExporter::User(e) => e.export(batch).await,
        }
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            #[cfg(feature = "_otlp")]
            AnyExporter::Otlp(e) => e.shutdown_with_timeout(timeout),
            AnyExporter::Console(e) => e.shutdown_with_timeout(timeout),
            AnyExporter::User(e) => e.shutdown_with_timeout(timeout),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            #[cfg(feature = "_otlp")]
            AnyExporter::Otlp(e) => e.set_resource(resource),
            AnyExporter::Console(e) => e.set_resource(resource),
            AnyExporter::User(e) => e.set_resource(resource),
        }
    }
}
