//! The strategies a Jaeger sampling endpoint serves, and the decision each makes for a new
//! trace, as Jaeger's own samplers make it:
//! - probabilistic: keep when the trace's randomness reaches the probability's threshold;
//! - rate limiting: keep while a token bucket of `maxTracesPerSecond` tokens per second (and
//!   as many in store, at least one) has a token;
//! - per operation: a probability per root span name, and for each operation a lower bound
//!   of traces per second kept whatever the probability (Jaeger's guaranteed-throughput
//!   sampler: a kept trace takes a token of the lower bound's bucket, a trace the probability
//!   drops is kept when the bucket still has one), and an upper bound (a bucket no kept trace
//!   passes without a token). Operations not listed are added on first sight with the
//!   default probability and bounds, up to [`MAX_OPERATIONS`]; past that they get the default
//!   probability alone.
//!
//! The buckets are lock-free (one compare-and-swap on the bucket's next-conforming time, the
//! generic cell rate algorithm), so threads deciding for one operation never wait for each
//! other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::threshold::{Threshold, PRECISION};

/// The most operations given their own sampler (Jaeger's clients keep 2,000).
pub(crate) const MAX_OPERATIONS: usize = 2000;

/// A strategy as fetched, before it is put in force.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fetched {
    /// `PROBABILISTIC`: one probability for every root.
    Probabilistic(f64),
    /// `RATE_LIMITING`: at most this many traces per second.
    RateLimiting(f64),
    /// `operationSampling`: a probability per operation, with bounds.
    PerOperation {
        default_probability: f64,
        lower_bound: f64,
        upper_bound: f64,
        operations: Vec<(String, f64)>,
    },
}

impl Fetched {
    /// Refuses what no sampler can follow: a probability outside [0, 1], a negative or
    /// non-finite rate.
    pub(crate) fn check(&self) -> Result<(), String> {
        let probability = |what: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{what} {p} is not a probability from 0 to 1"))
            }
        };
        let rate = |what: &str, r: f64| {
            if r.is_finite() && r >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} {r} is not a rate of zero or more per second"
                ))
            }
        };
        match self {
            Fetched::Probabilistic(p) => probability("samplingRate", *p),
            Fetched::RateLimiting(r) => rate("maxTracesPerSecond", *r),
            Fetched::PerOperation {
                default_probability,
                lower_bound,
                upper_bound,
                operations,
            } => {
                probability("defaultSamplingProbability", *default_probability)?;
                rate("defaultLowerBoundTracesPerSecond", *lower_bound)?;
                rate("defaultUpperBoundTracesPerSecond", *upper_bound)?;
                operations
                    .iter()
                    .try_for_each(|(_, p)| probability("an operation's samplingRate", *p))
            }
        }
    }
}

/// What a strategy decided for one trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision<'a> {
    /// Not recorded.
    Drop,
    /// Recorded: the `sampler.type` and `sampler.param` Jaeger counts, and the `th` value of
    /// a probabilistic decision.
    Keep {
        kind: &'static str,
        param: f64,
        th: Option<&'a str>,
    },
}

/// A probability with its threshold.
#[derive(Debug)]
pub(crate) struct Probabilistic {
    pub(crate) probability: f64,
    threshold: u64,
    th: Box<str>,
}

impl Probabilistic {
    pub(crate) fn new(probability: f64) -> Self {
        let Threshold { value, th } = Threshold::of(probability, PRECISION);
        Self {
            probability,
            threshold: value,
            th: th.into(),
        }
    }

    fn keeps(&self, randomness: u64) -> bool {
        randomness >= self.threshold
    }

    fn kept(&self, kind: &'static str) -> Decision<'_> {
        Decision::Keep {
            kind,
            param: self.probability,
            th: (kind == PROBABILISTIC).then_some(&*self.th),
        }
    }
}

/// `sampler.type` of a probabilistic decision.
pub(crate) const PROBABILISTIC: &str = "probabilistic";
/// `sampler.type` of a trace kept by an operation's lower bound.
pub(crate) const LOWER_BOUND: &str = "lowerbound";
/// `sampler.type` of a rate-limited decision.
pub(crate) const RATE_LIMITING: &str = "ratelimiting";

/// A token bucket of `per_second` tokens a second holding at most `max(per_second, 1)`, kept
/// as the time at which the next token is due (the generic cell rate algorithm).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    /// Nanoseconds per token; `u64::MAX` for a rate of zero.
    interval: u64,
    /// How far ahead of now the due time may run: the bucket's size less one token.
    tolerance: u64,
    due: AtomicU64,
}

