//! The Jaeger configuration the stack ships (`monitoring/jaeger/config.yaml`), checked by the
//! real Jaeger v2 binary, and the remote sampling settings around it.
//!
//! `jaeger validate` must accept the file with only what a test cannot have changed (the Badger
//! directories, moved to a temporary directory), and the same file, moved onto free loopback
//! ports, must start and serve the initial sampling strategy. Both edits are exact string
//! replacements that must each happen once, so a renamed key cannot slip through unchanged.
//! The sampling ports then have to agree across the configuration, the Service, the
//! StatefulSet, the NetworkPolicy and the services' settings in each overlay.
//!
//! External tool: `jaeger` (v2, built by `scripts/test.sh` from the Go module proxy). Without it
//! a test prints a loud skip message, or fails under `CI=true`.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;

use crate::support::{self, jaeger::http_get};

/// What the shipped configuration listens on, as written in it.
const LISTEN: [(&str, u16); 7] = [
    ("otlp grpc", 4317),
    ("otlp http", 4318),
    ("sampling http", 5778),
    ("sampling grpc", 5779),
    ("query http", 16686),
    ("query grpc", 16685),
    ("health", 13133),
];
/// The Prometheus reader of Jaeger's own metrics, as written in the configuration.
const METRICS_READER: &str = "host: 0.0.0.0\n                port: 8888";
/// How long Jaeger may take to open its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn monitoring() -> PathBuf {
    support::repo_root().join("monitoring")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn shipped_config() -> String {
    read(&monitoring().join("jaeger/config.yaml"))
}

/// Replaces `from` with `to`, which must occur exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} must occur once in jaeger/config.yaml"
    );
    text.replacen(from, to, 1)
}

/// The shipped configuration with its Badger directories under `dir`; nothing else changed.
fn with_badger_in(config: &str, dir: &Path) -> String {
    let config = replace_once(
        config,
        "keys: /badger/keys",
        &format!("keys: {}", dir.join("keys").display()),
    );
    replace_once(
        &config,
        "values: /badger/values",
        &format!("values: {}", dir.join("values").display()),
    )
}

