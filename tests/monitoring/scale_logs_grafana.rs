//! Logs and Grafana in the scale overlay (`monitoring/overlays/scale/{logs,grafana}`), as
//! rendered: Grafana as replicas on a shared database whose connection comes from a Secret,
//! with alerting peers gossiping through a headless Service; Loki's read, write and backend
//! targets on memberlist rings with three copies of every stream, prod's bucket and the base's
//! per-level retention; Alloy pushing to the write path. Every multi-replica workload has a
//! PodDisruptionBudget and hostname anti-affinity.
//!
//! Also the level normalisation of `alloy/config.alloy` that the per-level retention relies on.
//! No Alloy or Loki runs here: the expressions the configuration uses are compiled with the
//! `regex` crate (their syntax is the RE2 subset both share) and applied to the spellings and
//! crash lines they must cover, as Alloy's `stage.replace` and `stage.match` would apply them.
//!
//! The schema, checkov and kustomize checks of the render are in `k8s.rs`.

use std::collections::BTreeSet;

use regex::Regex;
use serde_norway::Value;

use crate::k8s::{docs, generated_configmap, kind, kustomize, monitoring, name, read_yaml, s, seq};

const NAMESPACE: &str = "octollm-monitoring";
/// Grafana's alerting gossip port (TCP and UDP).
const GRAFANA_GOSSIP_PORT: u64 = 9094;
/// Loki's memberlist port.
const MEMBERLIST_PORT: u64 = 7946;
/// The Loki targets of the simple scalable mode, by workload.
const LOKI_TARGETS: &[(&str, &str)] = &[
    ("loki-write", "write"),
    ("loki-read", "read"),
    ("loki-backend", "backend"),
];

// === lookups ===

fn render() -> Option<Vec<Value>> {
    kustomize("overlays/scale").map(|yaml| docs(&yaml))
}

fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind(o) == kind_ && name(o) == name_)
        .unwrap_or_else(|| panic!("scale renders no {kind_}/{name_}"))
}

fn workload<'a>(objects: &'a [Value], name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| matches!(kind(o), "Deployment" | "StatefulSet") && name(o) == name_)
        .unwrap_or_else(|| panic!("scale renders no workload {name_}"))
}

fn pod_spec(w: &Value) -> &Value {
    &w["spec"]["template"]["spec"]
}

fn container<'a>(w: &'a Value, name_: &str) -> &'a Value {
    seq(&pod_spec(w)["containers"])
        .find(|c| s(&c["name"]) == name_)
        .unwrap_or_else(|| panic!("{}: no container {name_}", name(w)))
}

fn env<'a>(c: &'a Value, var: &str) -> Option<&'a Value> {
    seq(&c["env"]).find(|e| s(&e["name"]) == var)
}

fn env_value<'a>(c: &'a Value, var: &str) -> &'a str {
    env(c, var).map_or("", |e| s(&e["value"]))
}

/// True when every `matchLabels` pair (or selector pair) is among the pod template's labels.
fn selects_pods(selector: &Value, w: &Value) -> bool {
    let labels = &w["spec"]["template"]["metadata"]["labels"];
    let pairs = selector
        .get("matchLabels")
        .unwrap_or(selector)
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    !pairs.is_empty() && pairs.iter().all(|(k, v)| labels[s(k)] == *v)
}

/// `<service>.<namespace>.svc:<port>` split into the Service's name and the port.
fn service_address(address: &str) -> (&str, u64) {
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{address}: no port"));
    let service = host
        .strip_suffix(&format!(".{NAMESPACE}.svc"))
        .unwrap_or_else(|| panic!("{address}: not <service>.{NAMESPACE}.svc"));
    (service, port.parse().expect("a port number"))
}

fn headless(service: &Value) -> bool {
    s(&service["spec"]["clusterIP"]) == "None"
}

/// The Service has `port` for every protocol in `protocols`.
fn has_port(service: &Value, port: u64, protocols: &[&str]) -> bool {
    protocols.iter().all(|protocol| {
        seq(&service["spec"]["ports"])
            .any(|p| p["port"].as_u64() == Some(port) && s(&p["protocol"]) == *protocol)
    })
}

/// A required anti-affinity term on the hostname that selects the workload's own pods.
fn required_hostname_anti_affinity(w: &Value) -> bool {
    seq(&pod_spec(w)["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"])
    .any(|term| {
        s(&term["topologyKey"]) == "kubernetes.io/hostname"
            && selects_pods(&term["labelSelector"], w)
    })
}