impl RateLimiter {
    pub(crate) fn new(per_second: f64) -> Self {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and far below 2^64 nanoseconds"
        )]
        let (interval, tolerance) = if per_second > 0.0 {
            let interval = (1e9 / per_second).max(1.0);
            (
                interval as u64,
                ((per_second.max(1.0) - 1.0) * interval) as u64,
            )
        } else {
            (u64::MAX, 0)
        };
        Self {
            per_second,
            interval,
            tolerance,
            due: AtomicU64::new(0),
        }
    }

    /// Tokens added per second.
    pub(crate) fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Takes a token at `now` (nanoseconds on the sampler's clock); `false` when none is left.
    pub(crate) fn try_take(&self, now: u64) -> bool {
        if self.interval == u64::MAX {
            return false;
        }
        let mut due = self.due.load(Ordering::Relaxed);
        loop {
            let start = due.max(now);
            if start - now > self.tolerance {
                return false;
            }
            match self.due.compare_exchange_weak(
                due,
                start.saturating_add(self.interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => due = actual,
            }
        }
    }
}

/// One operation's sampler.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) sampler: Probabilistic,
    lower: Option<Arc<RateLimiter>>,
    upper: Option<Arc<RateLimiter>>,
}

impl Operation {
    /// The operation's sampler; the buckets of `previous` are kept when their rate is the
    /// same, so that a fetch does not refill them.
    fn new(probability: f64, lower: f64, upper: f64, previous: Option<&Operation>) -> Self {
        let bucket = |rate: f64, old: Option<&Arc<RateLimiter>>| {
            (rate > 0.0).then(|| match old {
                Some(old) if old.per_second.to_bits() == rate.to_bits() => Arc::clone(old),
                _ => Arc::new(RateLimiter::new(rate)),
            })
        };
        Self {
            sampler: Probabilistic::new(probability),
            lower: bucket(lower, previous.and_then(|p| p.lower.as_ref())),
            upper: bucket(upper, previous.and_then(|p| p.upper.as_ref())),
        }
    }

    fn decide(&self, randomness: u64, now: &dyn Fn() -> u64) -> Decision<'_> {
        let kept = if self.sampler.keeps(randomness) {
            if let Some(lower) = &self.lower {
                lower.try_take(now());
            }
            self.sampler.kept(PROBABILISTIC)
        } else if self.lower.as_ref().is_some_and(|l| l.try_take(now())) {
            self.sampler.kept(LOWER_BOUND)
        } else {
            return Decision::Drop;
        };
        match &self.upper {
            Some(upper) if !upper.try_take(now()) => Decision::Drop,
            _ => kept,
        }
    }
}

/// A per-operation strategy in force.
#[derive(Debug)]
pub(crate) struct PerOperation {
    pub(crate) default: Probabilistic,
    lower_bound: f64,
    upper_bound: f64,
    pub(crate) operations: FxHashMap<Box<str>, Arc<Operation>>,
    /// The operations the endpoint listed (the others were added on first sight).
    pub(crate) listed: Vec<Box<str>>,
}

/// A strategy in force.
#[derive(Debug)]
pub(crate) enum Strategy {
    Probabilistic(Probabilistic),
    RateLimiting(Arc<RateLimiter>),
    PerOperation(PerOperation),
}

/// What [`Strategy::decide`] needs from its caller when an operation is new.
pub(crate) enum Outcome<'a> {
    Decided(Decision<'a>),
    /// The operation has no sampler yet and there is room for one: add it
    /// ([`Strategy::with_operation`]) and decide again.
    NewOperation,
}

