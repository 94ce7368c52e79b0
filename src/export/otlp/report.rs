//! What an exporter tells about the collector's answers: the items a partial success rejected,
//! counted as lost under their own reason, and a rate-limited warning with the collector's
//! message, every configured header value blanked out of it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::dispatcher::WeakDispatch;

use crate::config::OtlpSettings;
use crate::error::Signal;

/// The smallest time between two warnings about rejected items of one signal.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The longest collector message a warning repeats.
const MAX_MESSAGE: usize = 512;

/// The counters and the warning sink of one signal's exporter.
#[derive(Clone)]
pub(crate) struct Report {
    signal: Signal,
    /// Adds to the signal's rejected count and gives the new total.
    rejecter: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
    /// Where the pipeline's warnings go (the crate's `WarnSink`).
    warn_sink: Arc<OnceLock<WeakDispatch>>,
    /// The configured header values, blanked out of what the collector says.
    secrets: Arc<[String]>,
    last_warning: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

impl Report {
    pub(crate) fn new(
        signal: Signal,
        settings: &OtlpSettings,
        rejecter: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
        warn_sink: Arc<OnceLock<WeakDispatch>>,
    ) -> Self {
        let secrets = settings
            .headers
            .iter()
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        Self {
            signal,
            rejecter,
            warn_sink,
            secrets,
            last_warning: Arc::default(),
        }
    }

    pub(crate) fn signal(&self) -> Signal {
        self.signal
    }

    /// Counts `rejected` of the `sent` items of one request as lost (`rejected`) and warns
    /// with the collector's `message`, at most once every [`WARN_EVERY`].
    pub(crate) fn rejected(&self, rejected: i64, sent: u64, message: &str) {
        let count = u64::try_from(rejected).unwrap_or(0).min(sent);
        if count == 0 && message.is_empty() {
            return;
        }
        let total = (self.rejecter)(count);
        if !self.due() {
            return;
        }
        let message = self.scrub(message);
        let what = self.signal.items();
        self.warn(|| {
            tracing::warn!(
                target: "octollm_telemetry",
                rejected = count,
                rejected_total = total,
                collector_message = %message,
                "the collector accepted the export only in part: the {what} it rejected are lost"
            );
        });
    }

    /// `text` with every configured header value blanked out, cut to [`MAX_MESSAGE`] bytes.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.secrets.iter() {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), crate::error::REDACTED);
            }
        }
        if text.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        text
    }

    fn due(&self) -> bool {
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    fn warn(&self, emit: impl FnOnce()) {
        if let Some(dispatch) = self.warn_sink.get().and_then(WeakDispatch::upgrade) {
            tracing::dispatcher::with_default(&dispatch, emit);
        }
    }
}
