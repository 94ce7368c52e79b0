//! The scale overlay's alert path, run for real on loopback: three Alertmanager peers in one
//! gossip cluster and two Prometheus replicas that evaluate the same rules, label their
//! alerts with their replica, drop that label with the overlay's own `alert_relabel_configs`
//! (read from `monitoring/overlays/scale/prometheus.yml`) and send every alert to every peer.
//! A webhook in the test records the notifications and serves the metric the rules read.
//!
//! Checked: one notification per alert group although six copies of the alert arrive; a silence
//! created on one peer reaches the others and mutes a new alert; with the peer that notified
//! killed, a new alert is still notified, once.
//!
//! The peers use the overlay's cluster flags with loopback addresses, and shorter gossip,
//! push-pull and peer timeouts so the test runs in well under a minute. Prometheus is whatever
//! `prometheus` is on `PATH` (Debian's 2.42 under `scripts/test.sh`; the stack runs 3.x):
//! external labels, alert relabelling and static Alertmanager targets behave the same in both.
//! Every port is a free loopback port, every wait is bounded in attempts and time, and every
//! process is stopped by PID when the test ends.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::support::{self, daemon::Daemon};

/// Each peer waits `position × PEER_TIMEOUT` before it notifies, unless the notification log
/// gossiped by a peer before it shows the group as notified.
const PEER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Long enough for the third peer's turn (two peer timeouts) to pass, with room for a busy
/// machine: a duplicate notification would have come by then.
const GRACE: Duration = Duration::from_millis(2 * 1500 + 2000);
/// From a switch turned on to its notification: a scrape, an evaluation, the group wait and,
/// when the first peers are gone, their turns.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

// === the webhook and the switches ===

/// The webhook receiver: records each notification (JSON) it is sent, and serves
/// `octollm_ha_switch{name="<n>"} 1` on `/metrics` for every switch turned on.
struct Webhook {
    port: u16,
    notifications: Arc<Mutex<Vec<Value>>>,
    switches: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local address").port();
        let notifications = Arc::new(Mutex::new(Vec::new()));
        let switches = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (notifications, switches, stop) =
                (notifications.clone(), switches.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &notifications, &switches),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self {
            port,
            notifications,
            switches,
            stop,
            thread: Some(thread),
        }
    }

    fn turn_on(&self, name: &str) {
        self.switches.lock().unwrap().insert(name.to_owned());
    }

    /// The notifications so far whose group carries `name` (the `name` label, or `alertname`
    /// for the group without one).
    fn notifications_for(&self, key: (&str, &str)) -> Vec<Value> {
        self.notifications
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n["groupLabels"][key.0].as_str() == Some(key.1))
            .cloned()
            .collect()
    }

    /// Waits (bounded) for the first notification of a group and returns it; panics with
    /// every daemon's log and every peer's alerts otherwise.
    fn wait_for(&self, key: (&str, &str), peers: &[Peer], replicas: &[Daemon]) -> Value {
        let mut found = None;
        eventually(NOTIFY_TIMEOUT, || {
            found = self.notifications_for(key).into_iter().next();
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no notification for {key:?} within {NOTIFY_TIMEOUT:?}; got {:#?}\n{}",
                self.notifications.lock().unwrap(),
                report(peers, replicas)
            )
        })
    }
}

/// Every peer's alerts and every daemon's log, for a failure message.
fn report(peers: &[Peer], replicas: &[Daemon]) -> String {
    let mut out = String::new();
    for peer in peers {
        out += &format!(
            "--- {} alerts: {:#}\n{}\n",
            peer.daemon.name(),
            get_json(peer.web, "/api/v2/alerts").unwrap_or_default(),
            peer.daemon.log()
        );
    }
    for replica in replicas {
        out += &format!("--- {}\n{}\n", replica.name(), replica.log());
    }
    out
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP/1.1 exchange, then close: `POST /notify` records, `GET /metrics` serves switches.
fn serve(
    mut stream: TcpStream,
    notifications: &Mutex<Vec<Value>>,
    switches: &Mutex<BTreeSet<String>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body_start) = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&raw[..at]).into_owned(), at + 4);
        }
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while raw.len() < body_start + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let body = if head.starts_with("POST /notify") {
        let json = serde_json::from_slice(&raw[body_start..body_start + length])
            .unwrap_or_else(|e| Value::String(format!("unparsable notification: {e}")));
        notifications.lock().unwrap().push(json);
        String::new()
    } else {
        switches
            .lock()
            .unwrap()
            .iter()
            .map(|name| format!("octollm_ha_switch{{name=\"{name}\"}} 1\n"))
            .collect()
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// === Alertmanager's API ===

/// A plain HTTP/1.0 request (never chunked) on loopback: status and body.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
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

fn get_json(port: u16, path: &str) -> Option<Value> {
    match http(port, "GET", path) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// One Alertmanager peer.
struct Peer {
    web: u16,
    daemon: Daemon,
}

impl Peer {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web)
    }

    /// The alerts this peer holds whose labels include `labels`.
    fn alerts(&self, labels: &[(&str, &str)]) -> Vec<Value> {
        get_json(self.web, "/api/v2/alerts")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| {
                labels
                    .iter()
                    .all(|(k, v)| a["labels"][*k].as_str() == Some(*v))
            })
            .collect()
    }
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