impl Strategy {
    /// The strategy of a fetched answer; buckets of `previous` with the same rate are kept.
    pub(crate) fn from_fetched(fetched: &Fetched, previous: Option<&Strategy>) -> Self {
        match fetched {
            Fetched::Probabilistic(p) => Strategy::Probabilistic(Probabilistic::new(*p)),
            Fetched::RateLimiting(rate) => Strategy::RateLimiting(match previous {
                Some(Strategy::RateLimiting(old)) if old.per_second.to_bits() == rate.to_bits() => {
                    Arc::clone(old)
                }
                _ => Arc::new(RateLimiter::new(*rate)),
            }),
            Fetched::PerOperation {
                default_probability,
                lower_bound,
                upper_bound,
                operations,
            } => {
                let old = match previous {
                    Some(Strategy::PerOperation(old)) => Some(&old.operations),
                    _ => None,
                };
                let mut map = FxHashMap::default();
                let mut listed = Vec::new();
                for (name, p) in operations.iter().take(MAX_OPERATIONS) {
                    let previous = old.and_then(|o| o.get(name.as_str())).map(Arc::as_ref);
                    let op = Operation::new(*p, *lower_bound, *upper_bound, previous);
                    map.insert(Box::<str>::from(name.as_str()), Arc::new(op));
                    listed.push(Box::<str>::from(name.as_str()));
                }
                Strategy::PerOperation(PerOperation {
                    default: Probabilistic::new(*default_probability),
                    lower_bound: *lower_bound,
                    upper_bound: *upper_bound,
                    operations: map,
                    listed,
                })
            }
        }
    }

