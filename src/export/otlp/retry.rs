//! The retry policy of every OTLP request (protocol/exporter.md, "Retry"): an attempt whose
//! failure is retryable is repeated after an exponential, jittered pause, or after the delay the
//! collector asked for (gRPC `RetryInfo`, HTTP `Retry-After`), up to [`MAX_RETRIES`] times and
//! never past the export deadline. A collector that stays away costs one batch about a second,
//! not the whole timeout, so the queue behind it keeps moving.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkError;
use tokio::time::Instant;

use crate::error::Signal;

/// The first pause before an attempt is repeated; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How many times a failed attempt is repeated at most.
pub(super) const MAX_RETRIES: u32 = 3;

/// Why one attempt failed, and whether (and when) another may succeed.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) retry: Retry,
    pub(super) reason: String,
}

/// Whether a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Not retryable: the request is lost.
    Never,
    /// After the policy's own backoff.
    Backoff,
    /// After the delay the collector asked for.
    After(Duration),
}

/// Runs `attempt` until it succeeds, fails for good, has been repeated [`MAX_RETRIES`] times,
/// or the next try would start after `deadline`; no attempt runs past `deadline`.
pub(super) async fn retrying<T, F, Fut>(
    signal: Signal,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, OTelSdkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        let failure = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(failure)) => failure,
            Err(_) => {
                return Err(OTelSdkError::InternalFailure(format!(
                    "{} export timed out",
                    signal.noun()
                )))
            }
        };
        let pause = match failure.retry {
            Retry::Never => None,
            Retry::Backoff => Some(backoff + backoff.mul_f64(rand::random::<f64>() * 0.5)),
            Retry::After(delay) => Some(delay),
        };
        let fail = |why: &str| {
            Err(OTelSdkError::InternalFailure(format!(
                "{} export failed: {}{why}",
                signal.noun(),
                failure.reason
            )))
        };
        let Some(pause) = pause else {
            return fail(" (not retryable)");
        };
        if retries == MAX_RETRIES {
            return fail("");
        }
        if Instant::now() + pause >= deadline {
            return fail(match failure.retry {
                Retry::After(_) => " (the collector asked for a retry after the export deadline)",
                _ => "",
            });
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the attempts of one `retrying` run whose every attempt fails with `retry`.
    async fn attempts(retry: Retry, deadline: Duration) -> (usize, Result<(), OTelSdkError>) {
        let attempts = AtomicUsize::new(0);
        let outcome = retrying(Signal::Traces, Instant::now() + deadline, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            async move {
                Err(Failure {
                    retry,
                    reason: "unavailable".into(),
                })
            }
        })
        .await;
        (attempts.load(Ordering::Relaxed), outcome)
    }

    #[tokio::test(start_paused = true)]
    async fn a_retryable_failure_is_repeated_three_times_with_growing_pauses() {
        let start = Instant::now();
        let (n, outcome) = attempts(Retry::Backoff, Duration::from_secs(10)).await;
        let error = outcome.unwrap_err().to_string();
        assert!(error.contains("span export failed: unavailable"), "{error}");
        assert_eq!(n, 1 + MAX_RETRIES as usize);
        // Pauses of 100, 200 and 400 ms, each with up to half again of jitter.
        let spent = Instant::now() - start;
        assert!(
            (Duration::from_millis(700)..=Duration::from_millis(1050)).contains(&spent),
            "{spent:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_starts_after_the_deadline_and_a_permanent_failure_is_not_repeated() {
        let start = Instant::now();
        // 100-150 ms, then 200-300 ms: the second pause would pass a 250 ms deadline.
        let (n, outcome) = attempts(Retry::Backoff, Duration::from_millis(250)).await;
        assert!(outcome.is_err());
        assert_eq!(n, 2);
        assert!(Instant::now() - start < Duration::from_millis(250));

        let (n, outcome) = attempts(Retry::Never, Duration::from_secs(10)).await;
        assert!(outcome.unwrap_err().to_string().contains("not retryable"));
        assert_eq!(n, 1, "a permanent failure is not repeated");
    }

    #[tokio::test(start_paused = true)]
    async fn the_collectors_delay_is_waited_exactly_and_only_within_the_deadline() {
        let start = Instant::now();
        let delay = Duration::from_millis(1700);
        let (n, _) = attempts(Retry::After(delay), Duration::from_secs(60)).await;
        assert_eq!(n, 1 + MAX_RETRIES as usize);
        assert_eq!(Instant::now() - start, delay * MAX_RETRIES);

        // A delay past the deadline: given up at once, saying why.
        let start = Instant::now();
        let (n, outcome) = attempts(
            Retry::After(Duration::from_secs(30)),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(n, 1);
        assert_eq!(Instant::now(), start);
        assert!(outcome
            .unwrap_err()
            .to_string()
            .contains("after the export deadline"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_ends_at_the_deadline() {
        let start = Instant::now();
        let outcome: Result<(), _> = retrying(
            Signal::Metrics,
            start + Duration::from_secs(2),
            std::future::pending,
        )
        .await;
        assert!(outcome.is_err());
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