fn start_peers(binary: &Path, dir: &Path, webhook: u16) -> Vec<Peer> {
    let config = dir.join("alertmanager.yml");
    // Each switch its own group; a group notifies once and is not repeated within the test.
    std::fs::write(
        &config,
        format!(
            "route:
  receiver: webhook
  group_by: [alertname, name]
  group_wait: 1s
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:{webhook}/notify
        send_resolved: false
"
        ),
    )
    .expect("write alertmanager.yml");
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| (support::free_port(), support::free_port()))
        .collect();
    ports
        .iter()
        .enumerate()
        .map(|(i, &(web, mesh))| {
            let storage = dir.join(format!("alertmanager-{i}"));
            let mut args = vec![
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", storage.display()),
                format!("--web.listen-address=127.0.0.1:{web}"),
                // The notifications name their sender by this URL.
                format!("--web.external-url=http://127.0.0.1:{web}"),
                // As in overlays/scale/alertmanager.yaml, on loopback.
                format!("--cluster.listen-address=127.0.0.1:{mesh}"),
                format!("--cluster.advertise-address=[127.0.0.1]:{mesh}"),
                "--cluster.gossip-interval=50ms".to_owned(),
                "--cluster.pushpull-interval=1s".to_owned(),
                format!("--cluster.peer-timeout={}ms", PEER_TIMEOUT.as_millis()),
                "--cluster.settle-timeout=10s".to_owned(),
            ];
            args.extend(
                ports
                    .iter()
                    .map(|(_, peer)| format!("--cluster.peer=127.0.0.1:{peer}")),
            );
            let log = dir.join(format!("alertmanager-{i}.log"));
            Peer {
                web,
                daemon: Daemon::spawn(&format!("alertmanager-{i}"), binary, &args, log),
            }
        })
        .collect()
}

/// Waits (bounded) until every peer is ready and sees the three members.
fn wait_for_cluster(peers: &mut [Peer]) {
    for peer in peers.iter_mut() {
        let ready = eventually(Duration::from_secs(20), || {
            peer.daemon.assert_running();
            get_json(peer.web, "/api/v2/status").is_some_and(|s| {
                s["cluster"]["status"] == "ready"
                    && s["cluster"]["peers"].as_array().map(Vec::len) == Some(3)
            })
        });
        let status = get_json(peer.web, "/api/v2/status");
        assert!(
            ready,
            "{} not in a ready cluster of three: {:#}\n{}",
            peer.daemon.name(),
            status.unwrap_or_default()["cluster"],
            peer.daemon.log()
        );
        // The series AlertmanagerClusterMembersInconsistent compares across the peers.
        let exposition = http(peer.web, "GET", "/metrics").map(|(_, body)| body);
        let members = exposition.as_deref().ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("alertmanager_cluster_members "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        assert_eq!(
            members,
            Some(3.0),
            "{}: alertmanager_cluster_members",
            peer.daemon.name()
        );
    }
}

// === Prometheus ===

/// The scale overlay's alert relabelling and the external label it drops.
fn shipped_alert_relabelling() -> Yaml {
    let path = support::repo_root().join("monitoring/overlays/scale/prometheus.yml");
    let text = std::fs::read_to_string(&path).expect("read the scale prometheus.yml");
    let config: Yaml = serde_norway::from_str(&text).expect("parse the scale prometheus.yml");
    assert!(
        !config["global"]["external_labels"]["replica"].is_null(),
        "the scale overlay labels each replica with `replica`"
    );
    config["alerting"]["alert_relabel_configs"].clone()
}

fn start_prometheus(
    binary: &Path,
    dir: &Path,
    replica: &str,
    peers: &[Peer],
    webhook: u16,
) -> Daemon {
    let dir = dir.join(format!("prometheus-{replica}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:
  - name: ha
    interval: 1s
    rules:
      - alert: HaAlwaysFiring
        expr: vector(1)
      - alert: HaSwitch
        expr: octollm_ha_switch == 1
",
    )
    .expect("write the rules");
    let relabel = serde_norway::to_string(&shipped_alert_relabelling()).expect("serialize");
    let relabel: String = relabel.lines().map(|l| format!("    {l}\n")).collect();
    let targets: Vec<String> = peers
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.web))
        .collect();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    replica: {replica}
rule_files: [{rules}]
alerting:
  alert_relabel_configs:
{relabel}  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: [{targets}]
scrape_configs:
  - job_name: switches
    static_configs:
      - targets: ['127.0.0.1:{webhook}']
",
            rules = rules.display(),
            targets = targets.join(", "),
        ),
    )
    .expect("write prometheus.yml");
    let web = support::free_port();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{web}"),
        // Prometheus applies discovered Alertmanagers (static ones too) every 5 s, and drops
        // what it sends before; resending each second, not each minute, covers that start.
        "--rules.alert.resend-delay=1s".to_owned(),
    ];
    let mut daemon = Daemon::spawn(
        &format!("prometheus-{replica}"),
        binary,
        &args,
        dir.join("prometheus.log"),
    );
    let ready = eventually(Duration::from_secs(20), || {
        daemon.assert_running();
        matches!(http(web, "GET", "/-/ready"), Ok((200, _)))
    });
    assert!(ready, "prometheus-{replica} not ready:\n{}", daemon.log());
    daemon
}

