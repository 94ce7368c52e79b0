//! The scale overlay (`monitoring/overlays/scale`), as rendered: prod plus no single replica on
//! the alert path. Alertmanager is a gossip cluster whose peer flags name the pods of its
//! headless governing Service, the mesh port is open between the peers, Prometheus is an HA
//! pair whose alerts drop the replica label and reach every peer, both have a
//! PodDisruptionBudget and hostname anti-affinity, and every StatefulSet has a headless
//! governing Service.
//!
//! The schema, checkov and promtool checks of the render are in `k8s.rs`, which lists this
//! overlay with the others; a real three-peer cluster runs in `alert_ha.rs`.

use std::collections::BTreeSet;

use serde_norway::{Mapping, Value};

use crate::k8s::{docs, generated_configmap, kind, kustomize, monitoring, name, read_yaml, s, seq};

const NAMESPACE: &str = "octollm-monitoring";
/// The Alertmanager peers' gossip port (TCP and UDP).
const MESH_PORT: u64 = 9094;
/// The Alertmanager API port Prometheus sends alerts to.
const ALERTMANAGER_PORT: u64 = 9093;

fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind(o) == kind_ && name(o) == name_)
        .unwrap_or_else(|| panic!("scale renders no {kind_}/{name_}"))
}

fn container<'a>(sts: &'a Value, name_: &str) -> &'a Value {
    seq(&sts["spec"]["template"]["spec"]["containers"])
        .find(|c| s(&c["name"]) == name_)
        .unwrap_or_else(|| panic!("{}: no container {name_}", name(sts)))
}

fn args(c: &Value) -> Vec<&str> {
    seq(&c["args"]).map(s).collect()
}

/// The values of every `--flag=value` argument.
fn flag<'a>(args: &[&'a str], flag: &str) -> Vec<&'a str> {
    let prefix = format!("--{flag}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(prefix.as_str()))
        .collect()
}

/// True when every `matchLabels` pair is among the pod template's labels.
fn selects(selector: &Value, sts: &Value) -> bool {
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    let pairs = selector["matchLabels"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    !pairs.is_empty() && pairs.iter().all(|(k, v)| labels[s(k)] == *v)
}

/// The env var `var` of the container comes from the pod field `path`.
fn env_from_field(c: &Value, var: &str, path: &str) -> bool {
    seq(&c["env"])
        .any(|e| s(&e["name"]) == var && s(&e["valueFrom"]["fieldRef"]["fieldPath"]) == path)
}

fn render() -> Option<Vec<Value>> {
    kustomize("overlays/scale").map(|yaml| docs(&yaml))
}

/// A StatefulSet's governing Service: headless, in its namespace, selecting its pods.
fn governing_service<'a>(objects: &'a [Value], sts: &Value) -> &'a Value {
    let service_name = s(&sts["spec"]["serviceName"]);
    let service = find(objects, "Service", service_name);
    assert_eq!(
        s(&service["spec"]["clusterIP"]),
        "None",
        "{}: serviceName {service_name} is not headless",
        name(sts)
    );
    assert_eq!(
        s(&service["metadata"]["namespace"]),
        s(&sts["metadata"]["namespace"])
    );
    let selector = &service["spec"]["selector"];
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    assert!(
        selector
            .as_mapping()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels[s(k)] == *v)),
        "{service_name} does not select the pods of {}",
        name(sts)
    );
    service
}

/// `<sts>-<i>.<service>.<namespace>.svc:<port>` for every replica.
fn pod_addresses(sts: &Value, service: &Value, port: u64) -> BTreeSet<String> {
    let replicas = sts["spec"]["replicas"].as_u64().expect("replicas");
    (0..replicas)
        .map(|i| {
            format!(
                "{}-{i}.{}.{}.svc:{port}",
                name(sts),
                name(service),
                s(&service["metadata"]["namespace"])
            )
        })
        .collect()
}

/// A required or preferred anti-affinity term on the hostname that selects the pods themselves.
fn hostname_anti_affinity(sts: &Value) -> bool {
    let anti = &sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    let required = seq(&anti["requiredDuringSchedulingIgnoredDuringExecution"]);
    let preferred = seq(&anti["preferredDuringSchedulingIgnoredDuringExecution"])
        .map(|p| &p["podAffinityTerm"]);
    required.chain(preferred).any(|term| {
        s(&term["topologyKey"]) == "kubernetes.io/hostname" && selects(&term["labelSelector"], sts)
    })
}