/// A NetworkPolicy selecting the pods has an ingress rule from them and an egress rule to them
/// with `port` for every protocol in `protocols`.
fn port_open_between_pods(objects: &[Value], w: &Value, port: u64, protocols: &[&str]) -> bool {
    let rule_ok = |rule: &Value, peers: &str| {
        let peers_ok = seq(&rule[peers]).any(|peer| {
            peer["namespaceSelector"].is_null() && selects_pods(&peer["podSelector"], w)
        });
        peers_ok
            && protocols.iter().all(|protocol| {
                seq(&rule["ports"])
                    .any(|p| p["port"].as_u64() == Some(port) && s(&p["protocol"]) == *protocol)
            })
    };
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| kind(o) == "NetworkPolicy" && selects_pods(&o["spec"]["podSelector"], w))
        .collect();
    policies
        .iter()
        .any(|p| seq(&p["spec"]["ingress"]).any(|r| rule_ok(r, "from")))
        && policies
            .iter()
            .any(|p| seq(&p["spec"]["egress"]).any(|r| rule_ok(r, "to")))
}

// === Grafana ===

#[test]
fn grafana_runs_replicas_on_a_shared_database_read_from_a_secret() {
    let Some(objects) = render() else { return };
    assert!(
        !objects
            .iter()
            .any(|o| kind(o) == "StatefulSet" && name(o) == "grafana"),
        "prod's Grafana StatefulSet (SQLite) is replaced"
    );
    let grafana = find(&objects, "Deployment", "grafana");
    assert!(grafana["spec"]["replicas"].as_u64().unwrap_or(1) >= 2);
    let pod = pod_spec(grafana);
    assert!(
        !seq(&pod["volumes"]).any(|v| !v["persistentVolumeClaim"].is_null()),
        "no per-pod volume: everything Grafana keeps is in the database"
    );
    let c = container(grafana, "grafana");

    // Each connection setting is a file of a mounted Secret (or a secretKeyRef), never a value.
    let secret_mounts: Vec<(&str, &str)> = seq(&c["volumeMounts"])
        .filter_map(|m| {
            let volume = seq(&pod["volumes"]).find(|v| s(&v["name"]) == s(&m["name"]))?;
            let secret = volume["secret"]["secretName"].as_str()?;
            Some((s(&m["mountPath"]), secret))
        })
        .collect();
    let mut secrets = BTreeSet::new();
    for setting in ["TYPE", "HOST", "NAME", "USER", "PASSWORD"] {
        let var = format!("GF_DATABASE_{setting}");
        assert!(
            env(c, &var).is_none_or(|e| e["value"].is_null()),
            "{var} inline"
        );
        let from_file = env(c, &format!("{var}__FILE")).and_then(|e| {
            let path = s(&e["value"]);
            secret_mounts
                .iter()
                .find(|(dir, _)| path.starts_with(&format!("{dir}/")))
                .map(|(_, secret)| *secret)
        });
        let from_ref = env(c, &var).and_then(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str());
        let secret = from_file
            .or(from_ref)
            .unwrap_or_else(|| panic!("{var} does not come from a Secret"));
        secrets.insert(secret);
    }
    assert_eq!(secrets, BTreeSet::from(["grafana-database"]));
    // The Secret is the operator's: referenced, not shipped.
    assert!(!objects
        .iter()
        .any(|o| kind(o) == "Secret" && name(o) == "grafana-database"));

    // No SQLite setting anywhere, and sessions in the database.
    for e in seq(&c["env"]) {
        let value = s(&e["value"]).to_lowercase();
        assert!(!value.contains("sqlite"), "{e:?}");
        assert!(
            !matches!(s(&e["name"]), "GF_DATABASE_WAL" | "GF_DATABASE_PATH"),
            "SQLite setting {e:?}"
        );
    }
    assert_eq!(env_value(c, "GF_REMOTE_CACHE_TYPE"), "database");
}