fn validate(jaeger: &Path, config: &Path) -> Output {
    Command::new(jaeger)
        .arg("validate")
        .arg(format!("--config={}", config.display()))
        .output()
        .unwrap_or_else(|e| panic!("run {} validate: {e}", jaeger.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn jaeger_validate_accepts_the_shipped_configuration() {
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, with_badger_in(&shipped_config(), dir.path())).expect("write config");
    let out = validate(&jaeger, &path);
    assert!(
        out.status.success(),
        "jaeger validate rejects monitoring/jaeger/config.yaml:\n{}",
        text(&out)
    );
}

/// `validate` decodes every component's configuration strictly, so the test above would catch
/// a misspelt or removed key of the Jaeger release it runs.
#[test]
fn jaeger_validate_rejects_a_misspelt_sampling_key() {
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.yaml");
    let config = replace_once(
        &with_badger_in(&shipped_config(), dir.path()),
        "target_samples_per_second:",
        "target_samples_per_secnd:",
    );
    std::fs::write(&path, config).expect("write config");
    let out = validate(&jaeger, &path);
    assert!(
        !out.status.success() && text(&out).contains("target_samples_per_secnd"),
        "jaeger validate accepts a misspelt key:\n{}",
        text(&out)
    );
}

/// A Jaeger run in the foreground, stopped (SIGKILL, by PID) on drop.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&mut self, port: u16) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("jaeger exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "jaeger did not open port {port} within {READY_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped configuration, with Badger in a temporary directory and every listener on a
/// free loopback port, starts; its sampling endpoint serves the initial strategy (the same 10%
/// the services start with) before any traffic, and its health check reports it healthy.
#[test]
fn the_shipped_configuration_starts_and_serves_the_initial_strategy() {
    let Some(jaeger) = support::require_tool("jaeger") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = with_badger_in(&shipped_config(), dir.path());
    let mut ports = BTreeMap::new();
    for (what, port) in LISTEN {
        let free = support::free_port();
        config = replace_once(
            &config,
            &format!("endpoint: 0.0.0.0:{port}"),
            &format!("endpoint: 127.0.0.1:{free}"),
        );
        ports.insert(what, free);
    }
    config = replace_once(
        &config,
        METRICS_READER,
        &format!(
            "host: 127.0.0.1\n                port: {}",
            support::free_port()
        ),
    );
    assert!(
        !config.contains("0.0.0.0"),
        "a listener left on 0.0.0.0:\n{config}"
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("write config");
    let log = dir.path().join("jaeger.log");
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(&jaeger)
        .arg(format!("--config={}", path.display()))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("start jaeger");
    let mut running = Running { child, log };
    for port in ports.values() {
        running.wait_for(*port);
    }

    let body = http_get(ports["sampling http"], "/sampling?service=orchestrator");
    let strategy: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("strategy {body:?}: {e}"));
    let per_operation = &strategy["operationSampling"];
    assert_eq!(
        per_operation["defaultSamplingProbability"].as_f64(),
        Some(0.1),
        "the initial probability before any traffic: {strategy}"
    );
    assert!(
        per_operation["defaultLowerBoundTracesPerSecond"]
            .as_f64()
            .is_some_and(|v| (v - 1.0 / 60.0).abs() < 1e-6),
        "at least one trace a minute per operation: {strategy}"
    );
    let health = http_get(ports["health"], "/status");
    assert!(health.contains("\"healthy\":true"), "{health}");
}

// === the sampling settings around the configuration ===

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn seq(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_sequence().into_iter().flatten()
}

/// `KEY=VALUE` literals of a configMapGenerator entry.
fn literals(generator: &Value) -> BTreeMap<String, String> {
    seq(&generator["literals"])
        .map(|l| {
            let (key, value) = s(l).split_once('=').expect("KEY=VALUE literal");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// The `octollm-telemetry-env` literals of an overlay's `service-env`.
fn service_env(overlay: &str) -> BTreeMap<String, String> {
    let k = yaml(&monitoring().join(format!("overlays/{overlay}/service-env/kustomization.yaml")));
    let generators: Vec<&Value> = seq(&k["configMapGenerator"]).collect();
    assert_eq!(generators.len(), 1, "{overlay}: one generated ConfigMap");
    assert_eq!(s(&generators[0]["name"]), "octollm-telemetry-env");
    assert!(
        k.get("namespace").is_none() && generators[0].get("namespace").is_none(),
        "{overlay}: the including kustomization sets the namespace"
    );
    literals(generators[0])
}

/// `key=value` pairs of a remote sampler's `OTEL_TRACES_SAMPLER_ARG`.
fn sampler_arg(arg: &str) -> BTreeMap<&str, &str> {
    arg.split(',')
        .map(|pair| pair.split_once('=').expect("key=value"))
        .collect()
}

#[test]
fn jaeger_serves_sampling_from_the_adaptive_provider_on_its_badger_store() {
    let config = yaml(&monitoring().join("jaeger/config.yaml"));
    let extensions: Vec<&str> = seq(&config["service"]["extensions"]).map(s).collect();
    assert!(extensions.contains(&"remote_sampling"), "{extensions:?}");
    let processors: Vec<&str> = seq(&config["service"]["pipelines"]["traces"]["processors"])
        .map(s)
        .collect();
    let at = |name: &str| processors.iter().position(|p| *p == name);
    assert!(
        at("adaptive_sampling").is_some() && at("adaptive_sampling") < at("batch"),
        "adaptive_sampling counts spans before batch: {processors:?}"
    );
    let sampling = &config["extensions"]["remote_sampling"];
    assert!(s(&sampling["http"]["endpoint"]).ends_with(":5778"));
    assert!(s(&sampling["grpc"]["endpoint"]).ends_with(":5779"));
    let adaptive = &sampling["adaptive"];
    let store = s(&adaptive["sampling_store"]);
    let backend = &config["extensions"]["jaeger_storage"]["backends"][store];
    assert_eq!(
        backend["badger"]["ephemeral"].as_bool(),
        Some(false),
        "sampling_store {store:?} is the persistent Badger backend"
    );
    assert!(
        adaptive["target_samples_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(adaptive.get("file").is_none() && sampling.get("file").is_none());

    // What Jaeger serves before it has calculated anything is what the services start with.
    let initial = adaptive["initial_sampling_probability"].as_f64();
    for overlay in ["staging", "prod"] {
        let env = service_env(overlay);
        let arg = sampler_arg(&env["OTEL_TRACES_SAMPLER_ARG"]);
        assert_eq!(
            arg["initialSamplingRate"].parse::<f64>().ok(),
            initial,
            "{overlay}"
        );
    }
}

#[test]
fn the_services_reach_the_sampling_ports_through_the_collector_service() {
    let services = read(&monitoring().join("jaeger/service.yaml"));
    let collector = serde_norway::Deserializer::from_str(&services)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("YAML document"))
        .find(|o| s(&o["kind"]) == "Service" && s(&o["metadata"]["name"]) == "jaeger-collector")
        .expect("Service jaeger-collector");
    let sts = yaml(&monitoring().join("jaeger/statefulset.yaml"));
    let container_ports: BTreeMap<&str, u64> =
        seq(&sts["spec"]["template"]["spec"]["containers"][0]["ports"])
            .map(|p| (s(&p["name"]), p["containerPort"].as_u64().unwrap_or(0)))
            .collect();
    for (name, port, protocol) in [
        ("sampling-http", 5778, "http"),
        ("sampling-grpc", 5779, "grpc"),
    ] {
        let entry = seq(&collector["spec"]["ports"])
            .find(|p| s(&p["name"]) == name)
            .unwrap_or_else(|| panic!("jaeger-collector has no port {name}"));
        assert_eq!(entry["port"].as_u64(), Some(port), "{name}");
        assert_eq!(s(&entry["targetPort"]), name);
        assert_eq!(s(&entry["appProtocol"]), protocol, "{name}");
        assert_eq!(
            container_ports.get(name),
            Some(&port),
            "container port {name}"
        );
    }

    // Sampling requests come from the same pods as the spans: any pod in any namespace.
    let policy = yaml(&monitoring().join("jaeger/networkpolicy.yaml"));
    let otlp_rule = seq(&policy["spec"]["ingress"])
        .find(|rule| seq(&rule["ports"]).any(|p| p["port"].as_u64() == Some(4317)))
        .expect("an ingress rule for OTLP");
    let admitted: Vec<u64> = seq(&otlp_rule["ports"])
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(admitted, [4317, 4318, 5778, 5779]);

    // Staging and prod point the remote sampler at that Service's gRPC port; dev keeps all.
    for overlay in ["staging", "prod"] {
        let env = service_env(overlay);
        assert_eq!(env["OTEL_TRACES_SAMPLER"], "parentbased_jaeger_remote");
        let arg = sampler_arg(&env["OTEL_TRACES_SAMPLER_ARG"]);
        assert_eq!(
            arg["endpoint"], "http://jaeger-collector.octollm-monitoring.svc:5779",
            "{overlay}: gRPC endpoint, no path"
        );
        assert_eq!(arg["pollingIntervalMs"], "60000", "{overlay}");
        assert_eq!(
            env["OTEL_EXPORTER_OTLP_ENDPOINT"],
            "http://jaeger-collector.octollm-monitoring.svc:4317"
        );
    }
    let dev = service_env("dev");
    assert_eq!(dev["OTEL_TRACES_SAMPLER"], "parentbased_traceidratio");
    assert_eq!(dev["OTEL_TRACES_SAMPLER_ARG"], "1.0");
}