#[test]
fn every_statefulset_of_the_scale_overlay_has_a_headless_governing_service() {
    let Some(objects) = render() else { return };
    let statefulsets: Vec<&Value> = objects
        .iter()
        .filter(|o| kind(o) == "StatefulSet")
        .collect();
    // Grafana and the Loki read path are Deployments here (scale_logs_grafana.rs).
    let names: BTreeSet<&str> = statefulsets.iter().map(|o| name(o)).collect();
    assert!(
        names.is_superset(&BTreeSet::from([
            "alertmanager",
            "prometheus",
            "loki-write",
            "loki-backend"
        ])),
        "{names:?}"
    );
    for sts in statefulsets {
        governing_service(&objects, sts);
    }
    // The ClusterIP Services that Grafana, the services and port-forwards use are still there.
    for service in [
        "alertmanager",
        "prometheus",
        "grafana",
        "loki",
        "jaeger-collector",
    ] {
        assert_ne!(
            s(&find(&objects, "Service", service)["spec"]["clusterIP"]),
            "None"
        );
    }
}

#[test]
fn the_scale_overlay_is_prod_plus_its_own_objects() {
    let Some(prod) = kustomize("overlays/prod") else {
        return;
    };
    let Some(scale) = render() else { return };
    let hash = regex::Regex::new(r"-[a-z0-9]{10}$").unwrap();
    let ids = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}", kind(o), hash.replace(name(o), "")))
            .collect()
    };
    let prod = ids(&docs(&prod));
    let scale = ids(&scale);
    // The overlay's own objects, then what each of its components replaces and adds.
    let mut removed: BTreeSet<&str> = BTreeSet::new();
    let mut added: BTreeSet<&str> = BTreeSet::from([
        "PodDisruptionBudget/alertmanager",
        "PodDisruptionBudget/prometheus",
        "Service/alertmanager-headless",
        "Service/jaeger-headless",
        "Service/prometheus-headless",
    ]);
    for (_, replaces, adds) in COMPONENT_OBJECTS {
        removed.extend(replaces.iter().filter(|o| prod.contains(**o)));
        added.extend(adds.iter().filter(|o| !prod.contains(**o)));
    }
    let missing: BTreeSet<&str> = prod.difference(&scale).map(String::as_str).collect();
    assert!(
        missing.is_subset(&removed),
        "missing: {:?}",
        missing.difference(&removed)
    );
    let extra: BTreeSet<&str> = scale.difference(&prod).map(String::as_str).collect();
    assert!(
        extra.is_subset(&added),
        "not accounted for: {:?}",
        extra.difference(&added)
    );
}

/// Per component of the overlay: the objects it removes (from prod, or the overlay's own
/// governing Services of the StatefulSets it removes) and the objects it adds.
#[rustfmt::skip]
const COMPONENT_OBJECTS: &[(&str, &[&str], &[&str])] = &[
    (
        "traces",
        &["StatefulSet/jaeger", "ConfigMap/jaeger-config", "NetworkPolicy/jaeger"],
        &["ConfigMap/jaeger-collector-config", "ConfigMap/jaeger-query-config",
          "ConfigMap/opensearch", "ConfigMap/otel-lb-config", "CronJob/jaeger-es-index-cleaner",
          "Deployment/jaeger-collector", "Deployment/jaeger-query", "Deployment/otel-lb",
          "NetworkPolicy/jaeger-collector", "NetworkPolicy/jaeger-es-index-cleaner",
          "NetworkPolicy/jaeger-query", "NetworkPolicy/otel-lb",
          "PodDisruptionBudget/jaeger-collector", "PodDisruptionBudget/jaeger-query",
          "PodDisruptionBudget/otel-lb", "Service/jaeger-collector-headless",
          "Service/jaeger-sampling", "ServiceAccount/otel-lb"],
    ),
    (
        "grafana",
        &["StatefulSet/grafana", "Service/grafana-headless"],
        &["Deployment/grafana", "NetworkPolicy/grafana-ha", "PodDisruptionBudget/grafana",
          "Service/grafana-alerting"],
    ),
    (
        "logs",
        &["StatefulSet/loki", "Service/loki-headless"],
        &["Deployment/loki-read", "StatefulSet/loki-write", "StatefulSet/loki-backend",
          "NetworkPolicy/loki-cluster", "PodDisruptionBudget/loki-read",
          "PodDisruptionBudget/loki-write", "PodDisruptionBudget/loki-backend",
          "Service/loki-memberlist", "Service/loki-write", "Service/loki-write-headless",
          "Service/loki-backend", "Service/loki-backend-headless"],
    ),
    (
        "metrics",
        &[],
        &["StatefulSet/victoria-metrics", "Service/victoria-metrics",
          "Service/victoria-metrics-headless", "NetworkPolicy/victoria-metrics",
          "NetworkPolicy/grafana-victoria-metrics"],
    ),
];