#[test]
fn grafana_alerting_peers_gossip_through_a_headless_service_open_between_the_replicas() {
    let Some(objects) = render() else { return };
    let grafana = find(&objects, "Deployment", "grafana");
    let c = container(grafana, "grafana");
    assert_eq!(env_value(c, "GF_UNIFIED_ALERTING_ENABLED"), "true");

    let (service_name, port) = service_address(env_value(c, "GF_UNIFIED_ALERTING_HA_PEERS"));
    assert_eq!(port, GRAFANA_GOSSIP_PORT);
    let service = find(&objects, "Service", service_name);
    assert!(headless(service), "{service_name} resolves to the pods");
    assert_eq!(
        service["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    assert!(selects_pods(&service["spec"]["selector"], grafana));
    assert!(has_port(service, GRAFANA_GOSSIP_PORT, &["TCP", "UDP"]));

    // Each replica listens on and advertises its pod IP.
    let pod_ip = env(c, "POD_IP").expect("POD_IP");
    assert_eq!(
        s(&pod_ip["valueFrom"]["fieldRef"]["fieldPath"]),
        "status.podIP"
    );
    for var in [
        "GF_UNIFIED_ALERTING_HA_LISTEN_ADDRESS",
        "GF_UNIFIED_ALERTING_HA_ADVERTISE_ADDRESS",
    ] {
        assert_eq!(env_value(c, var), "$(POD_IP):9094", "{var}");
    }
    for protocol in ["TCP", "UDP"] {
        assert!(
            seq(&c["ports"]).any(|p| p["containerPort"].as_u64() == Some(GRAFANA_GOSSIP_PORT)
                && s(&p["protocol"]) == protocol),
            "no container port {GRAFANA_GOSSIP_PORT}/{protocol}"
        );
    }
    assert!(
        port_open_between_pods(&objects, grafana, GRAFANA_GOSSIP_PORT, &["TCP", "UDP"]),
        "no NetworkPolicy admits {GRAFANA_GOSSIP_PORT} TCP+UDP between the Grafana pods"
    );
    // And the database port is reachable.
    assert!(objects
        .iter()
        .filter(|o| kind(o) == "NetworkPolicy" && selects_pods(&o["spec"]["podSelector"], grafana))
        .flat_map(|p| seq(&p["spec"]["egress"]))
        .flat_map(|r| seq(&r["ports"]))
        .any(|p| matches!(p["port"].as_u64(), Some(5432 | 3306))));
}

#[test]
fn the_grafana_deployment_keeps_prods_container_but_for_the_database_and_alerting() {
    let Some(prod) = kustomize("overlays/prod") else {
        return;
    };
    let Some(scale) = render() else { return };
    let prod = docs(&prod);
    let before = container(find(&prod, "StatefulSet", "grafana"), "grafana");
    let after = container(find(&scale, "Deployment", "grafana"), "grafana");
    for key in [
        "image",
        "readinessProbe",
        "livenessProbe",
        "resources",
        "securityContext",
    ] {
        assert_eq!(before[key], after[key], "{key}");
    }
    for e in seq(&before["env"]).filter(|e| s(&e["name"]) != "GF_DATABASE_WAL") {
        assert!(
            seq(&after["env"]).any(|a| a == e),
            "prod's {e:?} is missing"
        );
    }
    for m in seq(&before["volumeMounts"]) {
        assert!(seq(&after["volumeMounts"]).any(|a| a == m), "{m:?}");
    }
    // The provisioning ConfigMaps and the admin Secret are the same objects.
    let sources = |w: &Value| -> BTreeSet<String> {
        seq(&pod_spec(w)["volumes"])
            .filter_map(|v| {
                v["configMap"]["name"]
                    .as_str()
                    .or(v["secret"]["secretName"].as_str())
            })
            .map(str::to_owned)
            .collect()
    };
    // The data sources' content is the metrics Component's (metrics_dedup.rs), so their
    // ConfigMap's hash differs.
    let unhashed = |names: BTreeSet<String>| -> BTreeSet<String> {
        names
            .into_iter()
            .map(|n| match n.strip_prefix("grafana-datasources-") {
                Some(_) => "grafana-datasources".to_owned(),
                None => n,
            })
            .collect()
    };
    let mut expected = unhashed(sources(find(&prod, "StatefulSet", "grafana")));
    expected.insert("grafana-database".to_owned());
    assert_eq!(
        unhashed(sources(find(&scale, "Deployment", "grafana"))),
        expected
    );
}

#[test]
fn grafana_and_the_loki_targets_have_a_disruption_budget_and_hostname_anti_affinity() {
    let Some(objects) = render() else { return };
    let names = std::iter::once("grafana").chain(LOKI_TARGETS.iter().map(|(w, _)| *w));
    for workload_name in names {
        let w = workload(&objects, workload_name);
        let replicas = w["spec"]["replicas"].as_u64().unwrap_or(1);
        assert!(replicas >= 2, "{workload_name}: {replicas} replicas");
        let budgets: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                kind(o) == "PodDisruptionBudget"
                    && s(&o["metadata"]["namespace"]) == NAMESPACE
                    && selects_pods(&o["spec"]["selector"], w)
            })
            .collect();
        assert_eq!(budgets.len(), 1, "{workload_name}: one PodDisruptionBudget");
        let spec = &budgets[0]["spec"];
        assert!(
            spec["maxUnavailable"].as_u64() == Some(1)
                || spec["minAvailable"].as_u64() == Some(replicas - 1),
            "{workload_name}: {spec:?}"
        );
        assert!(
            required_hostname_anti_affinity(w),
            "{workload_name}: no required anti-affinity on kubernetes.io/hostname"
        );
    }
}

