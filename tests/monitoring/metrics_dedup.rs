//! The scale overlay's long-term metrics path (`monitoring/overlays/scale/metrics`): both
//! Prometheus replicas `remote_write` to single-node VictoriaMetrics without their `replica`
//! label, VictoriaMetrics keeps one sample per series per `-dedup.minScrapeInterval`, and
//! Grafana's `prometheus` data source queries it.
//!
//! As rendered: the StatefulSet and its headless governing Service, the dedup interval equal to
//! the scrape interval, the write URL naming the Service and port, the label dropped at write
//! time, the data source on VictoriaMetrics and otherwise the base's, and the NetworkPolicy.
//!
//! Run for real on loopback: VictoriaMetrics with the shipped flags (the dedup interval set to
//! the test's scrape interval) and two Prometheus replicas, `replica: a` and `replica: b`, that
//! scrape one counter served by the test and write with the shipped `write_relabel_configs`.
//! Checked through VictoriaMetrics' query API: one series without a `replica` label although
//! both replicas wrote it, one sample per scrape interval rather than two, and with one
//! replica stopped by PID the samples keep coming at the same rate. Prometheus is whatever
//! `prometheus` is on `PATH` (Debian's 2.42 under `scripts/test.sh`; the stack runs 3.x): both
//! apply external labels before `write_relabel_configs`. Every port is a free loopback port,
//! every wait is bounded in attempts and time, and every process is stopped by PID.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use serde_norway::Value;

use crate::k8s::{docs, generated_configmap, kind, kustomize, monitoring, name, read_yaml, s, seq};
use crate::support::{self, daemon::Daemon};

const NAMESPACE: &str = "octollm-monitoring";
/// The metric the test's target serves.
const METRIC: &str = "octollm_dedup_test_total";
/// The scrape interval of the replicas and VictoriaMetrics' dedup interval in the test.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// The window `count_over_time` counts samples in: ten scrape intervals.
const WINDOW_SECONDS: u64 = 10;
const POLL: Duration = Duration::from_millis(250);

// === as rendered ===

fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind(o) == kind_ && name(o) == name_)
        .unwrap_or_else(|| panic!("scale renders no {kind_}/{name_}"))
}

/// The value of a `-flag=value` argument of the container.
fn flag<'a>(container: &'a Value, flag: &str) -> Option<&'a str> {
    let prefix = format!("-{flag}=");
    seq(&container["args"]).find_map(|a| s(a).strip_prefix(prefix.as_str()))
}

fn victoria_metrics_container(objects: &[Value]) -> &Value {
    let sts = find(objects, "StatefulSet", "victoria-metrics");
    seq(&sts["spec"]["template"]["spec"]["containers"])
        .find(|c| s(&c["name"]) == "victoria-metrics")
        .expect("a victoria-metrics container")
}

/// The labels `selector` (a Service's) picks are all on the StatefulSet's pods.
fn selects(selector: &Value, sts: &Value) -> bool {
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    selector
        .as_mapping()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels[s(k)] == *v))
}

fn mounted(objects: &[Value], configmap: &str, key: &str) -> Value {
    let cm = generated_configmap(objects, configmap);
    serde_norway::from_str(s(&cm["data"][key])).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The data source with `uid` in a provisioning file.
fn datasource<'a>(provisioning: &'a Value, uid: &str) -> &'a Value {
    seq(&provisioning["datasources"])
        .find(|d| s(&d["uid"]) == uid)
        .unwrap_or_else(|| panic!("no data source {uid}"))
}

