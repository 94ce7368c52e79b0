//! The load-balancing tier of the scale overlay
//! (`monitoring/overlays/scale/traces/otel-lb-config.yaml`), run by a real OpenTelemetry
//! Collector with the contrib `loadbalancing` exporter: `otelcol-lb`, built by
//! `scripts/test.sh` from `scripts/go-tools/otelcol-lb` (collector and contrib modules at
//! v0.148.0, the newest `loadbalancingexporter` the module proxy serves here; the overlay's
//! image is collector-contrib 0.165.1).
//!
//! `otelcol-lb validate` must accept the shipped configuration as it is and reject a misspelt
//! key. Then the shipped configuration runs on loopback with one edit besides its ports: the DNS
//! resolver over the headless Service becomes the static resolver over two Jaeger collectors
//! (the DNS resolver gives every address one port, and loopback has one address). Two services
//! of the crate, each with its own exporter, send the two halves of the same traces through
//! it: each trace must be stored whole on exactly one Jaeger, and both Jaegers must get some.
//!
//! External tools: `otelcol-lb`, `jaeger` (v2). Without one a test prints a loud skip message,
//! or fails under `CI=true`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};

use crate::jaeger_scale::{read, replace_n, text, traces_dir, validate};
use crate::support::{
    self,
    daemon::Daemon,
    jaeger::{http_get, Jaeger, Strategies},
};

/// How long a process may take to open its ports, and Jaeger to store what was sent.
const PATIENCE: Duration = Duration::from_secs(30);
/// Traces sent through the tier: with two backends, the chance that a fair ring gives one of
/// them none is 2 × 2⁻⁶⁰.
const TRACES: usize = 60;

fn shipped() -> String {
    read(&traces_dir().join("otel-lb-config.yaml"))
}

#[test]
fn otelcol_validate_accepts_the_load_balancer_configuration_and_rejects_a_misspelt_key() {
    let Some(otelcol) = support::require_tool("otelcol-lb") else {
        return;
    };
    let out = validate(&otelcol, &shipped());
    assert!(out.status.success(), "otel-lb-config.yaml:\n{}", text(&out));
    for (from, to) in [
        ("routing_key: traceID", "routing_kee: traceID"),
        ("        hostname: jaeger", "        hostnam: jaeger"),
    ] {
        let out = validate(&otelcol, &replace_n(&shipped(), from, to, 1));
        assert!(!out.status.success(), "{to:?} accepted");
        let bad_key = to.trim().split(':').next().expect("a key");
        assert!(
            text(&out).contains(bad_key),
            "{to:?}: the error does not name the key:\n{}",
            text(&out)
        );
    }
}

/// The shipped configuration on free loopback ports, in front of `backends`.
struct Balancer {
    daemon: Daemon,
    _dir: tempfile::TempDir,
    otlp_grpc: u16,
    metrics: u16,
}

fn start_balancer(binary: &Path, backends: &[&Jaeger]) -> Balancer {
    let mut config = shipped();
    // The resolver block ends the file: replaced whole.
    let start = config
        .find("    resolver:\n      dns:\n")
        .expect("a DNS resolver");
    assert!(
        config[start..]
            .lines()
            .all(|l| l.is_empty() || l.starts_with("    ")),
        "the resolver block must end the file"
    );
    let mut resolver = String::from("    resolver:\n      static:\n        hostnames:\n");
    for jaeger in backends {
        resolver.push_str(&format!("          - 127.0.0.1:{}\n", jaeger.otlp_grpc));
    }
    config.replace_range(start.., &resolver);
    let mut otlp_grpc = 0;
    for port in [4317, 4318, 13133] {
        let free = support::free_port();
        if port == 4317 {
            otlp_grpc = free;
        }
        config = replace_n(
            &config,
            &format!("endpoint: 0.0.0.0:{port}"),
            &format!("endpoint: 127.0.0.1:{free}"),
            1,
        );
    }
    let metrics = support::free_port();
    config = replace_n(
        &config,
        "host: 0.0.0.0\n                port: 8888",
        &format!("host: 127.0.0.1\n                port: {metrics}"),
        1,
    );
    assert!(!config.contains("0.0.0.0"), "a listener left on 0.0.0.0");

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &config).expect("write config");
    let mut daemon = Daemon::spawn(
        "otelcol-lb",
        binary,
        &[format!("--config={}", path.display())],
        dir.path().join("otelcol.log"),
    );
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", otlp_grpc)).is_err() {
        daemon.assert_running();
        assert!(
            Instant::now() < deadline,
            "otelcol-lb did not open port {otlp_grpc} within {PATIENCE:?}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Balancer {
        daemon,
        _dir: dir,
        otlp_grpc,
        metrics,
    }
}