// === the test ===

fn sender(notification: &Value) -> String {
    notification["externalURL"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

#[test]
fn three_peers_and_two_replicas_notify_once_share_silences_and_survive_a_lost_peer() {
    let Some(amtool) = support::require_tool("amtool") else {
        return;
    };
    let Some(alertmanager) = support::daemon::alertmanager() else {
        return;
    };
    let Some(prometheus) = support::require_tool("prometheus") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let webhook = Webhook::start();
    let mut peers = start_peers(&alertmanager, tmp.path(), webhook.port);
    wait_for_cluster(&mut peers);
    let replicas: Vec<Daemon> = ["a", "b"]
        .iter()
        .map(|r| start_prometheus(&prometheus, tmp.path(), r, &peers, webhook.port))
        .collect();

    // (a) Both replicas fire HaAlwaysFiring at all three peers: one notification, once.
    let always = ("alertname", "HaAlwaysFiring");
    let first = webhook.wait_for(always, &peers, &replicas);
    for peer in &peers {
        let held = peer.alerts(&[always]);
        assert_eq!(held.len(), 1, "{} holds {held:#?}", peer.daemon.name());
    }
    std::thread::sleep(GRACE);
    let all = webhook.notifications_for(always);
    assert_eq!(all.len(), 1, "duplicate notifications: {all:#?}");
    let alerts = first["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{first:#}");
    let labels: BTreeMap<String, Value> =
        serde_json::from_value(alerts[0]["labels"].clone()).expect("labels");
    assert_eq!(
        labels.keys().map(String::as_str).collect::<Vec<_>>(),
        ["alertname"],
        "the replica label is dropped before Alertmanager: {labels:?}"
    );
    let leader = sender(&first);
    assert!(
        peers.iter().any(|p| p.url() == leader),
        "sent by {leader:?}, not a peer"
    );

    // (b) A silence created on the first peer reaches the other two, and mutes a new alert
    // that both replicas send to every peer; an unsilenced alert turned on with it is notified.
    let (ok, silence, stderr) = {
        let out = Command::new(&amtool)
            .args([
                "silence",
                "add",
                &format!("--alertmanager.url={}", peers[0].url()),
                "alertname=HaSwitch",
                "name=silenced",
                "--duration=1h",
                "--author=alert_ha test",
                "--comment=silences replicate",
            ])
            .output()
            .expect("run amtool");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(
        ok && !silence.is_empty(),
        "amtool silence add: {silence}{stderr}"
    );
    for peer in &peers[1..] {
        let seen = eventually(Duration::from_secs(10), || {
            get_json(peer.web, &format!("/api/v2/silence/{silence}"))
                .is_some_and(|s| s["status"]["state"] == "active")
        });
        assert!(
            seen,
            "silence {silence} did not reach {}:\n{}",
            peer.daemon.name(),
            peer.daemon.log()
        );
    }
    webhook.turn_on("silenced");
    webhook.turn_on("control");
    webhook.wait_for(("name", "control"), &peers, &replicas);
    let suppressed = eventually(Duration::from_secs(10), || {
        peers.iter().all(|p| {
            let held = p.alerts(&[("name", "silenced")]);
            held.len() == 1
                && held[0]["status"]["state"] == "suppressed"
                && held[0]["status"]["silencedBy"][0] == silence.as_str()
        })
    });
    assert!(suppressed, "every peer holds the silenced alert, silenced");
    std::thread::sleep(GRACE);
    assert!(
        webhook.notifications_for(("name", "silenced")).is_empty(),
        "a silenced alert was notified"
    );
    assert_eq!(webhook.notifications_for(("name", "control")).len(), 1);

    // (c) The peer that sent the first notification is lost: a new alert is still notified,
    // once, by another peer.
    let lost = peers
        .iter()
        .position(|p| p.url() == leader)
        .expect("the leader");
    peers[lost].daemon.kill();
    webhook.turn_on("failover");
    let notified = webhook.wait_for(("name", "failover"), &peers, &replicas);
    assert_ne!(sender(&notified), leader, "the killed peer cannot notify");
    std::thread::sleep(GRACE);
    assert_eq!(webhook.notifications_for(("name", "failover")).len(), 1);

    drop(replicas);
    drop(peers);
}
