//! Production-grade observability for the Rust services of the OctoLLM platform, in one call.
//!
//! ```no_run
//! # async fn run() -> Result<(), octollm_telemetry::InitError> {
//! let _guard = octollm_telemetry::init_telemetry().await?;
//! tracing::info!("ready");
//! # Ok(()) }
//! ```
//!
//! # Overview
//!
//! | you want | call |
//! |---|---|
//! | everything from the environment, installed for the process | [`init_telemetry`] |
//! | the service's identity (or any setting) in code first | [`TelemetryConfig::from_env`], the setters, [`TelemetryConfig::init`] |
//! | the pipelines without any global, for your own subscriber, a test or a benchmark | [`TelemetryConfig::build`] → [`Telemetry`] |
//! | what a configuration resolves to, before installing it | [`TelemetryConfig::effective`] → [`Effective`] |
//! | to flush and stop at exit | the returned [`TelemetryGuard`] (drop it or call [`TelemetryGuard::shutdown`]) |
//! | server spans, RED metrics and access lines for Axum/Tower | [`http::layer`] |
//! | the trace carried to the services you call | [`http::client_layer`], [`http::inject_context`] |
//! | `/metrics` for Prometheus | [`metrics::router`], [`metrics::handler`], [`metrics::serve`] |
//! | the Kubernetes monitoring stack (Prometheus rules, Grafana dashboards, Loki, Jaeger) | [`manifests`] (`manifests` feature) |
//!
//! [`init_telemetry`] reads the environment and installs, for the whole process:
//!
//! - an OpenTelemetry **resource** naming the service (`service.name`, `service.namespace`,
//!   `service.instance.id`, `service.version`, `deployment.environment.name`, Kubernetes
//!   attributes): see [`TelemetryConfig`];
//! - **sampling** `parentbased_traceidratio`, 100% in dev and 10% in staging and prod unless
//!   `OTEL_SAMPLING_RATE` or `OTEL_TRACES_SAMPLER` say otherwise: see [`Sampler`];
//! - **batch OTLP export** of spans over gRPC (4317) or HTTP/protobuf (4318) from a dedicated
//!   thread that never blocks the service; spans that do not fit the queue or whose export
//!   fails are dropped and counted ([`TelemetryGuard::dropped_spans`]);
//! - a `tracing` **subscriber** whose JSON log lines carry the `trace_id` and `span_id` of the
//!   span they were written in: see [`logs`];
//! - the W3C `traceparent`/`tracestate` and `baggage` **propagators**;
//! - a **meter provider** whose metrics are served for Prometheus or pushed over OTLP: see
//!   [`metrics`].
//!
//! Add [`http::layer`] to an Axum router for server spans, RED metrics and access-log lines
//! that follow the OpenTelemetry HTTP semantic conventions:
//!
//! ```
//! use axum::{routing::get, Router};
//!
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "item" }))
//!     .merge(octollm_telemetry::metrics::router())
//!     .layer(octollm_telemetry::http::layer()); // last, so that every request is traced
//! ```
//!
//! Set the service's identity in code with [`TelemetryConfig`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), octollm_telemetry::InitError> {
//! let _guard = octollm_telemetry::TelemetryConfig::from_env()?
//!     .service_name("reflex-layer")
//!     .service_version(env!("CARGO_PKG_VERSION"))
//!     .init()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! An application that owns its `tracing` subscriber builds the pipelines instead and composes
//! them (see [`Telemetry`]):
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tracing_subscriber::prelude::*;
//!
//! let telemetry = octollm_telemetry::TelemetryConfig::from_env()?.build()?;
//! tracing_subscriber::registry().with(telemetry.layer()).try_init()?;
//! let _guard = telemetry.into_guard();
//! # Ok(()) }
//! ```
//!
//! A malformed variable is an error that names it, never a silent fallback; every bad value
//! is reported at once:
//!
//! ```
//! let err = octollm_telemetry::TelemetryConfig::from_vars([("OTEL_SAMPLING_RATE", "10%")])
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"invalid value "10%" for OTEL_SAMPLING_RATE: a number from 0.0 to 1.0 (e.g. 0.1 for 10%)"#
//! );
//! ```
//!
//! How the crate is put together (environment and builder → plan → pipelines → installed
//! state → layers) is described in `ARCHITECTURE.md` in the repository.
//!
//! # Environment variables
//!
//! An empty value counts as unset. A value set in code through [`TelemetryConfig`] wins over
//! the environment, except the service name and version, for which code is the fallback.
//!
//! | Variable | Purpose | Default |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME` | `service.name` | `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the name set in code, else `unknown_service:<executable>` |
//! | `SERVICE_NAMESPACE` | `service.namespace` | `octollm` |
//! | `APP_VERSION` | `service.version` | the version set in code |
//! | `ENVIRONMENT` | `dev`, `staging` or `prod` (`development`, `production` accepted): `deployment.environment.name` and `deployment.environment`, sampling and log-format defaults | `dev` |
//! | `POD_NAME` | `k8s.pod.name` and `service.instance.id` | — |
//! | `HOSTNAME` | `service.instance.id` when `POD_NAME` is unset | a random UUID |
//! | `POD_NAMESPACE` | `k8s.namespace.name` | — |
//! | `NODE_NAME` | `k8s.node.name` | — |
//! | `OTEL_RESOURCE_ATTRIBUTES` | extra resource attributes, `k=v,…`, percent-encoded | — |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`, `jaeger_remote`, `parentbased_jaeger_remote` | `parentbased_traceidratio` |
//! | `OTEL_TRACES_SAMPLER_ARG` | the ratio (0.0–1.0) of the ratio samplers; for the remote samplers `endpoint=<URL>,pollingIntervalMs=<ms>,initialSamplingRate=<0.0–1.0>`, each key optional (see [`JaegerRemote`]) | `1.0`; remote: `endpoint=http://localhost:14250,pollingIntervalMs=60000,initialSamplingRate=0.001` |
//! | `OTEL_SAMPLING_RATE` | ratio of new traces kept (0.0–1.0), used when `OTEL_TRACES_SAMPLER` is unset | `1.0` in dev, `0.1` in staging and prod |
//! | `OTEL_SDK_DISABLED` | `true`: export nothing, keep trace ids in logs and propagation | `false` |
//! | `OTEL_TRACES_EXPORTER` | `otlp`, `console` (readable spans on stderr) or `none` | `otlp` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `none`, comma-separated | `tracecontext,baggage` |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `grpc` or `http/protobuf` | `grpc` |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector base URL; `/v1/traces` is appended for HTTP | `http://localhost:4317` (gRPC), `http://localhost:4318` (HTTP) |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full traces URL, used as it is | — |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | request headers, `k=v,…`, percent-encoded | — |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | export request timeout, milliseconds | `10000` |
//! | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | `gzip` or `none` | `none` |
//! | `OTEL_EXPORTER_OTLP_INSECURE`, `OTEL_EXPORTER_OTLP_TRACES_INSECURE` | `true`: a gRPC endpoint without a scheme is `http://` (else `https://`) | `false` |
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` | PEM file of the CA certificates that verify an `https://` collector, trusted instead of the system's roots | the system's roots |
//! | `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE` | PEM file of the client certificate (chain) for mutual TLS; needs the key | — |
//! | `OTEL_EXPORTER_OTLP_CLIENT_KEY`, `OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY` | PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1) | — |
//! | `JAEGER_ENDPOINT` | deprecated alias of `OTEL_EXPORTER_OTLP_ENDPOINT` (warns) | — |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | spans waiting for export; beyond it spans are dropped and counted | `2048` |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per export request (at most the queue size) | `512` |
//! | `OTEL_BSP_SCHEDULE_DELAY` | milliseconds between exports | `5000` |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | milliseconds one export may take in all | `30000` |
//! | `OTEL_METRICS_EXPORTER` | `prometheus` (served by `metrics::handler`/`router`/`serve`), `otlp` (pushed) or `none` | `prometheus` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between OTLP metric pushes | `60000` |
//! | `OCTOLLM_RUNTIME_METRICS` | `false`: no process (`process.cpu.time`, `process.memory.usage`, …) and Tokio runtime (`tokio.workers`, `tokio.tasks.alive`, `tokio.global_queue.depth`) metrics | `true` |
//! | `OCTOLLM_EXEMPLARS` | `false`: no exemplars (trace and span of a sampled request) on the duration histogram's buckets, in the OpenMetrics format of `/metrics` and in OTLP push | `true` |
//! | `OTEL_LOGS_EXPORTER` | also export `tracing` events as OTLP log records (`otlp`), as readable records on stderr (`console`), or not (`none`); the lines on stdout stay either way | `none` |
//! | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`, `OTEL_EXPORTER_OTLP_LOGS_HEADERS`, `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`, `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION`, `OTEL_EXPORTER_OTLP_LOGS_INSECURE`, `OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE`, `OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY` | the logs counterparts of the traces variables (`/v1/logs` is appended to the base endpoint for HTTP) | as for traces |
//! | `OTEL_BLRP_MAX_QUEUE_SIZE` | log records waiting for export; beyond it records are dropped and counted | `2048` |
//! | `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | log records per export request (at most the queue size) | `512` |
//! | `OTEL_BLRP_SCHEDULE_DELAY` | milliseconds between log exports | `1000` |
//! | `OTEL_BLRP_EXPORT_TIMEOUT` | milliseconds one log export may take in all | `30000` |
//! | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, `_METRICS_PROTOCOL`, `_METRICS_HEADERS`, `_METRICS_TIMEOUT`, `_METRICS_COMPRESSION`, `_METRICS_INSECURE`, `_METRICS_CERTIFICATE`, `_METRICS_CLIENT_CERTIFICATE`, `_METRICS_CLIENT_KEY` | the metrics counterparts of the traces variables (`/v1/metrics` is appended to the base endpoint for HTTP) | as for traces |
//! | `RUST_LOG` | `tracing` filter directives; the export path's crates stay at `warn` unless named | `info` |
//! | `LOG_FORMAT` | `json` or `pretty` | `pretty` in dev, `json` in staging and prod |
//! | `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` | message content of model calls ([`genai`]): `NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY`, `SPAN_AND_EVENT` (also `false`, `true` = `EVENT_ONLY`) | `NO_CONTENT` |
//!
//! # Cargo features
//!
//! - `grpc` (default): OTLP over gRPC.
//! - `http-proto` (default): OTLP over HTTP/protobuf, so that
//!   `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` works without a rebuild. In the default build
//!   it adds no crate (tonic already brings hyper-util and flate2), only this crate's HTTP
//!   transport.
//! - `tls` (default): `https://` collector endpoints over rustls (ring), with a private CA and
//!   client certificates from the `OTEL_EXPORTER_OTLP_*CERTIFICATE`/`*CLIENT_KEY` variables.
//! - `axum` (default): route templates (`MatchedPath`) and peer addresses (`ConnectInfo`) in
//!   the HTTP layer, and the `/metrics` router.
//! - `prometheus` (default): metrics in the Prometheus text format.
//! - `manifests`: the monitoring stack of the repository's `monitoring/` folder, embedded
//!   (about 0.5 MB of files) and served by [`manifests`].
//! - `cli`: the `octollm-telemetry` command that lists and exports the monitoring stack
//!   (enables `manifests`).
//!
//! # Crate versions
//!
//! The OpenTelemetry crates this one is built with are re-exported ([`opentelemetry`],
//! [`opentelemetry_sdk`], [`tracing_opentelemetry`], [`tracing`]); use them rather than
//! separate dependencies to avoid trait errors from mismatched versions.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_debug_implementations)]
// The lints the library holds itself to: clippy's pedantic group (CI denies warnings, and
// `clippy.toml` sets the function length limit), less these, each for a reason:
#![warn(clippy::pedantic)]
#![allow(
    // Names such as `http::OtelLayer` and `config::TelemetryConfig` read better in full.
    clippy::module_name_repetitions,
    // Durations and counts are converted where the value range is known (ratios, ms).
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    // Getters that merely return a value: `#[must_use]` is kept for builders and values a
    // caller could drop by mistake.
    clippy::must_use_candidate
)]
// Tests compare exact values and spell durations as the variables do (milliseconds).
#![cfg_attr(
    test,
    allow(
        clippy::float_cmp,
        clippy::duration_suboptimal_units,
        clippy::doc_markdown,
        clippy::single_char_pattern,
        clippy::items_after_statements
    )
)]

mod config;
mod context;
mod error;
mod export;
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub mod fuzz;
#[allow(clippy::module_name_repetitions)]
pub mod genai;
#[cfg(feature = "tonic")]
pub mod grpc;
mod guard;
pub mod http;
mod init;
mod installed;
pub mod logs;
#[cfg(feature = "manifests")]
pub mod manifests;
pub mod metrics;
mod propagation;
mod resource;
mod shared;
mod telemetry;
mod tls;
mod user_exporter;

pub use config::vars;
pub use config::{
    CaptureContent, Compression, Effective, Environment, JaegerRemote, LogFormat, LogsExporter,
    MetricsExporter, Protocol, Sampler, TelemetryConfig, TracesExporter,
};
pub use error::{ConfigError, InitError, ShutdownError, Signal};
pub use export::ExportStats;
#[cfg(feature = "jaeger-remote")]
pub use export::RemoteSampling;
pub use guard::{StatsHandle, TelemetryGuard};
pub use init::init_telemetry;
pub use telemetry::Telemetry;

pub use opentelemetry;
pub use opentelemetry_sdk;
pub use tracing;
pub use tracing_opentelemetry;

/// The README's snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
