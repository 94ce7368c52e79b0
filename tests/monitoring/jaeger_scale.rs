//! The traces tier of the scale overlay (`monitoring/overlays/scale/traces`): its Jaeger
//! collector and query configurations checked and run by the real Jaeger v2 binary, the
//! load-balancing collector's configuration in shape, and the tier's objects in the render.
//!
//! `jaeger validate` must accept both collector configurations (error-complete and
//! volume-capped) and the query configuration with only the environment placeholders filled
//! in, and must reject a misspelt key, so that the first check can fail. The error-complete
//! collector configuration then runs on free loopback ports with OpenSearch swapped for the
//! memory store: traces from the crate at 100% must come out of its tail sampler as configured,
//! every error and every trace over the latency threshold kept and the others at the
//! configured share. Every edit is an exact replacement whose count is asserted, so a renamed
//! key cannot slip through unchanged.
//!
//! External tools: `jaeger` (v2), `kubectl`. Without one a test prints a loud skip message, or
//! fails under `CI=true`. The load-balancing tier in front of these collectors runs in
//! `lb_tier.rs`.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Span as _, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use serde_norway::Value;

use crate::k8s::{docs, kind, kustomize, name, read_yaml, s, seq};
use crate::support::{self, daemon::Daemon, jaeger::http_get};

/// The latency threshold of the tail sampler, in ms: the VeryHighLatency alert's 5 s.
const SLO_MS: u64 = 5_000;
/// The tail sampler's share of the other traces, in percent.
const SHARE_PERCENT: f64 = 10.0;
/// The resolver's headless Service of the Jaeger collectors.
const HEADLESS: &str = "jaeger-collector-headless";
/// How long Jaeger may take to open its ports, and to store what the test sent.
const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn traces_dir() -> PathBuf {
    support::repo_root().join("monitoring/overlays/scale/traces")
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replaces every `from` with `to`; `from` must occur exactly `times` times.
pub(crate) fn replace_n(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        times,
        "{from:?} must occur {times} times"
    );
    text.replace(from, to)
}

/// A configuration with its environment placeholders filled in, each asserted to be there.
fn filled(file: &str, placeholders: &[(&str, &str)]) -> String {
    let mut config = read(&traces_dir().join(file));
    for (var, value) in placeholders {
        config = replace_n(&config, &format!("${{env:{var}}}"), value, 1);
    }
    assert!(!config.contains("${env:"), "{file}: a placeholder left");
    config
}

const OPENSEARCH: [(&str, &str); 2] = [
    ("OPENSEARCH_URL", "https://opensearch.example:9200"),
    ("OPENSEARCH_USERNAME", "octollm-jaeger"),
];
const CASSANDRA: [(&str, &str); 3] = [
    ("CASSANDRA_SERVERS", "cassandra.example"),
    ("CASSANDRA_USERNAME", "octollm-jaeger"),
    ("CASSANDRA_PASSWORD", "not-a-secret"),
];

/// Every Jaeger configuration of the tier, filled in.
fn configs() -> Vec<(&'static str, String)> {
    let all: Vec<(&str, &str)> = OPENSEARCH.iter().chain(&CASSANDRA).copied().collect();
    vec![
        (
            "collector-config.yaml",
            filled("collector-config.yaml", &OPENSEARCH),
        ),
        (
            "query-config.yaml",
            filled("query-config.yaml", &OPENSEARCH),
        ),
        (
            "volume-capped/collector-config.yaml",
            filled("volume-capped/collector-config.yaml", &all),
        ),
    ]
}

/// `binary validate --config=<config in a temporary file>` (Jaeger's and otelcol-lb's
/// subcommand alike).
pub(crate) fn validate(jaeger: &Path, config: &str) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("write config");
    Command::new(jaeger)
        .arg("validate")
        .arg(format!("--config={}", path.display()))
        .output()
        .unwrap_or_else(|e| panic!("run {} validate: {e}", jaeger.display()))
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn jaeger_validate_accepts_the_collector_and_query_configurations() {
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    for (file, config) in configs() {
        let out = validate(&jaeger, &config);
        assert!(
            out.status.success(),
            "jaeger validate rejects {file}:\n{}",
            text(&out)
        );
    }
}