// === Loki ===

/// The loki.yaml every Loki target mounts.
fn mounted_loki_config(objects: &[Value]) -> Value {
    let cm = generated_configmap(objects, "loki-config");
    for (w, _) in LOKI_TARGETS {
        assert!(
            seq(&pod_spec(workload(objects, w))["volumes"])
                .any(|v| s(&v["configMap"]["name"]) == name(cm)),
            "{w} mounts {}",
            name(cm)
        );
    }
    serde_norway::from_str(s(&cm["data"]["loki.yaml"])).expect("loki.yaml parses")
}

#[test]
fn loki_runs_the_read_write_and_backend_targets_with_replicas() {
    let Some(objects) = render() else { return };
    assert!(
        !objects
            .iter()
            .any(|o| matches!(kind(o), "StatefulSet" | "Deployment") && name(o) == "loki"),
        "prod's single binary is replaced"
    );
    for (w, target) in LOKI_TARGETS {
        let w = workload(&objects, w);
        assert!(
            w["spec"]["replicas"].as_u64().unwrap_or(1) >= 3,
            "{}",
            name(w)
        );
        let args: Vec<&str> = seq(&container(w, "loki")["args"]).map(s).collect();
        assert!(
            args.contains(&format!("-target={target}").as_str()),
            "{args:?}"
        );
        assert!(args.contains(&"-config.expand-env=true"), "{args:?}");
        if kind(w) == "StatefulSet" {
            // A headless governing Service selecting the pods.
            let governing = find(&objects, "Service", s(&w["spec"]["serviceName"]));
            assert!(headless(governing), "{}: governing Service", name(w));
            assert!(selects_pods(&governing["spec"]["selector"], w));
        }
    }
    // The write and backend targets keep their WAL and compactor files on a volume.
    for w in ["loki-write", "loki-backend"] {
        assert_eq!(kind(workload(&objects, w)), "StatefulSet", "{w}");
    }
    // Grafana's data source URL names the `loki` Service: it selects the read pods only.
    let loki = find(&objects, "Service", "loki");
    let read = workload(&objects, "loki-read");
    assert!(selects_pods(&loki["spec"]["selector"], read));
    for w in ["loki-write", "loki-backend"] {
        assert!(!selects_pods(
            &loki["spec"]["selector"],
            workload(&objects, w)
        ));
    }
}

#[test]
fn loki_rings_gossip_through_the_memberlist_service_with_three_copies() {
    let Some(objects) = render() else { return };
    let config = mounted_loki_config(&objects);
    let common = &config["common"];
    assert_eq!(common["replication_factor"].as_u64(), Some(3));
    assert_eq!(s(&common["ring"]["kvstore"]["store"]), "memberlist");
    assert!(
        common["ring"]["instance_addr"].is_null(),
        "no loopback ring"
    );

    let joins: Vec<&str> = seq(&config["memberlist"]["join_members"]).map(s).collect();
    assert!(!joins.is_empty(), "memberlist.join_members");
    for join in joins {
        let (service_name, port) = service_address(join.trim_start_matches("dns+"));
        assert_eq!(port, MEMBERLIST_PORT, "{join}");
        let service = find(&objects, "Service", service_name);
        assert!(headless(service), "{service_name}");
        assert_eq!(
            service["spec"]["publishNotReadyAddresses"].as_bool(),
            Some(true)
        );
        assert!(
            has_port(service, MEMBERLIST_PORT, &["TCP"]),
            "{service_name}"
        );
        for (w, _) in LOKI_TARGETS {
            let w = workload(&objects, w);
            assert!(
                selects_pods(&service["spec"]["selector"], w),
                "{service_name} misses {}",
                name(w)
            );
            assert!(seq(&container(w, "loki")["ports"])
                .any(|p| p["containerPort"].as_u64() == Some(MEMBERLIST_PORT)));
            assert!(
                port_open_between_pods(&objects, w, MEMBERLIST_PORT, &["TCP"]),
                "{}: memberlist port closed",
                name(w)
            );
        }
    }
    // The compactor address names the backend.
    let compactor = s(&common["compactor_address"]);
    let (service_name, _) = service_address(compactor.trim_start_matches("http://"));
    let service = find(&objects, "Service", service_name);
    assert!(selects_pods(
        &service["spec"]["selector"],
        workload(&objects, "loki-backend")
    ));
}