#[test]
fn alertmanager_runs_three_gossiping_peers_named_by_their_headless_service() {
    let Some(objects) = render() else { return };
    let sts = find(&objects, "StatefulSet", "alertmanager");
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(3));
    let service = governing_service(&objects, sts);
    assert_eq!(
        service["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true),
        "peers resolve each other before they are ready"
    );
    assert_eq!(s(&service["metadata"]["namespace"]), NAMESPACE);

    let am = container(sts, "alertmanager");
    let args = args(am);
    assert_eq!(flag(&args, "cluster.listen-address"), ["0.0.0.0:9094"]);
    let peers: BTreeSet<String> = flag(&args, "cluster.peer")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(peers.len(), 3, "{args:?}");
    assert_eq!(peers, pod_addresses(sts, service, MESH_PORT));
    assert_eq!(
        flag(&args, "cluster.advertise-address"),
        ["[$(POD_IP)]:9094"]
    );
    assert!(env_from_field(am, "POD_IP", "status.podIP"));

    // The mesh port, TCP and UDP, on the container and the headless Service.
    for protocol in ["TCP", "UDP"] {
        let port = seq(&am["ports"])
            .find(|p| {
                p["containerPort"].as_u64() == Some(MESH_PORT) && s(&p["protocol"]) == protocol
            })
            .unwrap_or_else(|| panic!("no container port {MESH_PORT}/{protocol}"));
        assert!(
            seq(&service["spec"]["ports"])
                .any(|p| s(&p["targetPort"]) == s(&port["name"]) && s(&p["protocol"]) == protocol),
            "the headless Service lacks {MESH_PORT}/{protocol}"
        );
    }
}

#[test]
fn the_network_policy_admits_the_mesh_between_the_peers_only() {
    let Some(objects) = render() else { return };
    let sts = find(&objects, "StatefulSet", "alertmanager");
    let policy = find(&objects, "NetworkPolicy", "alertmanager");
    assert!(selects(&policy["spec"]["podSelector"], sts));
    let mesh = |rule: &Value, peers: &str| -> bool {
        let protocols: BTreeSet<&str> = seq(&rule["ports"])
            .filter(|p| p["port"].as_u64() == Some(MESH_PORT))
            .map(|p| s(&p["protocol"]))
            .collect();
        let from: Vec<&Value> = seq(&rule[peers]).collect();
        protocols == BTreeSet::from(["TCP", "UDP"])
            && from.len() == 1
            && from[0]["namespaceSelector"].is_null()
            && selects(&from[0]["podSelector"], sts)
    };
    assert!(
        seq(&policy["spec"]["ingress"]).any(|r| mesh(r, "from")),
        "no ingress rule for {MESH_PORT} TCP+UDP from the peers"
    );
    assert!(
        seq(&policy["spec"]["egress"]).any(|r| mesh(r, "to")),
        "no egress rule for {MESH_PORT} TCP+UDP to the peers"
    );
    // Nothing else may reach the mesh port.
    for rule in seq(&policy["spec"]["ingress"]) {
        if seq(&rule["ports"]).any(|p| p["port"].as_u64() == Some(MESH_PORT)) {
            assert!(mesh(rule, "from"), "{rule:?}");
        }
    }
}

#[test]
fn alertmanager_and_prometheus_have_a_disruption_budget_and_hostname_anti_affinity() {
    let Some(objects) = render() else { return };
    for (workload, replicas) in [("alertmanager", 3), ("prometheus", 2)] {
        let sts = find(&objects, "StatefulSet", workload);
        assert_eq!(
            sts["spec"]["replicas"].as_u64(),
            Some(replicas),
            "{workload}"
        );
        let budgets: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                kind(o) == "PodDisruptionBudget"
                    && s(&o["metadata"]["namespace"]) == s(&sts["metadata"]["namespace"])
                    && selects(&o["spec"]["selector"], sts)
            })
            .collect();
        assert_eq!(budgets.len(), 1, "{workload}: one PodDisruptionBudget");
        let spec = &budgets[0]["spec"];
        // At most one pod down by a voluntary disruption.
        let one_at_a_time = spec["maxUnavailable"].as_u64() == Some(1)
            || spec["minAvailable"].as_u64() == Some(replicas - 1);
        assert!(one_at_a_time, "{workload}: {spec:?}");
        assert!(
            hostname_anti_affinity(sts),
            "{workload}: no anti-affinity on kubernetes.io/hostname"
        );
    }
}

