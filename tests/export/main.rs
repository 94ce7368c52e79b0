//! Export and its configuration on pipelines built in the test (`TelemetryConfig::build`):
//! log records, TLS, a collector dead through shutdown, the remote sampler against a real
//! Jaeger, the metric producers and their exposition. One test binary: none of these tests
//! installs global state (no `init`, no global subscriber or provider, no environment change);
//! a test that does has a file of its own in `tests/`.

#[path = "../support/mod.rs"]
mod support;

mod export_logs;
mod export_tls;
mod fault_dead_through_shutdown;
mod jaeger_sampling;
mod metrics_producers;
mod tls_config;