#[test]
fn loki_stores_in_prods_bucket_and_keeps_the_base_retention() {
    let Some(objects) = render() else { return };
    let config = mounted_loki_config(&objects);
    let base = read_yaml(&monitoring().join("loki/loki.yaml"));
    assert_eq!(
        s(&config["common"]["storage"]["gcs"]["bucket_name"]),
        "${LOKI_GCS_BUCKET}"
    );
    for key in ["schema_config", "storage_config", "compactor"] {
        assert_eq!(config[key], base[key], "{key} differs from loki/loki.yaml");
    }
    let (limits, base_limits) = (&config["limits_config"], &base["limits_config"]);
    for key in ["retention_period", "retention_stream"] {
        assert_eq!(limits[key], base_limits[key], "limits_config.{key}");
    }
    // Every other limit too, the rate strategy (the default, spelled out) aside.
    let mut limits = limits.clone();
    limits
        .as_mapping_mut()
        .expect("limits_config")
        .remove("ingestion_rate_strategy");
    assert_eq!(&limits, base_limits);

    // The bucket is prod's, reached as the `loki` ServiceAccount (Workload Identity).
    let settings = generated_configmap(&objects, "loki-settings");
    assert_eq!(s(&settings["data"]["gcs-bucket"]), "octollm-prod-loki-logs");
    for (w, _) in LOKI_TARGETS {
        let w = workload(&objects, w);
        assert_eq!(s(&pod_spec(w)["serviceAccountName"]), "loki");
        let bucket = env(container(w, "loki"), "LOKI_GCS_BUCKET").expect("LOKI_GCS_BUCKET");
        assert_eq!(
            s(&bucket["valueFrom"]["configMapKeyRef"]["name"]),
            name(settings)
        );
    }
    assert!(!s(
        &find(&objects, "ServiceAccount", "loki")["metadata"]["annotations"]
            ["iam.gke.io/gcp-service-account"]
    )
    .is_empty());
}

// === Alloy ===

const PUSH_URL: &str = r#"url = "http://(?P<service>[a-z0-9-]+)\.(?P<namespace>[a-z0-9-]+)\.svc:(?P<port>\d+)/loki/api/v1/push""#;

#[test]
fn alloy_pushes_to_the_loki_write_service() {
    let Some(objects) = render() else { return };
    let cm = generated_configmap(&objects, "alloy-config");
    let alloy = find(&objects, "DaemonSet", "alloy");
    assert!(seq(&pod_spec(alloy)["volumes"]).any(|v| s(&v["configMap"]["name"]) == name(cm)));
    let config = s(&cm["data"]["config.alloy"]);
    let urls: Vec<regex::Captures<'_>> = Regex::new(PUSH_URL)
        .unwrap()
        .captures_iter(config)
        .collect();
    assert_eq!(urls.len(), 1, "one push endpoint");
    let url = &urls[0];
    assert_eq!(&url["namespace"], NAMESPACE);
    let service = find(&objects, "Service", &url["service"]);
    let port: u64 = url["port"].parse().unwrap();
    assert!(has_port(service, port, &["TCP"]));
    assert!(!headless(service));
    assert!(selects_pods(
        &service["spec"]["selector"],
        workload(&objects, "loki-write")
    ));
    for w in ["loki-read", "loki-backend"] {
        assert!(!selects_pods(
            &service["spec"]["selector"],
            workload(&objects, w)
        ));
    }
}

