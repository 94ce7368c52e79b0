//! Remote sampling: the strategy a Jaeger sampling endpoint serves, fetched on the export
//! runtime and followed per root span (`OTEL_TRACES_SAMPLER=jaeger_remote` or
//! `parentbased_jaeger_remote`).
//!
//! Why the crate has its own rather than the SDK's `jaeger_remote` sampler: that one cannot
//! read Jaeger's `RATE_LIMITING` answer, ignores the per-operation lower and upper bounds,
//! speaks only HTTP, and tags nothing, so Jaeger's adaptive engine, which counts only root
//! spans carrying `sampler.type` and `sampler.param`, never adapts to the service.
//!
//! - [`RemoteSampler`] decides: the strategy in force is read without a lock
//!   (`arc_swap`), a probabilistic decision compares the trace's randomness with the
//!   probability's threshold (`threshold.rs`), a bucket is one compare-and-swap
//!   (`strategy.rs`). A kept local root carries `sampler.type` and `sampler.param`, and a
//!   probabilistic keep writes `ot=th:<threshold>` into the trace state.
//! - `fetch.rs` asks the endpoint every polling interval, over gRPC or HTTP. Until the first
//!   answer the initial rate applies; a failed fetch keeps the strategy in force.
//! - [`RemoteSampling`] shows what is in force and what the fetches did; the metrics
//!   `octollm.telemetry.sampling.*` report the same.

#![cfg_attr(
    not(feature = "_otlp"),
    allow(
        dead_code,
        clippy::unused_async,
        reason = "without a transport the configuration refuses the remote sampler"
    )
)]

mod fetch;
pub(crate) mod strategy;
pub(crate) mod threshold;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

use strategy::{Decision, Fetched, Outcome, Strategy};

use crate::config::JaegerRemote;

/// The attribute naming the sampler that kept a root, as Jaeger reads it.
const SAMPLER_TYPE: &str = "sampler.type";
/// The attribute holding the sampler's parameter (probability or rate).
const SAMPLER_PARAM: &str = "sampler.param";
/// The most operations the probability gauge reports.
pub(crate) const GAUGE_OPERATIONS: usize = 100;
/// The gauge's `operation` for the default probability.
pub(crate) const DEFAULT_OPERATION: &str = "_default";

/// What the sampler, the fetcher and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    strategy: ArcSwap<Strategy>,
    clock: Instant,
    fetches: AtomicU64,
    failures: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Puts a fetched strategy in force.
    fn apply(&self, fetched: &Fetched) {
        let previous = self.strategy.load();
        self.strategy
            .store(Arc::new(Strategy::from_fetched(fetched, Some(&previous))));
        self.fetches.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Decides for a root named `operation`; when kept, also the `ot` tracestate value to set
    /// (from the parent's `ot`).
    fn decide(
        &self,
        operation: &str,
        randomness: u64,
        ot: Option<&str>,
    ) -> (bool, &'static str, f64, Option<String>) {
        let now = || self.now();
        loop {
            let strategy = self.strategy.load();
            match strategy.decide(operation, randomness, &now) {
                Outcome::Decided(Decision::Drop) => return (false, "", 0.0, None),
                Outcome::Decided(Decision::Keep { kind, param, th }) => {
                    return (true, kind, param, threshold::with_th(ot, th))
                }
                Outcome::NewOperation => {
                    // Added once per operation: every later root finds it.
                    self.strategy.rcu(|current| {
                        current
                            .with_operation(operation)
                            .map_or_else(|| Arc::clone(current), Arc::new)
                    });
                }
            }
        }
    }
}

/// The sampler that follows the fetched strategy, for the tracer provider.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSampler {
    shared: Arc<Shared>,
}

impl ShouldSample for RemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(opentelemetry::trace::SpanContext::is_valid);
        let trace_state = parent
            .as_ref()
            .map_or(TraceState::NONE, |p| p.trace_state().clone());
        let local_root = parent
            .as_ref()
            .is_none_or(opentelemetry::trace::SpanContext::is_remote);
        let ot = trace_state.get("ot");
        let randomness = threshold::randomness(u128::from_be_bytes(trace_id.to_bytes()), ot);
        let (keep, kind, param, ot_value) = self.shared.decide(name, randomness, ot);
        if !keep {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state,
            };
        }
        let attributes = if local_root {
            vec![
                KeyValue::new(SAMPLER_TYPE, kind),
                KeyValue::new(SAMPLER_PARAM, param),
            ]
        } else {
            Vec::new()
        };
        let trace_state = match ot_value {
            Some(value) => trace_state.insert("ot", value),
            None if ot.is_some() => trace_state.delete("ot"),
            None => Ok(trace_state.clone()),
        }
        .unwrap_or(trace_state);
        SamplingResult {
            decision: SamplingDecision::RecordAndSample,
            attributes,
            trace_state,
        }
    }
}