    /// The decision for a root named `operation` with `randomness`; `now` reads the clock
    /// (only a bucket asks it).
    pub(crate) fn decide(
        &self,
        operation: &str,
        randomness: u64,
        now: &dyn Fn() -> u64,
    ) -> Outcome<'_> {
        Outcome::Decided(match self {
            Strategy::Probabilistic(p) => {
                if p.keeps(randomness) {
                    p.kept(PROBABILISTIC)
                } else {
                    Decision::Drop
                }
            }
            Strategy::RateLimiting(bucket) => {
                if bucket.try_take(now()) {
                    Decision::Keep {
                        kind: RATE_LIMITING,
                        param: bucket.per_second,
                        th: None,
                    }
                } else {
                    Decision::Drop
                }
            }
            Strategy::PerOperation(per) => match per.operations.get(operation) {
                Some(op) => op.decide(randomness, now),
                None if per.operations.len() < MAX_OPERATIONS => return Outcome::NewOperation,
                None if per.default.keeps(randomness) => per.default.kept(PROBABILISTIC),
                None => Decision::Drop,
            },
        })
    }

    /// This strategy with a sampler for `operation` (default probability and bounds); `None`
    /// when it has one already, has no room, or is not per operation.
    pub(crate) fn with_operation(&self, operation: &str) -> Option<Strategy> {
        let Strategy::PerOperation(per) = self else {
            return None;
        };
        if per.operations.contains_key(operation) || per.operations.len() >= MAX_OPERATIONS {
            return None;
        }
        let mut operations = per.operations.clone();
        operations.insert(
            operation.into(),
            Arc::new(Operation::new(
                per.default.probability,
                per.lower_bound,
                per.upper_bound,
                None,
            )),
        );
        Some(Strategy::PerOperation(PerOperation {
            default: Probabilistic::new(per.default.probability),
            lower_bound: per.lower_bound,
            upper_bound: per.upper_bound,
            operations,
            listed: per.listed.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide<'a>(strategy: &'a Strategy, op: &str, r: u64, now: u64) -> Option<Decision<'a>> {
        match strategy.decide(op, r, &|| now) {
            Outcome::Decided(d) => Some(d),
            Outcome::NewOperation => None,
        }
    }

    #[test]
    fn a_bucket_gives_its_size_at_once_then_its_rate() {
        let bucket = RateLimiter::new(5.0);
        let taken = (0..100).filter(|_| bucket.try_take(1_000)).count();
        assert_eq!(taken, 5, "a full bucket of five");
        // One more token every 200 ms.
        assert!(!bucket.try_take(1_000 + 150_000_000));
        assert!(bucket.try_take(1_000 + 200_000_000));
        // Over ten seconds, five a second, plus the full bucket it had refilled to.
        let taken = (0..10_000u64)
            .filter(|i| bucket.try_take(1_000_000_000 + i * 1_000_000))
            .count();
        assert!((50..=55).contains(&taken), "{taken}");
    }

    #[test]
    fn a_slow_bucket_holds_one_token() {
        let bucket = RateLimiter::new(1.0 / 60.0);
        assert!(bucket.try_take(0));
        assert!(!bucket.try_take(59_000_000_000));
        assert!(bucket.try_take(60_000_000_000));
        assert!(!RateLimiter::new(0.0).try_take(0));
    }

    #[test]
    fn probabilistic_keeps_at_or_above_the_threshold_and_says_so() {
        let s = Strategy::from_fetched(&Fetched::Probabilistic(0.25), None);
        let t = 3u64 << 54; // 0.75 · 2^56
        assert_eq!(decide(&s, "x", t - 1, 0), Some(Decision::Drop));
        assert_eq!(
            decide(&s, "x", t, 0),
            Some(Decision::Keep {
                kind: "probabilistic",
                param: 0.25,
                th: Some("c")
            })
        );
    }

    #[test]
    fn per_operation_lower_bound_keeps_what_the_probability_drops() {
        let fetched = Fetched::PerOperation {
            default_probability: 0.5,
            lower_bound: 1.0,
            upper_bound: 0.0,
            operations: vec![("GET /a".into(), 0.0)],
        };
        let s = Strategy::from_fetched(&fetched, None);
        // Probability 0: the first root of the second is kept by the lower bound, not after.
        assert_eq!(
            decide(&s, "GET /a", u64::MAX >> 8, 0),
            Some(Decision::Keep {
                kind: "lowerbound",
                param: 0.0,
                th: None
            })
        );
        assert_eq!(decide(&s, "GET /a", u64::MAX >> 8, 1), Some(Decision::Drop));
        assert_eq!(
            decide(&s, "GET /a", u64::MAX >> 8, 1_000_000_000),
            Some(Decision::Keep {
                kind: "lowerbound",
                param: 0.0,
                th: None
            })
        );
        // A new operation asks to be added, then follows the default.
        assert!(decide(&s, "GET /b", 0, 0).is_none());
        let s = s.with_operation("GET /b").unwrap();
        assert_eq!(
            decide(&s, "GET /b", u64::MAX >> 8, 0),
            Some(Decision::Keep {
                kind: "probabilistic",
                param: 0.5,
                th: Some("8")
            })
        );
        assert!(s.with_operation("GET /b").is_none());
    }

    #[test]
    fn the_upper_bound_caps_what_is_kept() {
        let fetched = Fetched::PerOperation {
            default_probability: 1.0,
            lower_bound: 0.0,
            upper_bound: 2.0,
            operations: vec![("op".into(), 1.0)],
        };
        let s = Strategy::from_fetched(&fetched, None);
        let kept = (0..50)
            .filter(|_| matches!(decide(&s, "op", 1, 5), Some(Decision::Keep { .. })))
            .count();
        assert_eq!(kept, 2);
    }

    #[test]
    fn a_fetch_with_the_same_rate_keeps_the_bucket() {
        let first = Strategy::from_fetched(&Fetched::RateLimiting(2.0), None);
        assert_eq!(
            (0..10)
                .filter(|_| matches!(decide(&first, "x", 0, 7), Some(Decision::Keep { .. })))
                .count(),
            2
        );
        let second = Strategy::from_fetched(&Fetched::RateLimiting(2.0), Some(&first));
        assert_eq!(
            decide(&second, "x", 0, 7),
            Some(Decision::Drop),
            "no refill"
        );
        let third = Strategy::from_fetched(&Fetched::RateLimiting(3.0), Some(&second));
        assert!(matches!(
            decide(&third, "x", 0, 7),
            Some(Decision::Keep {
                kind: "ratelimiting",
                ..
            })
        ));
    }

    #[test]
    fn impossible_strategies_are_refused() {
        assert!(Fetched::Probabilistic(1.5).check().is_err());
        assert!(Fetched::Probabilistic(f64::NAN).check().is_err());
        assert!(Fetched::RateLimiting(-1.0).check().is_err());
        assert!(Fetched::PerOperation {
            default_probability: 0.1,
            lower_bound: 0.0,
            upper_bound: 0.0,
            operations: vec![("x".into(), 2.0)],
        }
        .check()
        .is_err());
        assert!(Fetched::RateLimiting(5.0).check().is_ok());
    }
}
