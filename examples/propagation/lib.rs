//! The `propagation` example of `octollm-telemetry` lives beside this file; see `cargo run --example propagation`.