#[test]
fn the_scale_alloy_configuration_is_the_base_one_but_for_the_push_url() {
    let base = std::fs::read_to_string(monitoring().join("alloy/config.alloy")).unwrap();
    let scale =
        std::fs::read_to_string(monitoring().join("overlays/scale/logs/config.alloy")).unwrap();
    let url = Regex::new(PUSH_URL).unwrap();
    assert_eq!(
        &url.captures(&base).expect("base push URL")["service"],
        "loki"
    );
    assert_eq!(
        &url.captures(&scale).expect("scale push URL")["service"],
        "loki-write"
    );
    assert_eq!(
        url.replace(&base, "url = <push>"),
        url.replace(&scale, "url = <push>"),
        "overlays/scale/logs/config.alloy must equal alloy/config.alloy except for the push \
         URL: carry the base's change over"
    );
}

// === Alloy's level normalisation (Alloy itself is not run) ===

/// An Alloy string literal's value (the escapes the configuration uses).
fn alloy_string(literal: &str) -> String {
    literal.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// The body of every `<stage> {` block at the pipeline's level, in order, with its offset.
fn blocks<'a>(config: &'a str, stage: &str) -> Vec<(usize, &'a str)> {
    let open = format!("\n\t{stage} {{");
    config
        .match_indices(&open)
        .map(|(at, _)| {
            let end = at + config[at..].find("\n\t}").expect("block end");
            (at, &config[at..end])
        })
        .collect()
}

/// The string value of `attribute = "..."` in a block.
fn attribute(block: &str, attribute: &str) -> String {
    let re = Regex::new(&format!(
        r#"(?m)^\s*{attribute}\s*=\s*"((?:[^"\\]|\\.)*)"\s*$"#
    ))
    .unwrap();
    let literal = re
        .captures(block)
        .unwrap_or_else(|| panic!("no {attribute} in {block}"))[1]
        .to_owned();
    alloy_string(&literal)
}

/// `stage.replace` on the extracted `level`, as Alloy applies it: each capture group of a
/// match is replaced by `replace`.
struct Replace {
    expression: Regex,
    replace: String,
}

impl Replace {
    fn apply(&self, value: &str) -> String {
        let Some(captures) = self.expression.captures(value) else {
            return value.to_owned();
        };
        let mut out = value.to_owned();
        for group in captures
            .iter()
            .skip(1)
            .flatten()
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            out.replace_range(group.range(), &self.replace);
        }
        out
    }
}

fn base_alloy() -> String {
    std::fs::read_to_string(monitoring().join("alloy/config.alloy")).unwrap()
}

fn level_replaces(config: &str) -> Vec<Replace> {
    blocks(config, "stage.replace")
        .into_iter()
        .map(|(_, block)| {
            assert_eq!(attribute(block, "source"), "level", "{block}");
            Replace {
                expression: Regex::new(&attribute(block, "expression")).expect("compiles"),
                replace: attribute(block, "replace"),
            }
        })
        .collect()
}

#[test]
fn alloy_maps_every_level_spelling_onto_the_retention_levels() {
    let config = base_alloy();
    let replaces = level_replaces(&config);
    assert!(!replaces.is_empty(), "no stage.replace on level");
    // Before the label is set from the value.
    let labels_at = config.find("\n\tstage.labels {").expect("stage.labels");
    assert!(blocks(&config, "stage.replace")
        .iter()
        .all(|(at, _)| *at < labels_at));

    let normalise = |level: &str| {
        replaces
            .iter()
            .fold(level.to_owned(), |value, r| r.apply(&value))
    };
    #[rustfmt::skip]
    let cases: &[(&str, &[&str])] = &[
        ("error", &["error", "ERROR", "Error", "err", "ERR", "fatal", "FATAL", "Fatal", "critical",
                    "CRITICAL", "crit", "panic", "PANIC", "dpanic", "alert", "emerg", "emergency",
                    "severe", "SEVERE"]),
        ("warn",  &["warn", "WARN", "Warn", "warning", "WARNING", "Warning"]),
        ("info",  &["info", "INFO", "Info", "information", "informational", "notice", "NOTICE"]),
        ("debug", &["debug", "DEBUG", "Debug", "dbg"]),
        ("trace", &["trace", "TRACE", "Trace"]),
    ];
    for (level, spellings) in cases {
        for spelling in *spellings {
            assert_eq!(normalise(spelling), *level, "{spelling}");
        }
    }
    // The levels the retention rules select on are exactly the mapped ones.
    let loki = read_yaml(&monitoring().join("loki/loki.yaml"));
    let selected: BTreeSet<String> = seq(&loki["limits_config"]["retention_stream"])
        .flat_map(|r| {
            let selector = s(&r["selector"]);
            let values = selector
                .split('"')
                .nth(1)
                .expect("a quoted value")
                .split('|')
                .map(str::to_owned)
                .collect::<Vec<_>>();
            values
        })
        .collect();
    let mapped: BTreeSet<String> = cases.iter().map(|(l, _)| (*l).to_owned()).collect();
    assert_eq!(selected, mapped);
    // Anything else is left alone, not forced into a tier.
    for other in ["verbose", "errors", "warned", "level-3", ""] {
        assert_eq!(normalise(other), other);
    }
}