/// The check above can fail: a misspelt key of the tail sampler, of the OpenSearch
/// credentials or of the adaptive sampler is rejected.
#[test]
fn jaeger_validate_rejects_a_misspelt_key_in_each_configuration() {
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    let misspelt = [
        ("collector-config.yaml", "decision_wait:", "decision_wiat:"),
        ("query-config.yaml", "password_file:", "password_fil:"),
        (
            "volume-capped/collector-config.yaml",
            "follower_lease_refresh_interval:",
            "follower_lease_refresh_intervl:",
        ),
    ];
    for ((file, config), (expected, from, to)) in configs().into_iter().zip(misspelt) {
        assert_eq!(file, expected);
        let out = validate(&jaeger, &replace_n(&config, from, to, 1));
        let key = to.trim_end_matches(':');
        assert!(
            !out.status.success() && text(&out).contains(key),
            "jaeger validate accepts {key} in {file}:\n{}",
            text(&out)
        );
    }
}

// === end to end: the crate at 100%, the shipped tail sampler, the memory store ===

/// The error-complete collector configuration on loopback ports, with the memory store in
/// place of OpenSearch and the query API added to read it, and a 2 s decision wait.
struct Collector {
    _daemon: Daemon,
    _dir: tempfile::TempDir,
    otlp_grpc: u16,
    query_http: u16,
}

fn start_collector(jaeger: &Path) -> Collector {
    let mut config = read(&traces_dir().join("collector-config.yaml"));
    // The storage block (with every placeholder of the file), up to the receivers: replaced
    // whole.
    let start = config
        .find("  jaeger_storage:\n")
        .expect("a jaeger_storage block");
    let end = config.find("\nreceivers:\n").expect("a receivers block");
    assert!(config[start..end].contains("opensearch:"));
    let query_http = support::free_port();
    let query_grpc = support::free_port();
    let memory = format!(
        "  jaeger_storage:
    backends:
      opensearch_main:
        memory:
          max_traces: 100000

  jaeger_query:
    storage:
      traces: opensearch_main
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
"
    );
    config.replace_range(start..end, &memory);
    assert!(
        !config.contains("${env:"),
        "a placeholder outside the storage block"
    );
    config = replace_n(
        &config,
        "extensions: [jaeger_storage, remote_sampling, healthcheckv2]",
        "extensions: [jaeger_storage, jaeger_query, remote_sampling, healthcheckv2]",
        1,
    );
    config = replace_n(&config, "decision_wait: 30s", "decision_wait: 2s", 1);
    let mut otlp_grpc = 0;
    for port in [4317, 4318, 5778, 5779, 13133] {
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
    config = replace_n(
        &config,
        "host: 0.0.0.0\n                port: 8888",
        &format!(
            "host: 127.0.0.1\n                port: {}",
            support::free_port()
        ),
        1,
    );
    assert!(!config.contains("0.0.0.0"), "a listener left on 0.0.0.0");

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &config).expect("write config");
    let mut daemon = Daemon::spawn(
        "jaeger",
        jaeger,
        &[format!("--config={}", path.display())],
        dir.path().join("jaeger.log"),
    );
    let deadline = Instant::now() + PATIENCE;
    for port in [otlp_grpc, query_http] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            daemon.assert_running();
            assert!(
                Instant::now() < deadline,
                "jaeger did not open port {port} within {PATIENCE:?}:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Collector {
        _daemon: daemon,
        _dir: dir,
        otlp_grpc,
        query_http,
    }
}

