//! Remote sampling against the real Jaeger v2: services configured only by environment
//! variables follow the strategies Jaeger serves (a strategies file, then the adaptive
//! provider), tag their roots so that Jaeger's adaptive engine counts them, and keep serving
//! at the initial rate when the endpoint is dead or answers garbage.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use octollm_telemetry::{RemoteSampling, Telemetry, TelemetryConfig};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use serde_json::Value;
use support::jaeger::{Jaeger, Strategies};

/// One service at a quarter with its health check excluded, one limited to five traces a
/// second; every other service at 100%.
const STRATEGIES: &str = r#"{
  "default_strategy": {"type": "probabilistic", "param": 1},
  "service_strategies": [
    {"service": "quarter", "type": "probabilistic", "param": 0.25,
     "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0}]},
    {"service": "limited", "type": "ratelimiting", "param": 5}
  ]
}"#;

/// How long a test waits for a fetch or for Jaeger to adapt.
const PATIENCE: Duration = Duration::from_secs(60);

/// A service configured by these variables (plus export to `jaeger` and a queue large
/// enough for every kept span).
fn service(name: &str, vars: &[(&str, String)], jaeger: Option<&Jaeger>) -> Telemetry {
    let mut all: Vec<(String, String)> = vec![
        ("OTEL_SERVICE_NAME".into(), name.into()),
        ("OTEL_METRICS_EXPORTER".into(), "prometheus".into()),
        ("OTEL_BSP_MAX_QUEUE_SIZE".into(), "65536".into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        (
            "OTEL_TRACES_EXPORTER".into(),
            if jaeger.is_some() { "otlp" } else { "none" }.into(),
        ),
    ];
    if let Some(jaeger) = jaeger {
        all.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), jaeger.otlp_endpoint()));
    }
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    TelemetryConfig::from_vars(all)
        .expect("valid variables")
        .build()
        .expect("telemetry builds")
}

fn remote(name: &str, sampler: &str, arg: String, jaeger: Option<&Jaeger>) -> Telemetry {
    service(
        name,
        &[
            ("OTEL_TRACES_SAMPLER", sampler.to_owned()),
            ("OTEL_TRACES_SAMPLER_ARG", arg),
        ],
        jaeger,
    )
}

/// Waits (bounded) until `done`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sampling(telemetry: &Telemetry) -> &RemoteSampling {
    telemetry.remote_sampling().expect("a remote sampler")
}

/// Starts `n` roots named `name` and counts those kept.
fn roots(telemetry: &Telemetry, name: &'static str, n: u64) -> u64 {
    let tracer = telemetry.tracer_provider().tracer("jaeger-sampling");
    (0..n)
        .filter(|_| {
            let mut span = tracer.start(name);
            let kept = span.span_context().is_sampled();
            span.end();
            kept
        })
        .count() as u64
}

