//! Exemplars belong to the pipeline `TelemetryConfig::build` returns: two pipelines in one
//! process keep their own, and a pipeline built with `exemplars(false)` after one with
//! exemplars keeps none, even for the same series.

use axum::body::Body;
use axum::http::Request;
use octollm_telemetry::Telemetry;
use tower::ServiceExt as _;

const FIRST: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SECOND: &str = "0af7651916cd43dd8448eb211c80319c";
const THIRD: &str = "5c1c7a0b8d8e4f0a9b1c2d3e4f506172";

fn pipeline(exemplars: bool) -> Telemetry {
    octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
    ])
    .unwrap()
    .exemplars(exemplars)
    .runtime_metrics(false)
    .log_writer(std::io::sink)
    .build()
    .unwrap()
}

/// One sampled request of trace `trace_id` to `/items/{id}` through an HTTP layer on
/// `telemetry`'s providers; `exemplars` says whether the layer is given its store.
async fn request(telemetry: &Telemetry, trace_id: &str, exemplars: bool) {
    let mut layer = octollm_telemetry::http::layer()
        .tracer_provider(telemetry.tracer_provider())
        .meter_provider(telemetry.meter_provider().unwrap())
        .propagator(telemetry.propagator());
    if exemplars {
        layer = layer.exemplars(telemetry.exemplars());
    }
    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(layer);
    let response = app
        .oneshot(
            Request::get("/items/7")
                .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(response.status().is_success());
}

/// The trace ids of the exemplars in `telemetry`'s OpenMetrics text, and its request count.
fn exemplar_traces(telemetry: &Telemetry) -> (Vec<String>, usize) {
    let text = telemetry
        .encode_openmetrics()
        .expect("served for Prometheus");
    let traces = text
        .lines()
        .filter_map(|l| {
            l.split_once(" # {trace_id=\"")
                .map(|(_, rest)| rest[..32].to_owned())
        })
        .collect();
    let count = text
        .lines()
        .filter(|l| l.starts_with("http_server_request_duration_seconds_count{"))
        .count();
    (traces, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_pipeline_keeps_its_own_exemplars_and_a_disabled_one_keeps_none() {
    let first = pipeline(true);
    let second = pipeline(true);
    assert!(first.exemplars().is_some() && second.exemplars().is_some());
    request(&first, FIRST, true).await;
    request(&second, SECOND, true).await;

    // The same series in both: each shows only the request it served.
    assert_eq!(exemplar_traces(&first), (vec![FIRST.to_owned()], 1));
    assert_eq!(exemplar_traces(&second), (vec![SECOND.to_owned()], 1));

    // Built after pipelines that keep exemplars, with exemplars off: it has no store, and its
    // endpoint shows none, whether or not the layer is handed the (absent) store.
    let off = pipeline(false);
    assert!(off.exemplars().is_none());
    request(&off, THIRD, true).await;
    request(&off, THIRD, false).await;
    let (traces, count) = exemplar_traces(&off);
    assert!(
        traces.is_empty(),
        "exemplars(false) records none: {traces:?}"
    );
    assert_eq!(count, 1, "the requests were measured");

    // A layer on a provider given in code keeps no exemplar unless given the store.
    let quiet = pipeline(true);
    request(&quiet, THIRD, false).await;
    assert_eq!(exemplar_traces(&quiet), (Vec::new(), 1));

    // Nothing reached the others, and nothing was installed for the process.
    assert_eq!(exemplar_traces(&first), (vec![FIRST.to_owned()], 1));
    assert_eq!(exemplar_traces(&second), (vec![SECOND.to_owned()], 1));
    assert_eq!(octollm_telemetry::metrics::encode_openmetrics(), None);
    for telemetry in [first, second, off, quiet] {
        telemetry.into_guard().shutdown().unwrap();
    }
}

/// A model call measured through `Telemetry::genai` leaves its trace as the exemplar of the
/// `gen_ai_client_operation_duration_seconds` bucket it fell in (the convention's buckets, not
/// the HTTP ones), and a pipeline without exemplars leaves none.
#[test]
fn a_sampled_model_call_is_the_exemplar_of_its_genai_duration_bucket() {
    use octollm_telemetry::genai::{Operation, Usage};
    use opentelemetry::trace::TraceContextExt as _;
    for exemplars in [true, false] {
        let telemetry = pipeline(exemplars);
        let genai = telemetry.genai();
        let call = genai.call(Operation::Chat, "openai").model("m").start();
        let trace_id = call.context().span().span_context().trace_id().to_string();
        let mut call = call;
        call.usage(Usage::new(3, 4));
        call.end();
        let text = telemetry
            .encode_openmetrics()
            .expect("served for Prometheus");
        let marked: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("gen_ai_client_operation_duration_seconds_bucket{"))
            .filter(|l| l.contains(" # {trace_id=\""))
            .collect();
        if !exemplars {
            assert!(marked.is_empty(), "{marked:?}");
            continue;
        }
        // An instant call: the first bucket, 0.01 s.
        assert_eq!(marked.len(), 1, "{text}");
        assert!(marked[0].contains("le=\"0.01\""), "{}", marked[0]);
        assert!(marked[0].contains(&trace_id), "{}", marked[0]);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("gen_ai_client_token_usage_bucket{") && l.contains(" # {")),
            "only the duration carries exemplars"
        );
    }
}

/// A sampled gRPC call through the server layer of a pipeline leaves its trace as the exemplar
/// of its `rpc_server_call_duration_seconds` bucket, as an HTTP request does.
#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread")]
async fn a_sampled_grpc_call_is_the_exemplar_of_its_duration_bucket() {
    use tower::{Layer as _, Service as _};
    let telemetry = pipeline(true);
    let mut service = octollm_telemetry::grpc::layer()
        .providers(
            telemetry.tracer_provider(),
            telemetry.meter_provider().unwrap(),
        )
        .propagator(telemetry.propagator())
        .exemplars(telemetry.exemplars())
        .layer(tower::service_fn(|_req: http::Request<()>| async {
            // Trailers-only: an answer with its status in the headers.
            let mut response = http::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static("0"));
            Ok::<_, std::convert::Infallible>(response)
        }));
    let request = http::Request::post("/octollm.plans.v1.Plans/GetPlan")
        .header("traceparent", format!("00-{FIRST}-00f067aa0ba902b7-01"))
        .body(())
        .unwrap();
    tower::ServiceExt::ready(&mut service)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap();
    let text = telemetry
        .encode_openmetrics()
        .expect("served for Prometheus");
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rpc_server_call_duration_seconds_bucket{"))
        .filter(|l| l.contains(" # {trace_id=\""))
        .collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].contains(FIRST), "{}", marked[0]);
    assert!(marked[0].contains("rpc_method=\"octollm.plans.v1.Plans/GetPlan\""));
}
