//! The examples of `octollm-telemetry` live beside this file; see `cargo run --example quickstart`.
