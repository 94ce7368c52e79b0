//! The server layer: one span, the RED metrics and one access-log line per request.
//!
//! `layer.rs` holds the layer's builder, `settings.rs` what it shares with its services,
//! `service.rs` what happens when a request arrives, `future.rs` what happens when its
//! response is ready.

mod future;
mod layer;
mod service;
mod settings;

pub use future::ResponseFuture;
pub use layer::OtelLayer;
pub use service::Otel;
pub use settings::{ResponseTraceHeader, DEFAULT_EXCLUDED_PATHS};
