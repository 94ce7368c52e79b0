//! Run with `cargo run --example grpc_service`.
//!
//! A tonic service generated from `proto/plans.proto` (`build.rs`, tonic's build tooling)
//! with the crate's gRPC layers: one line on the server (`Server::builder().layer(..)`) and
//! one on the client's channel. The example serves `octollm.plans.v1.Plans` on a loopback
//! port, calls it through an instrumented channel (a plan that exists, one that does not, and
//! a stream of steps), prints the spans (unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and what
//! `/metrics` would serve for `rpc_*`, and exits. Copy it as the skeleton of a gRPC service.

use std::time::Duration;

use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};
use tracing::{info, info_span, Instrument as _};

pub mod plans {
    tonic::include_proto!("octollm.plans.v1");
}

use plans::plans_client::PlansClient;
use plans::plans_server::{Plans, PlansServer};
use plans::{GetPlanRequest, Plan, Step, StreamStepsRequest};

#[derive(Default)]
struct Planner;

#[tonic::async_trait]
impl Plans for Planner {
    async fn get_plan(&self, request: Request<GetPlanRequest>) -> Result<Response<Plan>, Status> {
        let id = request.into_inner().id;
        // This line carries the server span's trace_id and span_id and the request id.
        info!(plan.id = %id, "looking up a plan");
        if id != "plan-1" {
            return Err(Status::not_found(format!("no plan {id}")));
        }
        Ok(Response::new(Plan {
            id,
            goal: "summarise the incident".into(),
        }))
    }

    type StreamStepsStream = tokio_stream::wrappers::ReceiverStream<Result<Step, Status>>;

    async fn stream_steps(
        &self,
        request: Request<StreamStepsRequest>,
    ) -> Result<Response<Self::StreamStepsStream>, Status> {
        let steps = request.into_inner().steps;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for index in 0..steps {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let step = Step {
                    index,
                    text: format!("step {index}"),
                };
                if tx.send(Ok(step)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = octollm_telemetry::TelemetryConfig::from_env()?.service_name("planner");
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_err()
        && std::env::var("OTEL_TRACES_EXPORTER").is_err()
    {
        config = config.traces_exporter(octollm_telemetry::TracesExporter::Console);
    }
    let guard = config.init().await?;

    // Server: the layer is one line.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(octollm_telemetry::grpc::layer())
        .add_service(PlansServer::new(Planner))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let serving = tokio::spawn(server);

    // Client: one line over the channel (the endpoint's host and port for `server.address`).
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let channel = tower::ServiceBuilder::new()
        .layer(octollm_telemetry::grpc::client_layer().server(addr.ip().to_string(), addr.port()))
        .service(channel);
    let mut client = PlansClient::new(channel);

    async {
        let plan = client
            .get_plan(GetPlanRequest {
                id: "plan-1".into(),
            })
            .await?
            .into_inner();
        info!(goal = %plan.goal, "got the plan");
        let missing = client
            .get_plan(GetPlanRequest {
                id: "plan-9".into(),
            })
            .await
            .expect_err("no plan-9");
        info!(code = ?missing.code(), "as expected, no plan-9");
        let mut steps = client
            .stream_steps(StreamStepsRequest {
                plan_id: plan.id,
                steps: 3,
            })
            .await?
            .into_inner();
        while let Some(step) = steps.next().await {
            info!(step = step?.index, "step");
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .instrument(info_span!("plan_incident"))
    .await?;

    // The server's span of a call ends when its response ends, a moment after the client's.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = octollm_telemetry::metrics::encode_prometheus()
        .ok_or("metrics are not served in the Prometheus format")?;
    for line in text
        .lines()
        .filter(|l| l.starts_with("rpc_") && l.contains("_count"))
    {
        println!("{line}");
    }
    serving.abort();
    guard.shutdown()?;
    Ok(())
}
