//! Errors returned by configuration, initialisation and shutdown.

use std::time::Duration;

/// A configuration value that cannot be used.
///
/// The message names the variable (or builder setting), the value that was given and what is
/// accepted, e.g. `invalid value "1.5" for OTEL_SAMPLING_RATE: expected a number from 0.0 to 1.0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {name}: {expected}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The environment variable or builder setting that holds the value.
    pub name: String,
    /// The value as it was given.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl ConfigError {
    pub(crate) fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// Why [`init_telemetry`](crate::init_telemetry) or
/// [`TelemetryConfig::init`](crate::TelemetryConfig::init) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting from the environment or the builder is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Telemetry was already initialised in this process.
    #[error("telemetry is already initialized in this process")]
    AlreadyInitialized,
    /// Another global `tracing` subscriber is already set (by another crate or a test harness).
    #[error("another global tracing subscriber is set: {0}")]
    SubscriberAlreadySet(String),
    /// The exporter could not be built (for example an endpoint that is not a URL, or an
    /// `https` gRPC endpoint without TLS support).
    #[error("cannot build the {signal} exporter: {reason}")]
    Exporter {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The background export thread could not be started.
    #[error("cannot start the telemetry export thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// What failed while [`TelemetryGuard::shutdown`](crate::TelemetryGuard::shutdown) flushed
/// and stopped the pipelines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The pending telemetry could not be flushed within the deadline.
    #[error("{signal}: shutdown did not finish within {deadline:?}")]
    Timeout {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// The deadline that ran out.
        deadline: Duration,
    },
    /// The last export failed (the collector refused or could not be reached).
    #[error("{signal}: {reason}")]
    Failed {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// What the exporter reported.
        reason: String,
    },
    /// Several signals failed; each is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ShutdownError>),
}
