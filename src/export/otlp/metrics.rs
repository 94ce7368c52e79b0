//! The OTLP metric exporter. The SDK's collected metrics become an OTLP request (the
//! conversion of `opentelemetry-proto`), the server duration histogram's points get the
//! exemplars recorded beside the SDK (which records none), and the encoded request goes out
//! through the crate's OTLP client ([`super::transport::Client`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::{KeyValue, Value};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, Exemplar as ProtoExemplar};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use tokio::runtime::Handle;

use super::report::Report;
use super::transport::Client;
use crate::config::OtlpSettings;
use crate::error::BoxError;
use crate::metrics::exemplars::Exemplars;

/// Pushes metrics to an OTLP collector.
pub(crate) struct MetricExporter {
    client: Client,
    runtime: Handle,
    shut_down: AtomicBool,
    exemplars: Option<Exemplars>,
}

impl std::fmt::Debug for MetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricExporter")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl MetricExporter {
    /// The exporter of `settings`, adding the exemplars of `exemplars`; must run on the export
    /// runtime (the gRPC channel is made there).
    pub(crate) fn new(
        settings: &OtlpSettings,
        runtime: Handle,
        report: Report,
        exemplars: Option<Exemplars>,
    ) -> Result<Self, BoxError> {
        Ok(Self {
            client: Client::new(settings, runtime.clone(), report)?,
            runtime,
            shut_down: AtomicBool::new(false),
            exemplars,
        })
    }
}

impl PushMetricExporter for MetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut request = ExportMetricsServiceRequest::from(metrics);
        if let Some(exemplars) = &self.exemplars {
            attach_exemplars(&mut request, exemplars);
        }
        let points = data_points(&request);
        let body = prost::Message::encode_to_vec(&request).into();
        let client = self.client.clone();
        // On the export runtime, whichever thread the reader calls from.
        self.runtime
            .spawn(async move { client.export(body, points).await })
            .await
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// How many data points `request` carries (what a partial success's `rejected_data_points`
/// counts).
fn data_points(request: &ExportMetricsServiceRequest) -> u64 {
    let points = |m: &opentelemetry_proto::tonic::metrics::v1::Metric| match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    };
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| points(m) as u64)
        .sum()
}

/// Adds to each point of the crate's server duration histogram and of its GenAI operation
/// duration the exemplars of its series recorded in `exemplars` within the point's window
/// (from its start to its collection).
fn attach_exemplars(request: &mut ExportMetricsServiceRequest, exemplars: &Exemplars) {
    use crate::genai::names as genai;
    use opentelemetry_semantic_conventions::metric::{
        HTTP_SERVER_REQUEST_DURATION, RPC_CLIENT_CALL_DURATION, RPC_SERVER_CALL_DURATION,
    };
    let ours = request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| r.scope_metrics.iter_mut())
        .filter(|s| {
            s.scope
                .as_ref()
                .is_some_and(|s| s.name == crate::shared::SCOPE || s.name == genai::SCOPE)
        });
    for scope in ours {
        for m in &mut scope.metrics {
            let Some(metric::Data::Histogram(histogram)) = &mut m.data else {
                continue;
            };
            if ![
                HTTP_SERVER_REQUEST_DURATION,
                genai::CLIENT_OPERATION_DURATION,
                RPC_SERVER_CALL_DURATION,
                RPC_CLIENT_CALL_DURATION,
            ]
            .contains(&m.name.as_str())
            {
                continue;
            }
            for point in &mut histogram.data_points {
                let attributes: Vec<KeyValue> =
                    point.attributes.iter().filter_map(key_value).collect();
                let Some(slots) = exemplars.of_attributes(&attributes) else {
                    continue;
                };
                let window = point.start_time_unix_nano..=point.time_unix_nano;
                point.exemplars.extend(
                    slots
                        .iter()
                        .flatten()
                        .filter(|e| window.contains(&e.time_unix_nano))
                        .map(|e| ProtoExemplar {
                            filtered_attributes: Vec::new(),
                            time_unix_nano: e.time_unix_nano,
                            span_id: e.span_id.to_vec(),
                            trace_id: e.trace_id.to_vec(),
                            value: Some(exemplar::Value::AsDouble(e.value)),
                        }),
                );
            }
        }
    }
}

