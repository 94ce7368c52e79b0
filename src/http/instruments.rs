//! The HTTP metric instruments (semantic-convention names, units and buckets).

use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry_semantic_conventions::metric as semconv;

use crate::metrics::{DURATION_BUCKETS, SCOPE};

#[derive(Clone, Debug)]
pub(crate) struct Instruments {
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
}

impl Instruments {
    pub(crate) fn server(provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        Self::server_from_meter(&provider.meter(SCOPE))
    }

    pub(crate) fn server_from_meter(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram(semconv::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(semconv::HTTP_SERVER_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests")
                .build(),
        }
    }
}

/// The client-side duration histogram.
pub(crate) fn client_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram(semconv::HTTP_CLIENT_REQUEST_DURATION)
        .with_unit("s")
        .with_description("Duration of HTTP client requests")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}