/// The trace IDs Jaeger stored for `service` and `operation`.
fn stored(collector: &Collector, service: &str, operation: &str) -> BTreeSet<String> {
    let body = http_get(
        collector.query_http,
        &format!("/api/traces?service={service}&operation={operation}&limit=10000&lookback=1h"),
    );
    let answer: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("query {body:?}: {e}"));
    answer["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["traceID"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_tail_sampler_keeps_every_error_every_slow_trace_and_its_share_of_the_rest() {
    const SERVICE: &str = "scale-tail";
    const ERRORS: usize = 100;
    const SLOW: usize = 100;
    const NORMAL: u64 = 2_000;
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    let collector = start_collector(&jaeger);
    let telemetry = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", SERVICE.to_owned()),
        ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", collector.otlp_grpc),
        ),
        ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "65536".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ])
    .expect("valid variables")
    .build()
    .expect("telemetry builds");
    let tracer = telemetry.tracer_provider().tracer("jaeger-scale");
    let now = SystemTime::now();
    // A root and one child, over `duration`, ending now; the trace ID in Jaeger's hex form.
    let trace = |operation: &'static str, duration: Duration, error: bool| -> String {
        let start = now - duration;
        let mut root = tracer.build(tracer.span_builder(operation).with_start_time(start));
        let cx =
            opentelemetry::Context::current().with_remote_span_context(root.span_context().clone());
        let mut child = tracer.build_with_context(
            tracer
                .span_builder("work")
                .with_start_time(start + duration / 4),
            &cx,
        );
        if error {
            child.set_status(Status::error("upstream failed"));
            root.set_status(Status::error("upstream failed"));
        }
        child.end_with_timestamp(start + duration / 2);
        root.end_with_timestamp(now);
        root.span_context().trace_id().to_string()
    };
    let slow = Duration::from_millis(SLO_MS + 1_000);
    let fast = Duration::from_millis(20);
    let errors: BTreeSet<String> = (0..ERRORS).map(|_| trace("error", fast, true)).collect();
    let slows: BTreeSet<String> = (0..SLOW).map(|_| trace("slow", slow, false)).collect();
    for _ in 0..NORMAL {
        trace("normal", fast, false);
    }
    let stats = telemetry.guard().stats_handle();
    telemetry.into_guard().shutdown().expect("clean shutdown");
    let sent = 2 * (ERRORS + SLOW) as u64 + 2 * NORMAL;
    assert_eq!(stats.get().exported_spans, sent, "every span exported");

    // Decided after 2 s, then batched: wait (bounded) until every error and slow trace is in.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (e, sl) = (
            stored(&collector, SERVICE, "error"),
            stored(&collector, SERVICE, "slow"),
        );
        if e == errors && sl == slows {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?}: {} of {ERRORS} error traces and {} of {SLOW} slow ones stored; missing errors {:?}, slow {:?}",
            e.intersection(&errors).count(),
            sl.intersection(&slows).count(),
            errors.difference(&e).take(3).collect::<Vec<_>>(),
            slows.difference(&sl).take(3).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The normal traces were decided in the same ticks; give the batch one more second.
    std::thread::sleep(Duration::from_secs(1));
    let kept = stored(&collector, SERVICE, "normal").len() as f64;
    let (n, p) = (NORMAL as f64, SHARE_PERCENT / 100.0);
    let sd = (n * p * (1.0 - p)).sqrt();
    assert!(
        (kept - n * p).abs() <= 6.0 * sd,
        "{kept} of {NORMAL} normal traces kept, expected {} ± {}",
        n * p,
        6.0 * sd
    );
}

// === the configurations around the collectors ===