/// The prometheus.yml that the Prometheus StatefulSet mounts.
fn mounted_prometheus_config(objects: &[Value]) -> Value {
    let cm = generated_configmap(objects, "prometheus-config");
    let sts = find(objects, "StatefulSet", "prometheus");
    assert!(
        seq(&sts["spec"]["template"]["spec"]["volumes"])
            .any(|v| s(&v["configMap"]["name"]) == name(cm)),
        "Prometheus mounts {}",
        name(cm)
    );
    serde_norway::from_str(s(&cm["data"]["prometheus.yml"])).expect("prometheus.yml parses")
}

#[test]
fn prometheus_labels_its_replica_drops_it_from_alerts_and_sends_to_every_peer() {
    let Some(objects) = render() else { return };
    let config = mounted_prometheus_config(&objects);

    // Each replica labels its series with its pod name, and its alerts drop that label.
    let sts = find(&objects, "StatefulSet", "prometheus");
    assert_eq!(
        s(&config["global"]["external_labels"]["replica"]),
        "${POD_NAME}"
    );
    assert!(env_from_field(
        container(sts, "prometheus"),
        "POD_NAME",
        "metadata.name"
    ));
    let drops: Vec<&Value> = seq(&config["alerting"]["alert_relabel_configs"])
        .filter(|r| s(&r["action"]) == "labeldrop")
        .collect();
    assert!(
        drops.iter().any(|r| s(&r["regex"]) == "replica"),
        "no labeldrop of `replica` in alert_relabel_configs"
    );

    // Every Alertmanager peer, by its pod's DNS name, and nothing else: no ClusterIP Service.
    let am = find(&objects, "StatefulSet", "alertmanager");
    let peers = pod_addresses(am, governing_service(&objects, am), ALERTMANAGER_PORT);
    let alertmanagers: Vec<&Value> = seq(&config["alerting"]["alertmanagers"]).collect();
    assert_eq!(alertmanagers.len(), 1);
    let entry = alertmanagers[0]
        .as_mapping()
        .expect("an alertmanagers entry");
    let keys: Vec<&str> = entry.keys().map(s).collect();
    assert_eq!(keys, ["api_version", "static_configs"], "{entry:?}");
    let targets: BTreeSet<String> = seq(&alertmanagers[0]["static_configs"])
        .flat_map(|c| seq(&c["targets"]))
        .map(|t| s(t).to_owned())
        .collect();
    assert_eq!(targets, peers);
    for target in &targets {
        assert!(!target.starts_with("alertmanager."), "{target}");
        assert!(!target.starts_with("alertmanager:"), "{target}");
    }
}

/// Removes `path` (a chain of keys) from a YAML value.
fn remove(value: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut at = value;
    for key in parents {
        at = at.get_mut(*key)?;
    }
    at.as_mapping_mut()?.remove(*last)
}

#[test]
fn the_scale_prometheus_configuration_is_the_base_one_but_for_replica_alerting_and_remote_write() {
    let mut base = read_yaml(&monitoring().join("prometheus/prometheus.yml"));
    let mut scale = read_yaml(&monitoring().join("overlays/scale/prometheus.yml"));
    assert!(remove(&mut base, &["alerting"]).is_some());
    assert!(remove(&mut scale, &["alerting"]).is_some());
    // The long-term store's writes (metrics_dedup.rs checks the block itself).
    assert!(remove(&mut base, &["remote_write"]).is_none());
    assert!(remove(&mut scale, &["remote_write"]).is_some());
    assert_eq!(
        remove(&mut scale, &["global", "external_labels", "replica"]),
        Some(Value::from("${POD_NAME}"))
    );
    assert_eq!(
        base, scale,
        "overlays/scale/prometheus.yml must equal prometheus/prometheus.yml except for the \
         `replica` external label, `alerting` and `remote_write`: carry the base's change over"
    );
    assert!(!base.as_mapping().is_some_and(Mapping::is_empty));
}