fn key_value(kv: &ProtoKeyValue) -> Option<KeyValue> {
    let value = match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::from(s.clone()),
        any_value::Value::IntValue(n) => Value::I64(*n),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::DoubleValue(d) => Value::F64(*d),
        _ => return None,
    };
    Some(KeyValue::new(kv.key.clone(), value))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    };

    use super::*;

    fn string(key: &str, value: &str) -> ProtoKeyValue {
        ProtoKeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(
        scope: &str,
        name: &str,
        route: &str,
        window: (u64, u64),
    ) -> ExportMetricsServiceRequest {
        let point = HistogramDataPoint {
            attributes: vec![
                string("http.request.method", "GET"),
                ProtoKeyValue {
                    key: "http.response.status_code".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(200)),
                    }),
                    ..Default::default()
                },
                string("http.route", route),
            ],
            start_time_unix_nano: window.0,
            time_unix_nano: window.1,
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        ..Default::default()
                    }),
                    metrics: vec![Metric {
                        name: name.into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![point],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                ..Default::default()
            }],
        }
    }

    fn exemplars_of(request: &ExportMetricsServiceRequest) -> Vec<ProtoExemplar> {
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metric::Data::Histogram(h)) = &metric.data else {
            unreachable!("built as a histogram")
        };
        h.data_points[0].exemplars.clone()
    }

    fn record(exemplars: &Exemplars, route: &str, value: f64) -> SpanContext {
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let attributes = [
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.route", route.to_owned()),
        ];
        exemplars.record(&attributes, value, &sc);
        sc
    }

    const DURATION: &str = "http.server.request.duration";

    #[test]
    fn a_point_gets_the_exemplars_of_its_series_recorded_in_its_window() {
        let exemplars = Exemplars::new();
        let sc = record(&exemplars, "/unit/window", 0.02);
        let mut now = request(
            crate::shared::SCOPE,
            DURATION,
            "/unit/window",
            (0, u64::MAX),
        );
        attach_exemplars(&mut now, &exemplars);
        let got = exemplars_of(&now);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].trace_id, sc.trace_id().to_bytes().to_vec());
        assert_eq!(got[0].span_id, sc.span_id().to_bytes().to_vec());
        assert_eq!(got[0].value, Some(exemplar::Value::AsDouble(0.02)));

        // A point collected before the request was recorded does not carry it.
        let mut before = request(crate::shared::SCOPE, DURATION, "/unit/window", (0, 1));
        attach_exemplars(&mut before, &exemplars);
        assert!(exemplars_of(&before).is_empty());
    }

    #[test]
    fn the_genai_operation_duration_of_its_scope_gets_its_exemplars_too() {
        use crate::genai::names;
        let exemplars = Exemplars::new();
        let sc = record(&exemplars, "/unit/genai", 0.3);
        let mut genai = request(
            names::SCOPE,
            names::CLIENT_OPERATION_DURATION,
            "/unit/genai",
            (0, u64::MAX),
        );
        attach_exemplars(&mut genai, &exemplars);
        let got = exemplars_of(&genai);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].trace_id, sc.trace_id().to_bytes().to_vec());
        // Not the token histogram of the same scope.
        let mut tokens = request(
            names::SCOPE,
            names::CLIENT_TOKEN_USAGE,
            "/unit/genai",
            (0, u64::MAX),
        );
        attach_exemplars(&mut tokens, &exemplars);
        assert!(exemplars_of(&tokens).is_empty());
    }

    #[test]
    fn other_series_scopes_and_instruments_get_none() {
        let exemplars = Exemplars::new();
        record(&exemplars, "/unit/other", 0.5);
        for mut r in [
            request(
                crate::shared::SCOPE,
                DURATION,
                "/unit/elsewhere",
                (0, u64::MAX),
            ),
            request("an-app", DURATION, "/unit/other", (0, u64::MAX)),
            request(
                crate::shared::SCOPE,
                "http.client.request.duration",
                "/unit/other",
                (0, u64::MAX),
            ),
        ] {
            attach_exemplars(&mut r, &exemplars);
            assert!(exemplars_of(&r).is_empty());
        }
    }

    #[test]
    fn a_point_gets_only_its_own_pipelines_exemplars() {
        let ours = Exemplars::new();
        record(&Exemplars::new(), "/unit/theirs", 0.02);
        let mut r = request(
            crate::shared::SCOPE,
            DURATION,
            "/unit/theirs",
            (0, u64::MAX),
        );
        attach_exemplars(&mut r, &ours);
        assert!(exemplars_of(&r).is_empty());
    }
}