#[test]
fn the_tail_sampler_keeps_errors_the_latency_slo_and_a_share_in_both_modes() {
    let rules = read(&support::repo_root().join("monitoring/prometheus/rules/critical.yaml"));
    assert!(
        rules.contains(&format!("(threshold {}s)", SLO_MS / 1000)),
        "the VeryHighLatency threshold is the tail sampler's"
    );
    for (file, adaptive) in [
        ("collector-config.yaml", false),
        ("volume-capped/collector-config.yaml", true),
    ] {
        let config = read_yaml(&traces_dir().join(file));
        let processors: Vec<&str> = seq(&config["service"]["pipelines"]["traces"]["processors"])
            .map(s)
            .collect();
        let expected: &[&str] = if adaptive {
            &[
                "memory_limiter",
                "adaptive_sampling",
                "tail_sampling",
                "batch",
            ]
        } else {
            &["memory_limiter", "tail_sampling", "batch"]
        };
        assert_eq!(processors, expected, "{file}");
        let tail = &config["processors"]["tail_sampling"];
        let policies: Vec<&Value> = seq(&tail["policies"]).collect();
        assert_eq!(policies.len(), 3, "{file}");
        assert_eq!(s(&policies[0]["type"]), "status_code");
        assert_eq!(
            seq(&policies[0]["status_code"]["status_codes"])
                .map(s)
                .collect::<Vec<_>>(),
            ["ERROR"]
        );
        assert_eq!(s(&policies[1]["type"]), "latency");
        assert_eq!(
            policies[1]["latency"]["threshold_ms"].as_u64(),
            Some(SLO_MS)
        );
        assert_eq!(s(&policies[2]["type"]), "probabilistic");
        assert_eq!(
            policies[2]["probabilistic"]["sampling_percentage"].as_f64(),
            Some(SHARE_PERCENT)
        );
        // Room for the traces that wait: at least twice the expected rate times the wait.
        let wait: u64 = s(&tail["decision_wait"])
            .trim_end_matches('s')
            .parse()
            .expect("decision_wait in seconds");
        let rate = tail["expected_new_traces_per_sec"].as_u64().unwrap_or(0);
        assert!(tail["num_traces"].as_u64().unwrap_or(0) >= 2 * rate * wait);

        let sampling = &config["extensions"]["remote_sampling"];
        if adaptive {
            let store = s(&sampling["adaptive"]["sampling_store"]);
            let backend = &config["extensions"]["jaeger_storage"]["backends"][store];
            assert!(
                backend.get("cassandra").is_some(),
                "{file}: the adaptive state needs a store with a lock"
            );
        } else {
            assert_eq!(
                sampling["file"]["default_sampling_probability"].as_f64(),
                Some(1.0)
            );
        }
    }
}

#[test]
fn the_load_balancer_routes_by_trace_id_to_the_headless_collectors() {
    let config = read_yaml(&traces_dir().join("otel-lb-config.yaml"));
    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(
        seq(&pipeline["receivers"]).map(s).collect::<Vec<_>>(),
        ["otlp"]
    );
    assert_eq!(
        seq(&pipeline["exporters"]).map(s).collect::<Vec<_>>(),
        ["loadbalancing"]
    );
    let protocols = &config["receivers"]["otlp"]["protocols"];
    assert_eq!(s(&protocols["grpc"]["endpoint"]), "0.0.0.0:4317");
    assert_eq!(s(&protocols["http"]["endpoint"]), "0.0.0.0:4318");
    let lb = &config["exporters"]["loadbalancing"];
    assert_eq!(s(&lb["routing_key"]), "traceID");
    let dns = &lb["resolver"]["dns"];
    assert_eq!(
        s(&dns["hostname"]),
        format!("{HEADLESS}.octollm-monitoring.svc.cluster.local")
    );
    // A string: the exporter's `port` is one, and a number fails `otelcol-lb validate`
    // (tests/monitoring/lb_tier.rs).
    assert_eq!(dns["port"].as_str(), Some("4317"));
    assert!(lb["protocol"]["otlp"].get("endpoint").is_none());
}

// === the render ===

fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind(o) == kind_ && name(o) == name_)
        .unwrap_or_else(|| panic!("scale renders no {kind_}/{name_}"))
}

/// True when every pair of `pairs` is among `labels`.
fn matches(pairs: &Value, labels: &Value) -> bool {
    let pairs = pairs.as_mapping().cloned().unwrap_or_default();
    !pairs.is_empty() && pairs.iter().all(|(k, v)| labels[s(k)] == *v)
}

