//! Errors returned by configuration, initialisation and shutdown: one type per operation.

use std::fmt;
use std::time::Duration;

/// A boxed error from a dependency (the SDK, an exporter builder), kept as the source.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A telemetry signal, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records (`OTEL_LOGS_EXPORTER`).
    Logs,
}

impl Signal {
    /// `traces`, `metrics` or `logs`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The word before "export" in messages: `span`, `metric` or `log`.
    #[cfg_attr(
        not(feature = "_otlp"),
        allow(dead_code, reason = "only the OTLP client's messages need it")
    )]
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Signal::Traces => "span",
            Signal::Metrics => "metric",
            Signal::Logs => "log",
        }
    }

    /// What one request of the signal carries: `spans`, `metric data points` or `log records`.
    #[cfg_attr(
        not(feature = "_otlp"),
        allow(dead_code, reason = "only the OTLP client's messages need it")
    )]
    pub(crate) fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric data points",
            Signal::Logs => "log records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value that cannot be used.
///
/// The message names the variable (or builder setting), the value that was given and what is
/// accepted, e.g. `invalid value "1.5" for OTEL_SAMPLING_RATE: a number from 0.0 to 1.0 (e.g.
/// 0.1 for 10%)`. When several values are invalid, this error describes the first and
/// [`others`](Self::others) the rest; the message lists them all, separated by `; `.
///
/// Its `Debug` form is the same sentence (the fields with `{:#?}`), so that a `main` that
/// returns the error through `?` prints something a person can act on.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The environment variable or builder setting that holds the value.
    pub name: String,
    /// The value as it was given; `<redacted>` for a value that may hold credentials (the
    /// request headers of `OTEL_EXPORTER_OTLP_*HEADERS`), which no error, `Debug` output or
    /// log line of this crate shows.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
    others: Vec<ConfigError>,
    /// The value may hold credentials: it is not kept (`value` is [`REDACTED`]).
    redacted: bool,
}

/// What [`ConfigError::value`] holds, and what `Debug` shows, in place of a value that may hold
/// credentials (the request headers of `OTEL_EXPORTER_OTLP_*HEADERS`).
pub(crate) const REDACTED: &str = "<redacted>";

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
            others: Vec::new(),
            redacted: false,
        }
    }

    /// An error about a value that may hold credentials: it names the variable and what is
    /// wrong (`why`, e.g. the position or key of a malformed member) but keeps no part of the
    /// value.
    pub(crate) fn redacted(
        name: impl Into<String>,
        why: impl fmt::Display,
        expected: &str,
    ) -> Self {
        Self {
            redacted: true,
            ..Self::new(name, REDACTED, format!("{why}; expected {expected}"))
        }
    }

    /// `Ok` for no error, else the first error with the others attached.
    pub(crate) fn all(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut errors = errors.into_iter().flat_map(|mut e| {
            let others = std::mem::take(&mut e.others);
            std::iter::once(e).chain(others)
        });
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                // One bad generic variable is read once per signal: report it once.
                let same = |a: &ConfigError, b: &ConfigError| {
                    a.name == b.name && a.value == b.value && a.expected == b.expected
                };
                for e in errors {
                    if !same(&e, &first) && !first.others.iter().any(|o| same(o, &e)) {
                        first.others.push(e);
                    }
                }
                Err(first)
            }
        }
    }

    /// The other invalid values found at the same time, in the order they were read.
    #[must_use]
    pub fn others(&self) -> &[ConfigError] {
        &self.others
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.redacted {
            write!(
                f,
                "invalid value for {} (not shown: it may hold credentials): {}",
                self.name, self.expected
            )?;
        } else {
            write!(
                f,
                "invalid value {:?} for {}: {}",
                self.value, self.name, self.expected
            )?;
        }
        for other in &self.others {
            write!(f, "; {other}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("ConfigError")
                .field("name", &self.name)
                .field("value", &self.value)
                .field("expected", &self.expected)
                .field("others", &self.others)
                .field("redacted", &self.redacted)
                .finish();
        }
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

/// Why [`init_telemetry`](crate::init_telemetry),
/// [`TelemetryConfig::init`](crate::TelemetryConfig::init) or
/// [`TelemetryConfig::build`](crate::TelemetryConfig::build) failed.
///
/// Its `Debug` form is the message, which names the cause (the variant with `{:#?}`): a `main`
/// that returns it through `?` prints the sentence, not the structure.
#[derive(thiserror::Error)]
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
    SubscriberAlreadySet(#[from] tracing::subscriber::SetGlobalDefaultError),
    /// The exporter could not be built (for example an endpoint that is not a URL, or an
    /// `https` endpoint without TLS support).
    #[error("cannot build the {signal} exporter: {source}")]
    Exporter {
        /// The signal whose exporter failed.
        signal: Signal,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The background export thread could not be started.
    #[error("cannot start the telemetry export thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            // Every message already names its cause.
            return fmt::Display::fmt(self, f);
        }
        match self {
            InitError::Config(e) => f.debug_tuple("Config").field(e).finish(),
            InitError::AlreadyInitialized => f.write_str("AlreadyInitialized"),
            InitError::SubscriberAlreadySet(e) => {
                f.debug_tuple("SubscriberAlreadySet").field(e).finish()
            }
            InitError::Exporter { signal, source } => f
                .debug_struct("Exporter")
                .field("signal", signal)
                .field("source", source)
                .finish(),
            InitError::Thread(e) => f.debug_tuple("Thread").field(e).finish(),
        }
    }
}

impl InitError {
    pub(crate) fn exporter(signal: Signal, source: impl Into<BoxError>) -> Self {
        InitError::Exporter {
            signal,
            source: source.into(),
        }
    }
}

/// What failed while [`TelemetryGuard::shutdown`](crate::TelemetryGuard::shutdown) flushed
/// and stopped the pipelines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The pending telemetry could not be flushed within the deadline.
    #[error("{signal}: shutdown did not finish within {deadline:?}")]
    Timeout {
        /// The signal that did not finish.
        signal: Signal,
        /// The deadline that ran out.
        deadline: Duration,
    },
    /// The last export failed (the collector refused or could not be reached).
    #[error("{signal}: {source}")]
    Failed {
        /// The signal whose export failed.
        signal: Signal,
        /// What the SDK reported.
        #[source]
        source: opentelemetry_sdk::error::OTelSdkError,
    },
    /// Both signals failed; each failure is listed (never another `Several`).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ShutdownError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_readable_sentence() {
        let config = ConfigError::all(vec![
            ConfigError::new("OTEL_SAMPLING_RATE", "10%", "a number from 0.0 to 1.0"),
            ConfigError::new("LOG_FORMAT", "xml", "one of json, pretty"),
        ])
        .unwrap_err();
        let sentence = r#"invalid value "10%" for OTEL_SAMPLING_RATE: a number from 0.0 to 1.0; invalid value "xml" for LOG_FORMAT: one of json, pretty"#;
        assert_eq!(format!("{config:?}"), sentence);
        // What `fn main() -> Result<(), Box<dyn Error>>` prints after `?`.
        let boxed: Box<dyn std::error::Error> = Box::new(InitError::from(config.clone()));
        assert_eq!(format!("{boxed:?}"), sentence);
        assert!(format!("{config:#?}").contains("name: \"OTEL_SAMPLING_RATE\""));
        let exporter = InitError::exporter(Signal::Metrics, "the export thread stopped");
        assert_eq!(
            format!("{exporter:?}"),
            "cannot build the metrics exporter: the export thread stopped"
        );
    }
}
