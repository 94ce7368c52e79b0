//! What both gRPC layers take: providers and propagator (else `init`'s), the known methods.

use std::sync::Arc;

use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::grpc::names;
use crate::installed;
use crate::propagation::SharedPropagator;

/// The layers' settings.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) tracer: Option<SdkTracer>,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) propagator: Option<SharedPropagator>,
    pub(crate) known: Option<Arc<[String]>>,
    /// The request metadata keys copied to the span (never a credential's).
    pub(crate) metadata: Arc<[http::HeaderName]>,
    /// The exemplar store given in code (`Some(None)`: none); else the one `init` installed.
    #[allow(
        clippy::option_option,
        reason = "not given, given as none, given a store"
    )]
    pub(crate) exemplars: Option<Option<crate::metrics::Exemplars>>,
}

impl Settings {
    pub(crate) fn tracer(&self) -> SdkTracer {
        self.tracer
            .clone()
            .or_else(installed::tracer)
            .unwrap_or_else(installed::noop_tracer)
    }

    /// The exemplar store: the one given, else `init`'s when the meter is `init`'s too.
    pub(crate) fn exemplars(&self) -> Option<crate::metrics::Exemplars> {
        match &self.exemplars {
            Some(given) => given.clone(),
            None if self.meter_provider.is_none() => installed::exemplars(),
            None => None,
        }
    }

    /// `rpc.request.metadata.<key>` of the allowed keys `headers` has.
    pub(crate) fn metadata_attributes(
        &self,
        headers: &http::HeaderMap,
    ) -> Vec<opentelemetry::KeyValue> {
        self.metadata
            .iter()
            .filter_map(|key| {
                let values: Vec<opentelemetry::StringValue> = headers
                    .get_all(key)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(|v| v.to_owned().into())
                    .collect();
                (!values.is_empty()).then(|| {
                    opentelemetry::KeyValue::new(
                        format!("{}{}", names::REQUEST_METADATA_PREFIX, key.as_str()),
                        opentelemetry::Value::Array(values.into()),
                    )
                })
            })
            .collect()
    }

    pub(crate) fn propagator(&self) -> SharedPropagator {
        self.propagator
            .clone()
            .unwrap_or_else(installed::propagator)
    }

    pub(crate) fn duration(
        &self,
        name: &'static str,
        description: &'static str,
    ) -> Option<Histogram<f64>> {
        let meter = match &self.meter_provider {
            Some(provider) => provider.meter(crate::shared::SCOPE),
            None => installed::meter()?,
        };
        Some(
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(names::DURATION_BUCKETS.to_vec())
                .build(),
        )
    }

    /// `rpc.method` of a request path `/pkg.Service/Method`, and the original when it is not
    /// a known method (`_OTHER`); `None` for a path that is no gRPC method.
    pub(crate) fn method(&self, path: &str) -> Option<(String, Option<String>)> {
        let method = path.strip_prefix('/')?;
        let (service, name) = method.split_once('/')?;
        if service.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        match &self.known {
            Some(known) if !known.iter().any(|k| k == method) => {
                Some((names::OTHER.to_owned(), Some(method.to_owned())))
            }
            _ => Some((method.to_owned(), None)),
        }
    }

    pub(crate) fn with_providers(
        mut self,
        tracer_provider: &SdkTracerProvider,
        meter_provider: &SdkMeterProvider,
    ) -> Self {
        self.tracer = Some(installed::scoped_tracer(tracer_provider));
        self.meter_provider = Some(meter_provider.clone());
        self
    }
}
