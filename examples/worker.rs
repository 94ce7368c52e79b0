//! Run with
//!
//! ```not_rust
//! cargo run --example worker
//! ```
//!
//! A background job loop with no HTTP: each job is a root span with child spans, its log lines
//! carry the job's trace id, a failed job marks its span as an error, and the loop stops
//! cleanly on Ctrl-C (or after `JOBS` jobs, 5 by default) with telemetry flushed.

use std::time::Duration;

use tracing::{error, info, info_span, Instrument as _};

#[derive(Debug)]
struct Job {
    id: u64,
    documents: usize,
}

async fn fetch_job(id: u64) -> Job {
    tokio::time::sleep(Duration::from_millis(10)).await;
    Job {
        id,
        documents: (id as usize * 7) % 5,
    }
}

/// Embeds each document of the job; a job without documents fails.
async fn run_job(job: &Job) -> Result<usize, String> {
    if job.documents == 0 {
        return Err(format!("job {} has no documents", job.id));
    }
    for n in 0..job.documents {
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            info!(document = n, "embedded");
        }
        .instrument(info_span!("embed_document", document = n))
        .await;
    }
    Ok(job.documents)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = octollm_telemetry::TelemetryConfig::from_env()?
        .service_name("embedding-worker")
        .service_version(env!("CARGO_PKG_VERSION"));
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_err()
        && std::env::var("OTEL_TRACES_EXPORTER").is_err()
    {
        config = config.traces_exporter(octollm_telemetry::TracesExporter::Console);
    }
    let guard = config.init().await?;
    let jobs: u64 = std::env::var("JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(5);

    let work = async {
        for id in 1..=jobs {
            // `otel.status_code` and `error` fields let tracing-opentelemetry mark the span.
            let span = info_span!(
                "process_job",
                job.id = id,
                otel.status_code = tracing::field::Empty
            );
            async {
                let job = fetch_job(id).await;
                match run_job(&job).await {
                    Ok(done) => info!(documents = done, "job done"),
                    Err(e) => {
                        tracing::Span::current().record("otel.status_code", "error");
                        error!(error = %e, "job failed");
                    }
                }
            }
            .instrument(span)
            .await;
        }
    };
    tokio::select! {
        _ = work => info!(jobs, "all jobs processed"),
        _ = tokio::signal::ctrl_c() => info!("interrupted"),
    }

    println!("dropped spans: {}", guard.dropped_spans());
    // The async form: the deadline is waited on its own thread, not on a runtime worker.
    guard.shutdown_async().await?;
    Ok(())
}
