//! The server layer: one span, the RED metrics and one access-log line per request.
//!
//! `layer.rs` holds the layer and its settings, `service.rs` what happens when a request
//! arrives, `future.rs` what happens when its response is ready.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{OtelLayer, ResponseTraceHeader, DEFAULT_EXCLUDED_PATHS};
pub use service::Otel;