#[test]
fn the_scale_overlay_runs_the_traces_tier_with_no_single_replica() {
    let Some(yaml) = kustomize("overlays/scale") else {
        return;
    };
    let objects = docs(&yaml);
    assert!(
        !objects
            .iter()
            .any(|o| kind(o) == "StatefulSet" && name(o) == "jaeger"),
        "the single Jaeger is gone"
    );
    for deployment in ["otel-lb", "jaeger-collector", "jaeger-query"] {
        let d = find(&objects, "Deployment", deployment);
        let pod = &d["spec"]["template"]["metadata"]["labels"];
        assert!(
            d["spec"]["replicas"].as_u64().unwrap_or(0) >= 2,
            "{deployment}"
        );
        assert!(
            objects.iter().any(|o| kind(o) == "PodDisruptionBudget"
                && matches(&o["spec"]["selector"]["matchLabels"], pod)),
            "{deployment}: no PodDisruptionBudget"
        );
        assert!(
            objects.iter().any(|o| kind(o) == "NetworkPolicy"
                && matches(&o["spec"]["podSelector"]["matchLabels"], pod)),
            "{deployment}: no NetworkPolicy"
        );
        let required = &d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"];
        assert!(
            seq(required).any(|t| s(&t["topologyKey"]) == "kubernetes.io/hostname"
                && matches(&t["labelSelector"]["matchLabels"], pod)),
            "{deployment}: no required hostname anti-affinity"
        );
    }
    let pods = |deployment: &str| {
        find(&objects, "Deployment", deployment)["spec"]["template"]["metadata"]["labels"].clone()
    };
    let selects = |service: &str, deployment: &str| {
        matches(
            &find(&objects, "Service", service)["spec"]["selector"],
            &pods(deployment),
        )
    };
    // The services' OTLP endpoint is the load balancers' now; sampling goes to the collectors.
    assert!(selects("jaeger-collector", "otel-lb"));
    assert!(!selects("jaeger-collector", "jaeger-collector"));
    let ports = |service: &str| -> Vec<u64> {
        seq(&find(&objects, "Service", service)["spec"]["ports"])
            .filter_map(|p| p["port"].as_u64())
            .collect()
    };
    assert_eq!(ports("jaeger-collector"), [4317, 4318]);
    assert!(selects("jaeger-sampling", "jaeger-collector"));
    assert_eq!(ports("jaeger-sampling"), [5778, 5779]);
    assert!(selects("jaeger-query", "jaeger-query"));
    assert!(!selects("jaeger-query", "jaeger-collector"));
    // The resolver's Service: headless, over the collectors.
    let headless = find(&objects, "Service", HEADLESS);
    assert_eq!(s(&headless["spec"]["clusterIP"]), "None");
    assert!(selects(HEADLESS, "jaeger-collector"));
    assert_eq!(ports(HEADLESS), [4317]);
    let lb_config = objects
        .iter()
        .find(|o| kind(o) == "ConfigMap" && name(o).starts_with("otel-lb-config-"))
        .expect("the otel-lb configuration");
    let lb: Value =
        serde_norway::from_str(s(&lb_config["data"]["config.yaml"])).expect("otel-lb config");
    let hostname = s(&lb["exporters"]["loadbalancing"]["resolver"]["dns"]["hostname"]);
    assert_eq!(hostname.split('.').next(), Some(HEADLESS));
    // Retention: the cleaner keeps 7 days of the collectors' index prefix.
    let cleaner = find(&objects, "CronJob", "jaeger-es-index-cleaner");
    let container = &cleaner["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(s(&container["args"][0]), "7");
    let collector_config = objects
        .iter()
        .find(|o| kind(o) == "ConfigMap" && name(o).starts_with("jaeger-collector-config-"))
        .expect("the collector configuration");
    let jaeger: Value = serde_norway::from_str(s(&collector_config["data"]["config.yaml"]))
        .expect("collector config");
    let prefix = s(
        &jaeger["extensions"]["jaeger_storage"]["backends"]["opensearch_main"]["opensearch"]
            ["indices"]["index_prefix"],
    );
    assert!(
        seq(&container["env"]).any(|e| s(&e["name"]) == "INDEX_PREFIX" && s(&e["value"]) == prefix)
    );
}
