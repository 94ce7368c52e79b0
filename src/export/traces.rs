//! The trace pipeline: sampler, resource and the crate's batch processor on the export
//! runtime.

use std::sync::Arc;

use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use super::console::ConsoleExporter;
use super::exporter::{AnyExporter, ExporterFactory};
use super::processor::{BatchProcessor, ExportContext};
use super::runtime::ExportRuntime;
use crate::config::{TracesExport, TracesPlan};
use crate::error::InitError;
use crate::user_exporter::UserExporter;

/// The tracer provider, and the view of its remote sampler when it has one.
pub(crate) struct Traces {
    pub(crate) provider: SdkTracerProvider,
    #[cfg(feature = "jaeger-remote")]
    pub(crate) remote_sampling: Option<super::sampling::RemoteSampling>,
}

/// Builds the tracer provider. With no exporter, spans are still created (and their ids
/// logged and propagated) but not exported.
pub(crate) fn provider(
    plan: &TracesPlan,
    ctx: &ExportContext<'_>,
    user: Option<UserExporter>,
) -> Result<Traces, InitError> {
    let (builder, remote_sampling) = with_sampler(
        SdkTracerProvider::builder(),
        plan,
        ctx.resource,
        ctx.runtime,
    );
    let builder = builder.with_resource(ctx.resource.clone());
    let traces = |provider| Traces {
        provider,
        #[cfg(feature = "jaeger-remote")]
        remote_sampling,
    };
    #[cfg(not(feature = "jaeger-remote"))]
    let () = remote_sampling;
    let make: ExporterFactory = match &plan.export {
        TracesExport::None => return Ok(traces(builder.build())),
        TracesExport::Console => Box::new(|| Ok(AnyExporter::Console(ConsoleExporter::default()))),
        TracesExport::Custom => {
            // The plan is `Custom` only when code gave an exporter.
            let user = user.ok_or_else(|| {
                InitError::exporter(crate::error::Signal::Traces, "no span exporter was given")
            })?;
            Box::new(move || Ok(AnyExporter::User(user)))
        }
        TracesExport::Otlp(settings) => {
            let settings = settings.clone();
            let handle = ctx.runtime.handle().clone();
            let rejecter = ctx.counters.rejecter(crate::error::Signal::Traces);
            let warn_sink = Arc::clone(ctx.warn_sink);
            Box::new(move || AnyExporter::otlp(&settings, handle, rejecter, warn_sink))
        }
    };
    let processor = BatchProcessor::spawn(ctx, make, plan.batch)?;
    Ok(traces(builder.with_span_processor(processor).build()))
}

#[cfg(feature = "jaeger-remote")]
type RemoteView = Option<super::sampling::RemoteSampling>;
#[cfg(not(feature = "jaeger-remote"))]
type RemoteView = ();

/// The plan's sampler on `builder`: the SDK's for the fixed samplers, the crate's remote
/// sampler (started on the export runtime, for the resource's `service.name`) otherwise.
fn with_sampler(
    builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    plan: &TracesPlan,
    resource: &Resource,
    runtime: &ExportRuntime,
) -> (opentelemetry_sdk::trace::TracerProviderBuilder, RemoteView) {
    if let Some(sampler) = plan.sampler.to_sdk() {
        #[cfg(feature = "jaeger-remote")]
        return (builder.with_sampler(sampler), None);
        #[cfg(not(feature = "jaeger-remote"))]
        return (builder.with_sampler(sampler), ());
    }
    #[cfg(feature = "jaeger-remote")]
    {
        use crate::config::Sampler;
        let service = resource
            .get(&opentelemetry::Key::from_static_str(
                opentelemetry_semantic_conventions::resource::SERVICE_NAME,
            ))
            .map(|v| v.as_str().into_owned())
            .unwrap_or_default();
        let (remote, parent_based) = match &plan.sampler {
            Sampler::JaegerRemote(remote) => (remote, false),
            Sampler::ParentBasedJaegerRemote(remote) => (remote, true),
            // `to_sdk` gives every other sampler.
            _ => unreachable!("a fixed sampler has an SDK sampler"),
        };
        let (sampler, view) = super::sampling::start(remote, &service, runtime.handle());
        let builder = if parent_based {
            builder.with_sampler(opentelemetry_sdk::trace::Sampler::parent_based(sampler))
        } else {
            builder.with_sampler(sampler)
        };
        (builder, Some(view))
    }
    #[cfg(not(feature = "jaeger-remote"))]
    {
        // Resolution refuses a remote sampler in a build without the feature.
        let _ = (resource, runtime);
        (builder, ())
    }
}
