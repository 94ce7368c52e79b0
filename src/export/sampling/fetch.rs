//! Fetching the strategy: Jaeger's gRPC `SamplingManager.GetSamplingStrategy` for an endpoint
//! without a path, `GET <endpoint>?service=<name>` (JSON) for one with a path, once at start
//! and then every polling interval, on the export runtime.
//!
//! A fetch that gets no answer, an error status, or an answer no sampler can follow counts as
//! a failure and leaves the strategy in force; the first failure after a success, and the
//! first success after failures, are logged (never more than one line per change).

use std::time::Duration;

use super::strategy::Fetched;
use crate::config::JaegerRemote;

/// The longest a fetch may take (shorter when the polling interval is).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the polling task; `report` is told each fetch's strategy, or `None` for a failed
/// fetch.
pub(super) fn spawn(
    runtime: &tokio::runtime::Handle,
    remote: &JaegerRemote,
    service: &str,
    report: impl Fn(Option<&Fetched>) + Send + 'static,
) {
    let interval = remote.polling_interval;
    let timeout = FETCH_TIMEOUT.min(interval);
    let endpoint = remote.endpoint.clone();
    let grpc = remote.uses_grpc();
    let service = service.to_owned();
    runtime.spawn(async move {
        let mut client = Client::new(&endpoint, grpc, &service, timeout);
        let mut failing = false;
        loop {
            let result = match client.as_mut() {
                Ok(client) => tokio::time::timeout(timeout, client.fetch())
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}"))),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(fetched) => {
                    report(Some(&fetched));
                    if failing {
                        tracing::info!(
                            target: "octollm_telemetry",
                            endpoint = %endpoint,
                            "the sampling strategy is fetched again"
                        );
                    }
                    failing = false;
                }
                Err(reason) => {
                    report(None);
                    if !failing {
                        tracing::warn!(
                            target: "octollm_telemetry",
                            endpoint = %endpoint,
                            "sampling strategy fetch failed, the strategy in force stays: {reason}"
                        );
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
}

/// The client of one endpoint.
enum Client {
    #[cfg(feature = "grpc")]
    Grpc {
        channel: tonic::transport::Channel,
        request: bytes::Bytes,
    },
    #[cfg(feature = "http-proto")]
    Http {
        client: Box<
            opentelemetry_http::hyper::HyperClient<
                hyper_util::client::legacy::connect::HttpConnector,
            >,
        >,
        uri: http::Uri,
    },
}

impl Client {
    #[cfg_attr(
        not(all(feature = "grpc", feature = "http-proto")),
        allow(unused_variables, reason = "one transport is not built")
    )]
    fn new(endpoint: &str, grpc: bool, service: &str, timeout: Duration) -> Result<Self, String> {
        if grpc {
            #[cfg(feature = "grpc")]
            {
                use prost::Message as _;
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .map_err(|e| e.to_string())?
                    .user_agent(crate::export::otlp::USER_AGENT)
                    .map_err(|e| e.to_string())?
                    .timeout(timeout)
                    .connect_lazy();
                let request = proto::SamplingStrategyParameters {
                    service_name: service.to_owned(),
                }
                .encode_to_vec()
                .into();
                return Ok(Client::Grpc { channel, request });
            }
        }
        #[cfg(feature = "http-proto")]
        if !grpc {
            {
                let separator = if endpoint.contains('?') { '&' } else { '?' };
                let service: String = percent_encoding::utf8_percent_encode(
                    service,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .collect();
                let uri = format!("{endpoint}{separator}service={service}")
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| e.to_string())?;
                let client =
                    opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None);
                return Ok(Client::Http {
                    client: Box::new(client),
                    uri,
                });
            }
        }
        #[allow(
            unreachable_code,
            reason = "when the transport is built, it returned above"
        )]
        Err("this build has no client for the endpoint's transport".into())
    }

    #[cfg(feature = "_otlp")]
    async fn fetch(&mut self) -> Result<Fetched, String> {
        let fetched = match self {
            #[cfg(feature = "grpc")]
            Client::Grpc { channel, request } => {
                use prost::Message as _;
                let mut client = tonic::client::Grpc::new(channel.clone());
                client
                    .ready()
                    .await
                    .map_err(|e| format!("gRPC channel not ready: {e}"))?;
                let answer = client
                    .unary(
                        tonic::Request::new(request.clone()),
                        http::uri::PathAndQuery::from_static(
                            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy",
                        ),
                        crate::export::otlp::Encoded,
                    )
                    .await
                    .map_err(|status| format!("gRPC status {:?}", status.code()))?
                    .into_inner();
                proto::SamplingStrategyResponse::decode(answer)
                    .map_err(|e| format!("the answer is not a SamplingStrategyResponse: {e}"))?
                    .into_fetched()
            }
            #[cfg(feature = "http-proto")]
            Client::Http { client, uri } => {
                use opentelemetry_http::HttpClient as _;
                let request = http::Request::get(uri.clone())
                    .header(http::header::USER_AGENT, crate::export::otlp::USER_AGENT)
                    .body(bytes::Bytes::new())
                    .map_err(|e| e.to_string())?;
                let answer = client
                    .send_bytes(request)
                    .await
                    .map_err(|e| format!("no answer: {e}"))?;
                if !answer.status().is_success() {
                    return Err(format!("HTTP status {}", answer.status().as_u16()));
                }
                json::parse(answer.body())?
            }
        };
        fetched.check()?;
        Ok(fetched)
    }

    #[cfg(not(feature = "_otlp"))]
    async fn fetch(&mut self) -> Result<super::strategy::Fetched, String> {
        match *self {}
    }
}

