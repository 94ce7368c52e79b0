//! The gRPC example of `octollm-telemetry` lives beside this file; see `cargo run --example grpc_service`.