/// `kept` out of `n` lies within six standard deviations of `n·p` (one chance in 10^9 of a
/// false failure).
fn assert_binomial(kept: u64, n: u64, p: f64) {
    let (n, k) = (n as f64, kept as f64);
    let sd = (n * p * (1.0 - p)).sqrt();
    assert!(
        (k - n * p).abs() <= 6.0 * sd,
        "{kept} of {n} kept, expected {} ± {}",
        n * p,
        6.0 * sd
    );
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

/// The spans Jaeger stored for `service` and `operation` (up to `limit` traces), once it
/// has stored at least `at_least` of them (it writes after its own short batching).
fn stored_at_least(
    jaeger: &Jaeger,
    service: &str,
    operation: &str,
    limit: u32,
    at_least: usize,
) -> (Vec<Value>, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = stored(jaeger, service, operation, limit);
        if found.0.len() >= at_least || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The spans Jaeger stored for `service` and `operation` (up to `limit` traces).
fn stored(jaeger: &Jaeger, service: &str, operation: &str, limit: u32) -> (Vec<Value>, Value) {
    let op: String = operation
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let answer = jaeger.query(&format!(
        "/api/traces?service={service}&operation={op}&limit={limit}&lookback=1h"
    ));
    let traces = answer["data"].as_array().cloned().unwrap_or_default();
    let processes = traces
        .first()
        .map(|t| t["processes"].clone())
        .unwrap_or(Value::Null);
    let spans = traces
        .iter()
        .flat_map(|t| t["spans"].as_array().cloned().unwrap_or_default())
        .collect();
    (spans, processes)
}

#[test]
fn a_file_strategy_over_grpc_keeps_its_share_and_excludes_the_health_check() {
    let Some(jaeger) = Jaeger::start(Strategies::File(STRATEGIES)) else {
        return;
    };
    let arg = format!(
        "endpoint={},pollingIntervalMs=200,initialSamplingRate=1",
        jaeger.sampling_grpc_endpoint()
    );
    let telemetry = remote("quarter", "parentbased_jaeger_remote", arg, Some(&jaeger));
    wait_until("the first fetch", || sampling(&telemetry).fetches() >= 1);
    assert_eq!(
        sampling(&telemetry).probability("GET /items/{id}"),
        Some(0.25)
    );
    assert_eq!(sampling(&telemetry).probability("GET /health"), Some(0.0));

    const N: u64 = 20_000;
    let kept = roots(&telemetry, "GET /items/{id}", N);
    assert_binomial(kept, N, 0.25);
    assert_eq!(
        roots(&telemetry, "GET /health", 2_000),
        0,
        "the excluded operation"
    );

    // The probability in force is a metric as well.
    let exposition = telemetry.encode_prometheus().expect("prometheus metrics");
    assert!(
        exposition.contains(r#"octollm_telemetry_sampling_probability{operation="GET /health"} 0"#)
            && exposition
                .contains(r#"octollm_telemetry_sampling_probability{operation="_default"} 0.25"#),
        "{exposition}"
    );
    let stats = telemetry.guard().stats_handle();
    telemetry.into_guard().shutdown().expect("clean shutdown");
    assert_eq!(stats.get().exported_spans, kept, "every kept root exported");

    // Jaeger has the kept roots, with their resource, the sampler's tags and the threshold.
    let (spans, processes) = stored_at_least(&jaeger, "quarter", "GET /items/{id}", 5, 5);
    assert!(
        !spans.is_empty(),
        "no span found in Jaeger:\n{}",
        jaeger.log()
    );
    for span in &spans {
        assert_sampler_tags(span, "probabilistic", 0.25, Some("ot=th:c"));
    }
    let process = processes
        .as_object()
        .and_then(|p| p.values().next())
        .expect("a process");
    assert_eq!(process["serviceName"], "quarter");
    assert!(
        tag(process, "service.instance.id").is_some()
            && tag(process, "telemetry.sdk.name").is_some(),
        "the resource: {process}"
    );
    assert!(stored(&jaeger, "quarter", "GET /health", 5).0.is_empty());
}

#[test]
fn a_file_strategy_over_http_limits_traces_per_second() {
    let Some(jaeger) = Jaeger::start(Strategies::File(STRATEGIES)) else {
        return;
    };
    let arg = format!(
        "endpoint={},pollingIntervalMs=200,initialSamplingRate=1",
        jaeger.sampling_http_endpoint()
    );
    let telemetry = remote("limited", "jaeger_remote", arg, Some(&jaeger));
    wait_until("the first fetch", || sampling(&telemetry).fetches() >= 1);
    assert_eq!(sampling(&telemetry).rate_limit(), Some(5.0));

    // Roots as fast as they come for three seconds (across several refetches, which keep
    // the bucket): at most five a second plus the bucket's five, and not fewer than the rate.
    let tracer = telemetry.tracer_provider().tracer("jaeger-sampling");
    let start = Instant::now();
    let (mut n, mut kept) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs(3) && n < 50_000_000 {
        let mut span = tracer.start("GET /items/{id}");
        kept += u64::from(span.span_context().is_sampled());
        span.end();
        n += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    assert!(n > 1_000, "{n} roots in {seconds} s");
    assert!(
        (kept as f64) <= 5.0 * seconds + 5.0 && (kept as f64) >= 5.0 * seconds - 5.0,
        "{kept} kept of {n} in {seconds:.2} s at 5 per second"
    );
    assert!(
        sampling(&telemetry).fetches() >= 5,
        "refetched every 200 ms"
    );
    let exposition = telemetry.encode_prometheus().expect("prometheus metrics");
    assert!(
        exposition.lines().any(
            |l| l.starts_with(octollm_telemetry::metrics::SAMPLING_RATE_LIMIT) && l.ends_with(" 5")
        ),
        "{exposition}"
    );
    telemetry.into_guard().shutdown().expect("clean shutdown");
    let (spans, _) = stored_at_least(&jaeger, "limited", "GET /items/{id}", 5, 5);
    assert!(
        !spans.is_empty(),
        "no span found in Jaeger:\n{}",
        jaeger.log()
    );
    for span in &spans {
        // Not a probability: no threshold.
        assert_sampler_tags(span, "ratelimiting", 5.0, None);
    }
}

/// A root stored in Jaeger carries the sampler's tags and the tracestate (with the threshold
/// of a probability).
fn assert_sampler_tags(span: &Value, kind: &str, param: f64, tracestate: Option<&str>) {
    assert_eq!(
        tag(span, "sampler.type"),
        Some(&Value::from(kind)),
        "{span}"
    );
    assert_eq!(
        tag(span, "sampler.param").and_then(Value::as_f64),
        Some(param),
        "{span}"
    );
    assert_eq!(
        tag(span, "w3c.tracestate"),
        tracestate.map(Value::from).as_ref(),
        "{span}"
    );
}

/// The probability Jaeger serves `service` for `operation`, if it lists it.
fn served(jaeger: &Jaeger, service: &str, operation: &str) -> Option<f64> {
    let strategy = jaeger.strategy(service);
    strategy["operationSampling"]["perOperationStrategies"]
        .as_array()?
        .iter()
        .find(|op| op["operation"] == operation)
        .map(|op| {
            op["probabilisticSampling"]["samplingRate"]
                .as_f64()
                .unwrap_or(0.0)
        })
}

#[test]
fn jaegers_adaptive_engine_counts_our_roots_and_lowers_a_hot_routes_probability() {
    let options = [
        ("target_samples_per_second", "1"),
        ("initial_sampling_probability", "1"),
        ("calculation_interval", "1s"),
        ("calculation_delay", "1s"),
        ("aggregation_buckets", "3"),
        ("calculation_buckets", "1"),
        ("leader_lease_refresh_interval", "500ms"),
        ("follower_lease_refresh_interval", "1s"),
    ];
    let Some(mut jaeger) = Jaeger::start(Strategies::Adaptive(&options)) else {
        return;
    };
    let arg = format!(
        "endpoint={},pollingIntervalMs=200,initialSamplingRate=1",
        jaeger.sampling_grpc_endpoint()
    );
    let adaptive = remote(
        "hot-adaptive",
        "parentbased_jaeger_remote",
        arg,
        Some(&jaeger),
    );
    // The control: the same traffic from a service whose roots carry no sampler tags.
    let control = service(
        "hot-control",
        &[("OTEL_TRACES_SAMPLER", "always_on".into())],
        Some(&jaeger),
    );
    wait_until("the first fetch", || sampling(&adaptive).fetches() >= 1);
    assert_eq!(sampling(&adaptive).probability("GET /hot"), Some(1.0));

    // About 200 roots a second on one route, well above the target of one a second.
    let stop = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> = [&adaptive, &control]
        .map(|t| {
            let tracer = t.tracer_provider().tracer("jaeger-sampling");
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < 2 * PATIENCE {
                    tracer.start("GET /hot").end();
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .into_iter()
        .collect();
    // Jaeger calculates every interval and stores what it calculated; a single Jaeger (the
    // leader of its own store) serves the stored probabilities from its next start. Restart
    // it every few intervals until it serves GET /hot below 1, and the sampler follows.
    let began = Instant::now();
    let adapted = loop {
        std::thread::sleep(Duration::from_secs(4));
        jaeger.restart();
        let restarted = Instant::now();
        let found = loop {
            let served = served(&jaeger, "hot-adaptive", "GET /hot");
            let followed = sampling(&adaptive).probability("GET /hot");
            match (served, followed) {
                (Some(s), Some(f)) if s < 1.0 && (f - s).abs() < 1e-12 => break Some(s),
                _ if restarted.elapsed() > Duration::from_secs(3) => break None,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        if found.is_some() || began.elapsed() > PATIENCE {
            break found;
        }
    };
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        driver.join().expect("driver");
    }
    let probability = adapted.unwrap_or_else(|| {
        panic!(
            "Jaeger never lowered the probability of GET /hot: {}\n{}",
            jaeger.strategy("hot-adaptive"),
            jaeger.log()
        )
    });
    assert!(probability > 0.0 && probability < 1.0, "{probability}");
    eprintln!(
        "Jaeger served GET /hot {probability} after {:?}",
        began.elapsed()
    );
    // The control stays at the initial probability: Jaeger never counted its roots.
    assert!(
        served(&jaeger, "hot-control", "GET /hot").is_none_or(|p| p >= 1.0),
        "the untagged service adapted: {}",
        jaeger.strategy("hot-control")
    );
    assert_eq!(
        jaeger.strategy("hot-control")["operationSampling"]["defaultSamplingProbability"].as_f64(),
        Some(1.0)
    );
    drop(control);
    drop(adaptive);
}

/// A loopback server that answers every request with `answer` until dropped.
struct Garbage {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Garbage {
    fn start(answer: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) && start.elapsed() < PATIENCE {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 4096];
                        let _ = stream.read(&mut buf);
                        let _ = stream.write_all(answer.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Garbage {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_dead_or_garbage_endpoint_leaves_the_initial_rate_and_counts_failures() {
    let dead = support::free_port();
    let garbage_http = Garbage::start(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>",
    );
    let garbage_grpc = Garbage::start("this is not HTTP/2\r\n\r\n");
    let endpoints = [
        format!("http://127.0.0.1:{dead}"),
        format!("http://127.0.0.1:{dead}/sampling"),
        format!("http://127.0.0.1:{}/sampling", garbage_http.port),
        format!("http://127.0.0.1:{}", garbage_grpc.port),
    ];
    for endpoint in endpoints {
        let arg = format!("endpoint={endpoint},pollingIntervalMs=100,initialSamplingRate=0.5");
        let telemetry = remote("unlucky", "parentbased_jaeger_remote", arg, None);
        wait_until("three failed fetches", || {
            sampling(&telemetry).failures() >= 3
        });
        assert_eq!(sampling(&telemetry).fetches(), 0, "{endpoint}");
        assert_eq!(
            sampling(&telemetry).probability("GET /a"),
            Some(0.5),
            "{endpoint}"
        );
        const N: u64 = 4_000;
        assert_binomial(roots(&telemetry, "GET /a", N), N, 0.5);
        let exposition = telemetry.encode_prometheus().expect("prometheus metrics");
        let failed = exposition
            .lines()
            .find(|l| l.starts_with(r#"octollm_telemetry_sampling_fetches_total{result="failed"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(failed.is_some_and(|f| f >= 3), "{endpoint}: {exposition}");
        assert!(
            exposition.contains(r#"octollm_telemetry_sampling_fetches_total{result="ok"} 0"#),
            "{endpoint}"
        );
        telemetry.into_guard().shutdown().expect("clean shutdown");
    }
}

#[test]
fn children_follow_their_parent_and_only_roots_carry_the_sampler_tags() {
    let Some(jaeger) = Jaeger::start(Strategies::File(STRATEGIES)) else {
        return;
    };
    let arg = format!(
        "endpoint={},pollingIntervalMs=200,initialSamplingRate=0",
        jaeger.sampling_grpc_endpoint()
    );
    let telemetry = remote(
        "everything",
        "parentbased_jaeger_remote",
        arg,
        Some(&jaeger),
    );
    wait_until("the first fetch", || sampling(&telemetry).fetches() >= 1);
    let tracer = telemetry.tracer_provider().tracer("jaeger-sampling");
    let root = tracer.start("GET /parent");
    assert!(
        root.span_context().is_sampled(),
        "the default strategy keeps every root"
    );
    assert_eq!(root.span_context().trace_state().header(), "ot=th:0");
    let cx = opentelemetry::Context::current_with_span(root);
    let child = tracer.start_with_context("child", &cx);
    assert!(child.span_context().is_sampled());
    assert_eq!(child.span_context().trace_state().header(), "ot=th:0");
    drop(child);
    drop(cx);
    telemetry.into_guard().shutdown().expect("clean shutdown");
    let (spans, _) = stored_at_least(&jaeger, "everything", "GET /parent", 1, 2);
    assert_eq!(spans.len(), 2, "the root and its child");
    for span in &spans {
        let is_root = span["references"].as_array().is_none_or(Vec::is_empty);
        assert_eq!(tag(span, "sampler.type").is_some(), is_root, "{span}");
    }
}
