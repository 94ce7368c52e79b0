//! The HTTP, gRPC and GenAI instrumentation on pipelines built in the test (in-memory
//! exporters, `TelemetryConfig::build`), W3C propagation, and the peers they are compared
//! with. One test binary: none of these tests installs global state (no `init`, no global
//! subscriber or provider, no environment change); a test that does has a file of its own in
//! `tests/`.

#[path = "../support/mod.rs"]
mod support;

mod build_without_globals;
mod exemplars_per_pipeline;
mod genai_parity;
mod genai_python_peer;
mod grpc_echo_harness;
mod grpc_layers;
// Public, as it was at the root of its own binary: its report types read the peer's whole
// JSON, fields the tests do not look at included.
pub mod grpc_python_peer;
mod http_hostile_input;
mod http_propagation;
mod http_secrets;
mod http_server_matrix;
mod http_two_services;
mod http_unmatched;
mod tracing_sampled_out;
mod w3c_conformance;