/// A view of a remote sampler at work: the strategy in force and what its fetches did.
///
/// Reach it through [`TelemetryGuard::remote_sampling`](crate::TelemetryGuard::remote_sampling)
/// (or [`Telemetry::remote_sampling`](crate::Telemetry::remote_sampling)). The settings it was
/// started with are in [`Effective::sampler`](crate::Effective::sampler).
#[derive(Debug, Clone)]
pub struct RemoteSampling {
    shared: Arc<Shared>,
}

impl RemoteSampling {
    /// The probability a new root named `operation` is kept with now; `None` while a
    /// rate-limiting strategy is in force.
    #[must_use]
    pub fn probability(&self, operation: &str) -> Option<f64> {
        match &**self.shared.strategy.load() {
            Strategy::Probabilistic(p) => Some(p.probability),
            Strategy::RateLimiting(_) => None,
            Strategy::PerOperation(per) => Some(
                per.operations
                    .get(operation)
                    .map_or(per.default.probability, |op| op.sampler.probability),
            ),
        }
    }

    /// The default probability and the probability of each operation the endpoint listed,
    /// sorted by operation; empty while a rate-limiting strategy is in force.
    #[must_use]
    pub fn probabilities(&self) -> (Option<f64>, Vec<(String, f64)>) {
        match &**self.shared.strategy.load() {
            Strategy::Probabilistic(p) => (Some(p.probability), Vec::new()),
            Strategy::RateLimiting(_) => (None, Vec::new()),
            Strategy::PerOperation(per) => {
                let mut listed: Vec<(String, f64)> = per
                    .listed
                    .iter()
                    .filter_map(|name| {
                        let op = per.operations.get(name)?;
                        Some((name.to_string(), op.sampler.probability))
                    })
                    .collect();
                listed.sort_by(|a, b| a.0.cmp(&b.0));
                (Some(per.default.probability), listed)
            }
        }
    }

    /// The traces per second of the rate-limiting strategy in force, if that is what is in
    /// force.
    #[must_use]
    pub fn rate_limit(&self) -> Option<f64> {
        match &**self.shared.strategy.load() {
            Strategy::RateLimiting(bucket) => Some(bucket.per_second()),
            _ => None,
        }
    }

    /// Fetches that brought a strategy.
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.shared.fetches.load(Ordering::Relaxed)
    }

    /// Fetches that failed (no answer, an error, or an answer no sampler can follow).
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }
}

/// Starts a remote sampler for `service` on the export runtime: it samples at the initial
/// rate until the first fetch succeeds.
pub(crate) fn start(
    remote: &JaegerRemote,
    service: &str,
    runtime: &tokio::runtime::Handle,
) -> (RemoteSampler, RemoteSampling) {
    let shared = Arc::new(Shared {
        strategy: ArcSwap::from_pointee(Strategy::from_fetched(
            &Fetched::Probabilistic(remote.initial_sampling_rate),
            None,
        )),
        clock: Instant::now(),
        fetches: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    let fetched = Arc::clone(&shared);
    fetch::spawn(runtime, remote, service, move |result| match result {
        Some(strategy) => fetched.apply(strategy),
        None => fetched.failed(),
    });
    (
        RemoteSampler {
            shared: Arc::clone(&shared),
        },
        RemoteSampling { shared },
    )
}

/// Registers the sampler's gauges and counters: the probability per operation (at most
/// [`GAUGE_OPERATIONS`], plus the default), the rate limit, and the fetches by result.
pub(crate) fn register_metrics(meter: &opentelemetry::metrics::Meter, sampling: &RemoteSampling) {
    let view = sampling.clone();
    meter
        .f64_observable_gauge("octollm.telemetry.sampling.probability")
        .with_description(
            "Probability a new root is kept with, per operation (_default for the others)",
        )
        .with_callback(move |observer| {
            let (default, listed) = view.probabilities();
            if let Some(p) = default {
                observer.observe(p, &[KeyValue::new("operation", DEFAULT_OPERATION)]);
            }
            for (operation, p) in listed.into_iter().take(GAUGE_OPERATIONS) {
                observer.observe(p, &[KeyValue::new("operation", operation)]);
            }
        })
        .build();
    let view = sampling.clone();
    meter
        .f64_observable_gauge("octollm.telemetry.sampling.rate_limit")
        .with_description("Traces per second of the rate-limiting strategy in force")
        .with_callback(move |observer| {
            if let Some(rate) = view.rate_limit() {
                observer.observe(rate, &[]);
            }
        })
        .build();
    let view = sampling.clone();
    meter
        .u64_observable_counter("octollm.telemetry.sampling.fetches")
        .with_description("Sampling strategy fetches, by result (ok, failed)")
        .with_callback(move |observer| {
            observer.observe(view.fetches(), &[KeyValue::new("result", "ok")]);
            observer.observe(view.failures(), &[KeyValue::new("result", "failed")]);
        })
        .build();
}
