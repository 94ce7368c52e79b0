//! gRPC (tonic) server and client layers: a span and the RPC duration metric per call, on
//! the RPC semantic conventions of v1.44.0 (a release candidate; every name is in [`names`]),
//! and W3C trace context and baggage through the call's metadata.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Server: one line.
//! let server = tonic::transport::Server::builder().layer(octollm_telemetry::grpc::layer());
//! // Client: one line over the channel.
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
//!     .connect()
//!     .await?;
//! let channel = tower::ServiceBuilder::new()
//!     .layer(octollm_telemetry::grpc::client_layer().server("127.0.0.1", 50051))
//!     .service(channel);
//! # let _ = (server, channel); Ok(()) }
//! ```
//!
//! The status is read where gRPC puts it: in the response headers of a trailers-only answer
//! (an error before any message), else in the trailers that end the response body. So the
//! span and the duration cover the whole call, a stream included, and end when the body
//! ends; a body dropped before its end (the caller gave up on a stream, a deadline) ends the
//! call as `CANCELLED`. The server span is ERROR only for the server-fault codes (`UNKNOWN`,
//! `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`); the client
//! span for every code but `OK`.
//!
//! Metadata is not copied to the span unless listed with `.metadata([..])`, and never a
//! credential. `grpc.health.v1.Health` calls get no span and no
//! metric, as the HTTP layer's probes. As with the HTTP layer, the server keeps the call's
//! `x-request-id` (or a new UUID) for the log lines written while it is handled, and the client
//! forwards the id of the request being handled.

mod call;
pub mod names;
mod settings;

use std::sync::Arc;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use settings::Settings;

pub use call::{ClientService, ServerService, TracedBody};

/// The server layer, with what `init_telemetry` installed: for
/// `tonic::transport::Server::builder().layer(..)`.
#[must_use]
pub fn layer() -> GrpcLayer {
    GrpcLayer {
        settings: Settings::default(),
    }
}

/// The client layer, with what `init_telemetry` installed: for a `Channel` wrapped with
/// `tower::ServiceBuilder`.
#[must_use]
pub fn client_layer() -> GrpcClientLayer {
    GrpcClientLayer {
        settings: Settings::default(),
        server: None,
    }
}

macro_rules! builder_methods {
    () => {
        /// Spans and the duration metric on these providers instead of `init`'s (for example
        /// a [`Telemetry`](crate::Telemetry)'s).
        #[must_use]
        pub fn providers(
            mut self,
            tracer_provider: &SdkTracerProvider,
            meter_provider: &SdkMeterProvider,
        ) -> Self {
            self.settings = self
                .settings
                .with_providers(tracer_provider, meter_provider);
            self
        }

        /// Exemplars of the duration histogram (the last sampled call per series and bucket)
        /// kept in this store (a pipeline's, [`Telemetry::exemplars`](crate::Telemetry::exemplars)),
        /// or none; by default `init`'s when the meter is `init`'s.
        #[must_use]
        pub fn exemplars(mut self, store: Option<crate::metrics::Exemplars>) -> Self {
            self.settings.exemplars = Some(store);
            self
        }

        /// Trace context read and written with this propagator instead of `init`'s.
        #[must_use]
        pub fn propagator(
            mut self,
            propagator: impl Into<Arc<dyn TextMapPropagator + Send + Sync>>,
        ) -> Self {
            self.settings.propagator = Some(propagator.into());
            self
        }

        /// Request metadata copied to the span as `rpc.request.metadata.<key>` (string
        /// arrays): none by default. Keys are matched without case; credentials
        /// ([`names::NEVER_COPIED`]: `authorization`, `cookie`, …) and keys that are not valid
        /// metadata names are left out whatever the list says.
        #[must_use]
        pub fn metadata<I, K>(mut self, keys: I) -> Self
        where
            I: IntoIterator<Item = K>,
            K: AsRef<str>,
        {
            self.settings.metadata = keys
                .into_iter()
                .filter_map(|k| {
                    http::HeaderName::from_bytes(k.as_ref().to_ascii_lowercase().as_bytes()).ok()
                })
                .filter(|k| !names::NEVER_COPIED.contains(&k.as_str()))
                .collect();
            self
        }

        /// The methods (`pkg.Service/Method`) reported by name; any other is `_OTHER`, with
        /// `rpc.method_original` on the span. By default every well-formed method is known
        /// except on a call answered `UNIMPLEMENTED`, which reports `_OTHER`, so that
        /// made-up paths cannot add series.
        #[must_use]
        pub fn known_methods<I, M>(mut self, methods: I) -> Self
        where
            I: IntoIterator<Item = M>,
            M: Into<String>,
        {
            self.settings.known = Some(methods.into_iter().map(Into::into).collect());
            self
        }
    };
}

/// The gRPC server layer: see [`layer`].
#[derive(Clone)]
pub struct GrpcLayer {
    settings: Settings,
}

impl GrpcLayer {
    builder_methods!();
}

impl std::fmt::Debug for GrpcLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcLayer").finish_non_exhaustive()
    }
}

impl<S> tower_layer::Layer<S> for GrpcLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService::new(inner, &self.settings)
    }
}

/// The gRPC client layer: see [`client_layer`].
#[derive(Clone)]
pub struct GrpcClientLayer {
    settings: Settings,
    server: Option<(String, u16)>,
}

impl GrpcClientLayer {
    builder_methods!();

    /// `server.address` and `server.port` of the channel's endpoint (required by the
    /// conventions). Requests through a tonic `Channel` carry only the method's path, so give
    /// the endpoint's host and port here; a request URI with a host wins.
    #[must_use]
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.server = Some((address.into(), port));
        self
    }
}

impl std::fmt::Debug for GrpcClientLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientLayer").finish_non_exhaustive()
    }
}

impl<S> tower_layer::Layer<S> for GrpcClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService::new(inner, &self.settings, self.server.clone())
    }
}

#[cfg(test)]
mod tests;