/// A `stage.match` that sets `level="error"` with `stage.static_labels`: its LogQL selector.
fn error_matches(config: &str) -> Vec<String> {
    blocks(config, "stage.match")
        .into_iter()
        .filter(|(_, block)| {
            block.contains("stage.static_labels")
                && Regex::new(r#"level\s*=\s*"error""#)
                    .unwrap()
                    .is_match(block)
        })
        .map(|(_, block)| attribute(block, "selector"))
        .collect()
}

/// The line filter of a selector: `|~` or `!~` and its backquoted expression.
fn line_filter<'a>(selector: &'a str, operator: &str) -> Option<&'a str> {
    let (_, rest) = selector.split_once(&format!("{operator} `"))?;
    rest.strip_suffix('`')
}

#[test]
fn alloy_gives_stderr_lines_that_are_not_json_the_error_level() {
    let config = base_alloy();
    let labels_at = config.find("\n\tstage.labels {").expect("stage.labels");
    assert!(blocks(&config, "stage.match")
        .iter()
        .all(|(at, _)| *at > labels_at));
    let selectors = error_matches(&config);
    let stderr = selectors
        .iter()
        .find(|sel| sel.contains(r#"stream="stderr""#))
        .expect("a stage.match on stderr setting level=error");
    // Only lines without a level: a JSON line's own level stands.
    assert!(stderr.contains(r#"level="""#), "{stderr}");
    let json = Regex::new(line_filter(stderr, "!~").expect("a `!~` line filter")).unwrap();
    for line in [
        r#"{"level":"info","message":"request finished"}"#,
        r#"{"timestamp":"2026-11-24T10:00:00Z","level":"warn"}"#,
    ] {
        assert!(json.is_match(line), "a JSON line is excluded: {line}");
    }
    for line in [
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        "   0: std::panicking::begin_panic",
        "  File \"/app/main.py\", line 3, in <module>",
        "\tat com.example.Main.main(Main.java:5)",
        "goroutine 1 [running]:",
        "Killed",
    ] {
        assert!(
            !json.is_match(line),
            "a line that is not JSON is matched: {line}"
        );
    }
}

#[test]
fn alloy_gives_panics_and_stack_traces_the_error_level_on_either_stream() {
    let config = base_alloy();
    let selectors = error_matches(&config);
    let crash = selectors
        .iter()
        .find(|sel| line_filter(sel, "|~").is_some())
        .expect("a stage.match with a `|~` crash filter setting level=error");
    // Not limited to one stream.
    assert!(!crash.contains(r#"stream="stderr""#), "{crash}");
    let re = Regex::new(line_filter(crash, "|~").unwrap()).unwrap();
    for line in [
        "thread 'main' panicked at src/main.rs:7:5:",
        "thread 'tokio-runtime-worker' panicked at 'called `Option::unwrap()` on a `None` value', src/lib.rs:10:9",
        "thread '<unnamed>' panicked at library/core/src/panicking.rs:221:5:",
        "Traceback (most recent call last):",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        r#"Exception in thread "main" java.lang.NullPointerException"#,
        r#"{"level":"info","message":"worker panicked at src/worker.rs:3:1"}"#,
    ] {
        assert!(re.is_match(line), "not matched: {line}");
    }
    for line in [
        r#"{"level":"info","message":"request finished"}"#,
        "listening on 0.0.0.0:8080",
        "the traceback was empty",
        "no panic here: all good",
    ] {
        assert!(!re.is_match(line), "matched: {line}");
    }
}