#[test]
fn both_replicas_write_to_one_deduplicating_victoria_metrics_that_grafana_queries() {
    let Some(yaml) = kustomize("overlays/scale") else {
        return;
    };
    let objects = docs(&yaml);
    let sts = find(&objects, "StatefulSet", "victoria-metrics");
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(seq(&sts["spec"]["volumeClaimTemplates"]).count(), 1);
    let headless = find(&objects, "Service", s(&sts["spec"]["serviceName"]));
    assert_eq!(s(&headless["spec"]["clusterIP"]), "None");
    assert!(selects(&headless["spec"]["selector"], sts));

    // One sample per scrape interval survives of the two the replicas write.
    let prometheus = mounted(&objects, "prometheus-config", "prometheus.yml");
    let container = victoria_metrics_container(&objects);
    assert_eq!(
        flag(container, "dedup.minScrapeInterval"),
        Some(s(&prometheus["global"]["scrape_interval"])),
        "-dedup.minScrapeInterval is the scrape interval"
    );
    assert!(flag(container, "retentionPeriod").is_some());
    let port = seq(&container["ports"])
        .find(|p| s(&p["name"]) == "http")
        .and_then(|p| p["containerPort"].as_u64())
        .expect("an http port");
    assert_eq!(
        flag(container, "httpListenAddr"),
        Some(&*format!(":{port}"))
    );

    // Both replicas write there, through the ClusterIP Service, without `replica`.
    let service = find(&objects, "Service", "victoria-metrics");
    assert_ne!(s(&service["spec"]["clusterIP"]), "None");
    assert!(selects(&service["spec"]["selector"], sts));
    assert!(seq(&service["spec"]["ports"]).any(|p| p["port"].as_u64() == Some(port)));
    let base_url = format!("http://victoria-metrics.{NAMESPACE}.svc:{port}");
    let writes: Vec<&Value> = seq(&prometheus["remote_write"]).collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(s(&writes[0]["url"]), format!("{base_url}/api/v1/write"));
    assert!(
        seq(&writes[0]["write_relabel_configs"])
            .any(|r| s(&r["action"]) == "labeldrop" && s(&r["regex"]) == "replica"),
        "no labeldrop of `replica` in write_relabel_configs"
    );
    assert!(!prometheus["global"]["external_labels"]["replica"].is_null());

    // Grafana's `prometheus` data source is VictoriaMetrics, and both Grafana replicas mount it.
    let provisioning = mounted(&objects, "grafana-datasources", "datasources.yaml");
    assert_eq!(s(&datasource(&provisioning, "prometheus")["url"]), base_url);
    let cm = name(generated_configmap(&objects, "grafana-datasources"));
    let grafana = find(&objects, "Deployment", "grafana");
    assert!(
        seq(&grafana["spec"]["template"]["spec"]["volumes"])
            .any(|v| s(&v["configMap"]["name"]) == cm),
        "Grafana mounts {cm}"
    );

    // Only Prometheus and Grafana reach it, on its port; Grafana may leave for it.
    let policy = find(&objects, "NetworkPolicy", "victoria-metrics");
    assert!(selects(&policy["spec"]["podSelector"]["matchLabels"], sts));
    let ingress: Vec<&Value> = seq(&policy["spec"]["ingress"]).collect();
    assert_eq!(ingress.len(), 1);
    let from: Vec<&str> = seq(&ingress[0]["from"])
        .map(|f| s(&f["podSelector"]["matchLabels"]["app.kubernetes.io/name"]))
        .collect();
    assert_eq!(from, ["prometheus", "grafana"]);
    assert!(seq(&ingress[0]["ports"]).all(|p| p["port"].as_u64() == Some(port)));
    let egress = find(&objects, "NetworkPolicy", "grafana-victoria-metrics");
    assert!(seq(&egress["spec"]["egress"]).any(|e| {
        seq(&e["ports"]).any(|p| p["port"].as_u64() == Some(port))
            && seq(&e["to"]).any(|t| selects(&t["podSelector"]["matchLabels"], sts))
    }));
}

#[test]
fn the_scale_data_sources_are_the_base_ones_but_for_the_prometheus_url() {
    let mut base = read_yaml(&monitoring().join("grafana/provisioning/datasources.yaml"));
    let mut scale = read_yaml(&monitoring().join("overlays/scale/metrics/datasources.yaml"));
    let url = |v: &mut Value| -> Option<Value> {
        v["datasources"]
            .as_sequence_mut()?
            .iter_mut()
            .find(|d| d["uid"].as_str() == Some("prometheus"))?
            .as_mapping_mut()?
            .remove("url")
    };
    assert_eq!(
        url(&mut base),
        Some(Value::from("http://prometheus.octollm-monitoring.svc:9090"))
    );
    assert!(url(&mut scale).is_some());
    assert_eq!(
        base, scale,
        "overlays/scale/metrics/datasources.yaml must equal grafana/provisioning/datasources.yaml \
         except for the Prometheus data source's URL: carry the base's change over"
    );
}

// === the target: one counter ===