/// Jaeger's `api_v2/sampling.proto`, the messages the gRPC call carries.
#[cfg(feature = "grpc")]
mod proto {
    use crate::export::sampling::strategy::Fetched;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct SamplingStrategyParameters {
        #[prost(string, tag = "1")]
        pub(super) service_name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ProbabilisticSamplingStrategy {
        #[prost(double, tag = "1")]
        pub(super) sampling_rate: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct RateLimitingSamplingStrategy {
        #[prost(int32, tag = "1")]
        pub(super) max_traces_per_second: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct OperationSamplingStrategy {
        #[prost(string, tag = "1")]
        pub(super) operation: String,
        #[prost(message, optional, tag = "2")]
        pub(super) probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct PerOperationSamplingStrategies {
        #[prost(double, tag = "1")]
        pub(super) default_sampling_probability: f64,
        #[prost(double, tag = "2")]
        pub(super) default_lower_bound_traces_per_second: f64,
        #[prost(message, repeated, tag = "3")]
        pub(super) per_operation_strategies: Vec<OperationSamplingStrategy>,
        #[prost(double, tag = "4")]
        pub(super) default_upper_bound_traces_per_second: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct SamplingStrategyResponse {
        /// `PROBABILISTIC` = 0, `RATE_LIMITING` = 1.
        #[prost(int32, tag = "1")]
        pub(super) strategy_type: i32,
        #[prost(message, optional, tag = "2")]
        pub(super) probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
        #[prost(message, optional, tag = "3")]
        pub(super) rate_limiting_sampling: Option<RateLimitingSamplingStrategy>,
        #[prost(message, optional, tag = "4")]
        pub(super) operation_sampling: Option<PerOperationSamplingStrategies>,
    }

    impl SamplingStrategyResponse {
        /// The strategy, read as Jaeger's clients read it: per operation when present, else
        /// by the strategy type.
        pub(super) fn into_fetched(self) -> Fetched {
            if let Some(per) = self.operation_sampling {
                return Fetched::PerOperation {
                    default_probability: per.default_sampling_probability,
                    lower_bound: per.default_lower_bound_traces_per_second,
                    upper_bound: per.default_upper_bound_traces_per_second,
                    operations: per
                        .per_operation_strategies
                        .into_iter()
                        .map(|op| {
                            let p = op.probabilistic_sampling.map_or(0.0, |p| p.sampling_rate);
                            (op.operation, p)
                        })
                        .collect(),
                };
            }
            if self.strategy_type == 1 {
                Fetched::RateLimiting(f64::from(
                    self.rate_limiting_sampling
                        .map_or(0, |r| r.max_traces_per_second),
                ))
            } else {
                Fetched::Probabilistic(self.probabilistic_sampling.map_or(0.0, |p| p.sampling_rate))
            }
        }
    }
}

/// The JSON of Jaeger's HTTP sampling API (the protobuf messages' JSON: camelCase names,
/// zero values left out, the strategy type as its name or its number).
#[cfg(feature = "http-proto")]
pub(super) mod json {
    use serde_json::Value;

    use crate::export::sampling::strategy::Fetched;

    fn number(v: Option<&Value>, what: &str) -> Result<f64, String> {
        match v {
            None | Some(Value::Null) => Ok(0.0),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("{what} is not a number")),
            Some(_) => Err(format!("{what} is not a number")),
        }
    }

    fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
        v.get(name).filter(|v| !v.is_null())
    }

    /// The strategy of an answer's body.
    pub(crate) fn parse(body: &[u8]) -> Result<Fetched, String> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
        if !v.is_object() {
            return Err("the answer is not a JSON object".into());
        }
        let probability =
            |s: Option<&Value>, what: &str| number(s.and_then(|s| field(s, "samplingRate")), what);
        if let Some(per) = field(&v, "operationSampling") {
            let operations = match field(per, "perOperationStrategies") {
                None => Vec::new(),
                Some(Value::Array(ops)) => ops
                    .iter()
                    .map(|op| {
                        let name = field(op, "operation")
                            .and_then(Value::as_str)
                            .ok_or("an operation strategy has no operation name")?;
                        let p = probability(field(op, "probabilisticSampling"), "samplingRate")?;
                        Ok((name.to_owned(), p))
                    })
                    .collect::<Result<_, String>>()?,
                Some(_) => return Err("perOperationStrategies is not a list".into()),
            };
            return Ok(Fetched::PerOperation {
                default_probability: number(
                    field(per, "defaultSamplingProbability"),
                    "defaultSamplingProbability",
                )?,
                lower_bound: number(
                    field(per, "defaultLowerBoundTracesPerSecond"),
                    "defaultLowerBoundTracesPerSecond",
                )?,
                upper_bound: number(
                    field(per, "defaultUpperBoundTracesPerSecond"),
                    "defaultUpperBoundTracesPerSecond",
                )?,
                operations,
            });
        }
        let rate_limiting = match field(&v, "strategyType") {
            None => false,
            Some(Value::String(s)) if s == "PROBABILISTIC" => false,
            Some(Value::String(s)) if s == "RATE_LIMITING" => true,
            Some(Value::Number(n)) if n.as_u64() == Some(0) => false,
            Some(Value::Number(n)) if n.as_u64() == Some(1) => true,
            Some(other) => return Err(format!("unknown strategyType {other}")),
        };
        if rate_limiting {
            let r = field(&v, "rateLimitingSampling");
            Ok(Fetched::RateLimiting(number(
                r.and_then(|r| field(r, "maxTracesPerSecond")),
                "maxTracesPerSecond",
            )?))
        } else {
            Ok(Fetched::Probabilistic(probability(
                field(&v, "probabilisticSampling"),
                "samplingRate",
            )?))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn jaegers_answers_are_read() {
            assert_eq!(
                parse(br#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}"#),
                Ok(Fetched::Probabilistic(0.25))
            );
            assert_eq!(
                parse(br#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#),
                Ok(Fetched::RateLimiting(5.0))
            );
            assert_eq!(
                parse(br#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#),
                Ok(Fetched::RateLimiting(5.0))
            );
            // Zero values are left out of protobuf JSON.
            assert_eq!(
                parse(br#"{"probabilisticSampling":{}}"#),
                Ok(Fetched::Probabilistic(0.0))
            );
            assert_eq!(
                parse(br#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.0166,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{}},{"operation":"GET /a","probabilisticSampling":{"samplingRate":0.5}}]}}"#),
                Ok(Fetched::PerOperation {
                    default_probability: 0.1,
                    lower_bound: 0.0166,
                    upper_bound: 0.0,
                    operations: vec![("/health".into(), 0.0), ("GET /a".into(), 0.5)],
                })
            );
        }

        #[test]
        fn garbage_is_an_error_not_a_panic() {
            for body in [
                &b"<html>"[..],
                b"[]",
                b"{\"strategyType\":\"FOO\"}",
                b"{\"probabilisticSampling\":{\"samplingRate\":\"x\"}}",
                b"{\"operationSampling\":{\"perOperationStrategies\":[{}]}}",
            ] {
                assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
            }
        }
    }
}