/// A service of the crate exporting every span to `endpoint` over OTLP/gRPC.
fn service(name: &str, endpoint: &str) -> octollm_telemetry::Telemetry {
    octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", name.to_owned()),
        ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ])
    .expect("valid variables")
    .build()
    .expect("telemetry builds")
}

/// Trace ID → the services of its spans, as one Jaeger stored them.
fn stored(jaeger: &Jaeger) -> BTreeMap<String, Vec<String>> {
    let answer = jaeger.query("/api/traces?service=lb-front&limit=10000&lookback=1h");
    let mut traces = BTreeMap::new();
    for trace in answer["data"].as_array().into_iter().flatten() {
        let processes = &trace["processes"];
        let mut services: Vec<String> = trace["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|span| span["processID"].as_str())
            .filter_map(|p| processes[p]["serviceName"].as_str().map(str::to_owned))
            .collect();
        services.sort();
        traces.insert(
            trace["traceID"].as_str().expect("a trace ID").to_owned(),
            services,
        );
    }
    traces
}

#[test]
fn the_load_balancer_sends_every_span_of_a_trace_to_the_same_collector() {
    let Some(otelcol) = support::require_tool("otelcol-lb") else {
        return;
    };
    let file = r#"{"default_strategy": {"type": "probabilistic", "param": 1.0}}"#;
    let Some(first) = Jaeger::start(Strategies::File(file)) else {
        return;
    };
    let second = Jaeger::start(Strategies::File(file)).expect("the first one started");
    let mut balancer = start_balancer(&otelcol, &[&first, &second]);
    let endpoint = format!("http://127.0.0.1:{}", balancer.otlp_grpc);

    // Two services, two exporters: the halves of each trace reach the balancer in different
    // requests, as a trace crossing services does.
    let front = service("lb-front", &endpoint);
    let back = service("lb-back", &endpoint);
    let (front_tracer, back_tracer) = (
        front.tracer_provider().tracer("lb-tier"),
        back.tracer_provider().tracer("lb-tier"),
    );
    let mut sent = BTreeSet::new();
    for _ in 0..TRACES {
        let mut root = front_tracer.start("front");
        let remote = root.span_context().clone();
        let cx = opentelemetry::Context::new().with_remote_span_context(remote.clone());
        back_tracer.start_with_context("back", &cx).end();
        root.end();
        sent.insert(remote.trace_id().to_string());
    }
    let (front_stats, back_stats) = (front.guard().stats_handle(), back.guard().stats_handle());
    front.into_guard().shutdown().expect("clean shutdown");
    back.into_guard().shutdown().expect("clean shutdown");
    assert_eq!(front_stats.get().exported_spans, TRACES as u64);
    assert_eq!(back_stats.get().exported_spans, TRACES as u64);

    let whole = vec!["lb-back".to_owned(), "lb-front".to_owned()];
    let deadline = Instant::now() + PATIENCE;
    let (on_first, on_second) = loop {
        let (a, b) = (stored(&first), stored(&second));
        let complete =
            |m: &BTreeMap<String, Vec<String>>| m.values().filter(|s| **s == whole).count();
        if complete(&a) + complete(&b) == TRACES {
            break (a, b);
        }
        balancer.daemon.assert_running();
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?}, {} + {} of {TRACES} traces whole on the two collectors; split: {:?}\n{}",
            complete(&a),
            complete(&b),
            a.keys().filter(|t| b.contains_key(*t)).take(3).collect::<Vec<_>>(),
            balancer.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (
        on_first.keys().cloned().collect(),
        on_second.keys().cloned().collect(),
    );
    assert!(
        a.is_disjoint(&b),
        "traces split across collectors: {:?}",
        a.intersection(&b).take(3).collect::<Vec<_>>()
    );
    assert_eq!(
        a.union(&b).cloned().collect::<BTreeSet<_>>(),
        sent,
        "the stored traces are the ones sent"
    );
    for (trace, services) in on_first.iter().chain(&on_second) {
        assert_eq!(services, &whole, "trace {trace}: one span per service");
    }
    // What the trace-export alert (TraceLoadBalancerExportFailing) and its runbook read.
    let exposition = http_get(balancer.metrics, "/metrics");
    let sum = |name: &str| -> f64 {
        exposition
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        sum("otelcol_exporter_sent_spans_total"),
        2.0 * TRACES as f64,
        "{exposition}"
    );
    // Its pair, otelcol_exporter_send_failed_spans_total, appears with the first span given up
    // after the retries (60 s in the shipped configuration), beyond this test's patience.
    assert_eq!(
        sum("otelcol_loadbalancer_num_backends"),
        2.0,
        "{exposition}"
    );
    assert!(
        !a.is_empty() && !b.is_empty(),
        "one collector got all {TRACES} traces ({} / {})",
        a.len(),
        b.len()
    );
}