/// Serves `octollm_dedup_test_total <scrapes so far>` on every request.
struct Target {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Target {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the target");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = AtomicU64::new(0);
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
                            serve(stream, &format!("# TYPE {METRIC} counter\n{METRIC} {n}\n"));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request head, answers `body`, closes.
fn serve(mut stream: TcpStream, body: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// === HTTP on loopback ===

/// A plain HTTP/1.0 GET (never chunked): status and body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query's result vector (`/api/v1/query`), evaluated at `at` (Unix seconds).
fn query(port: u16, expr: &str, at: f64) -> Vec<Json> {
    let path = format!(
        "/api/v1/query?query={}&time={at:.3}&nocache=1",
        encode(expr)
    );
    match get(port, &path) {
        Ok((200, body)) => serde_json::from_str::<Json>(&body)
            .ok()
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The single value of an instant query, if it returned exactly one series.
fn scalar(port: u16, expr: &str, at: f64) -> Option<f64> {
    match query(port, expr, at).as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// Polls `check` every [`POLL`] until it holds: at most `timeout` and its number of polls.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    for _ in 0..=timeout.as_millis() / POLL.as_millis() {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    false
}

// === the daemons ===

/// The shipped StatefulSet's flags, but for where it listens and stores and the dedup interval,
/// which become loopback, a temporary folder and the test's scrape interval.
fn start_victoria_metrics(binary: &Path, dir: &Path, port: u16) -> Daemon {
    let sts = read_yaml(&monitoring().join("overlays/scale/metrics/statefulset.yaml"));
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let replaced = [
        "-httpListenAddr=",
        "-storageDataPath=",
        "-dedup.minScrapeInterval=",
    ];
    let mut args: Vec<String> = seq(&container["args"])
        .map(|a| s(a).to_owned())
        .filter(|a| !replaced.iter().any(|r| a.starts_with(r)))
        .collect();
    assert!(args.iter().any(|a| a.starts_with("-retentionPeriod=")));
    args.extend([
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!(
            "-storageDataPath={}",
            dir.join("victoria-metrics").display()
        ),
        format!("-dedup.minScrapeInterval={}s", SCRAPE_INTERVAL.as_secs()),
        // Queries see samples as soon as they are written, not 30 s later (the default).
        "-search.latencyOffset=0s".to_owned(),
        "-search.disableCache".to_owned(),
    ]);
    let mut daemon = Daemon::spawn(
        "victoria-metrics",
        binary,
        &args,
        dir.join("victoria-metrics.log"),
    );
    let ready = eventually(Duration::from_secs(30), || {
        daemon.assert_running();
        matches!(get(port, "/health"), Ok((200, _)))
    });
    assert!(ready, "victoria-metrics not ready:\n{}", daemon.log());
    daemon
}

/// The shipped `remote_write` block, its URL on loopback and batches sent each second.
fn shipped_remote_write(vm_port: u16) -> String {
    let config = read_yaml(&monitoring().join("overlays/scale/prometheus.yml"));
    let mut writes = config["remote_write"].clone();
    for w in writes.as_sequence_mut().expect("remote_write entries") {
        let w = w.as_mapping_mut().expect("a remote_write entry");
        w.insert(
            "url".into(),
            format!("http://127.0.0.1:{vm_port}/api/v1/write").into(),
        );
        let queue: Value = serde_norway::from_str("batch_send_deadline: 1s").expect("queue_config");
        w.insert("queue_config".into(), queue);
    }
    let text = serde_norway::to_string(&writes).expect("serialize");
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn start_prometheus(
    binary: &Path,
    dir: &Path,
    replica: &str,
    target: u16,
    vm: u16,
) -> (Daemon, u16) {
    let dir = dir.join(format!("prometheus-{replica}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:
  scrape_interval: {interval}s
  external_labels:
    replica: {replica}
remote_write:
{writes}scrape_configs:
  - job_name: dedup
    static_configs:
      - targets: ['127.0.0.1:{target}']
",
            interval = SCRAPE_INTERVAL.as_secs(),
            writes = shipped_remote_write(vm),
        ),
    )
    .expect("write prometheus.yml");
    let web = support::free_port();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{web}"),
    ];
    let mut daemon = Daemon::spawn(
        &format!("prometheus-{replica}"),
        binary,
        &args,
        dir.join("prometheus.log"),
    );
    let ready = eventually(Duration::from_secs(30), || {
        daemon.assert_running();
        matches!(get(web, "/-/ready"), Ok((200, _)))
    });
    assert!(ready, "prometheus-{replica} not ready:\n{}", daemon.log());
    (daemon, web)
}

/// Samples a replica has sent over remote_write, from its own `/metrics` (the counter's name
/// in 2.x and 3.x).
fn samples_sent(web: u16) -> f64 {
    let Ok((200, text)) = get(web, "/metrics") else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with("prometheus_remote_storage_samples_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (bounded) for the newest sample of [`METRIC`] to be later than `after` (Unix seconds)
/// and returns its timestamp.
fn wait_for_sample_after(port: u16, after: f64, vm: &Daemon, replicas: &[&Daemon]) -> f64 {
    let timeout = Duration::from_secs(30) + Duration::from_secs_f64((after - now()).max(0.0));
    let mut newest = None;
    let found = eventually(timeout, || {
        newest = scalar(port, &format!("timestamp({METRIC})"), now());
        newest.is_some_and(|t| t > after)
    });
    assert!(
        found,
        "no {METRIC} sample after {after} within {timeout:?} (newest {newest:?}):\n{}",
        report(vm, replicas)
    );
    newest.expect("a sample")
}

fn report(vm: &Daemon, replicas: &[&Daemon]) -> String {
    let mut out = format!("--- {}\n{}\n", vm.name(), vm.log());
    for r in replicas {
        out += &format!("--- {}\n{}\n", r.name(), r.log());
    }
    out
}

// === the test ===

#[test]
fn an_ha_pair_writes_one_deduplicated_series_that_survives_a_stopped_replica() {
    let Some(victoria_metrics) = support::require_tool("victoria-metrics") else {
        return;
    };
    let Some(prometheus) = support::require_tool("prometheus") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = Target::start();
    let vm_port = support::free_port();
    let vm = start_victoria_metrics(&victoria_metrics, tmp.path(), vm_port);
    let (mut a, a_web) = start_prometheus(&prometheus, tmp.path(), "a", target.port, vm_port);
    let (b, b_web) = start_prometheus(&prometheus, tmp.path(), "b", target.port, vm_port);

    // (a) Both replicas write, for a whole window; VictoriaMetrics holds one series of it,
    // without the replica label.
    let both_wrote = eventually(Duration::from_secs(30), || {
        samples_sent(a_web) > 0.0 && samples_sent(b_web) > 0.0
    });
    assert!(
        both_wrote,
        "a replica sends nothing:\n{}",
        report(&vm, &[&a, &b])
    );
    let sent = (samples_sent(a_web), samples_sent(b_web));
    let first = wait_for_sample_after(vm_port, 0.0, &vm, &[&a, &b]);
    let at = wait_for_sample_after(vm_port, first + (WINDOW_SECONDS + 1) as f64, &vm, &[&a, &b]);
    assert!(
        samples_sent(a_web) > sent.0 && samples_sent(b_web) > sent.1,
        "both replicas write throughout the window"
    );
    let series = query(vm_port, METRIC, at);
    assert_eq!(series.len(), 1, "one series for the pair: {series:#?}");
    let labels = series[0]["metric"].as_object().expect("labels");
    assert!(!labels.contains_key("replica"), "{labels:?}");
    assert_eq!(labels["job"], "dedup", "{labels:?}");

    // (b) One sample per scrape interval although two replicas scrape and write: about
    // WINDOW_SECONDS samples in the window up to the last sample (a few scrapes fewer on a busy
    // machine), where both copies would be twice that.
    let window = format!("count_over_time({METRIC}[{WINDOW_SECONDS}s])");
    let expected = (WINDOW_SECONDS / SCRAPE_INTERVAL.as_secs()) as f64;
    let in_window = |at: f64| scalar(vm_port, &window, at).expect("count_over_time");
    let samples = in_window(at);
    assert!(
        (expected - 3.0..=expected + 1.0).contains(&samples),
        "{samples} samples in {WINDOW_SECONDS}s at a {SCRAPE_INTERVAL:?} interval; \
         twice {expected} means the copies were not deduplicated: {:#?}\n{}",
        query(vm_port, &format!("{METRIC}[{WINDOW_SECONDS}s]"), at),
        report(&vm, &[&a, &b])
    );

    // (c) Replica a stops (SIGTERM by PID): b's samples keep arriving, one per interval, for a
    // whole window after the stop.
    a.stop();
    let stopped = now();
    let at = wait_for_sample_after(vm_port, stopped + (WINDOW_SECONDS + 1) as f64, &vm, &[&b]);
    let samples = in_window(at);
    assert!(
        (expected - 3.0..=expected + 1.0).contains(&samples),
        "{samples} samples in the {WINDOW_SECONDS}s after replica a stopped: {:#?}\n{}",
        query(vm_port, &format!("{METRIC}[{WINDOW_SECONDS}s]"), at),
        report(&vm, &[&a, &b])
    );
    assert_eq!(query(vm_port, METRIC, at).len(), 1);

    drop(b);
    drop(a);
    drop(vm);
    drop(target);
}
