//! The Kubernetes monitoring stack under `monitoring/`.
//!
//! Renders the top-level kustomization and every overlay with `kubectl kustomize`, validates
//! the objects with `kubernetes-validate --strict`, the Prometheus configuration with
//! `promtool check config` and the whole render with checkov (zero failed checks), and asserts
//! the properties an operator relies on: resources, hardened security contexts, pinned images,
//! stateful components on StatefulSets, no public Services, no shipped secret data, a
//! NetworkPolicy per workload, the generated dashboards ConfigMap, and an embedded copy of the
//! stack identical to the folder.
//!
//! External tools: kubectl, kubernetes-validate, promtool, checkov (see `.ci/run`). Without
//! them a test prints a loud skip message, or fails under `CI=true`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[cfg(feature = "manifests")]
use octollm_telemetry::manifests;
use regex::Regex;
use serde::Deserialize;
use serde_norway::{Mapping, Value};

use crate::support;

/// Every component folder, in the order of the top-level kustomization.
const COMPONENTS: &[&str] = &[
    "namespace",
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "alloy",
    "jaeger",
    "kube-state-metrics",
    "node-exporter",
];
const OVERLAYS: &[&str] = &[
    "overlays/dev",
    "overlays/staging",
    "overlays/prod",
    "overlays/scale",
];
/// Overlays built on another overlay rather than on the component folders, and their base.
const LAYERED_OVERLAYS: &[(&str, &str)] = &[("overlays/scale", "../prod")];
/// The services' telemetry settings per overlay: a ConfigMap for the services' own kustomizations.
const SERVICE_ENVS: &[&str] = &[
    "overlays/dev/service-env",
    "overlays/staging/service-env",
    "overlays/prod/service-env",
];
/// The Kubernetes version whose schemas `kubernetes-validate` checks against.
const KUBERNETES_VERSION: &str = "1.33";
/// Workloads that keep state on a volume: each must be a StatefulSet with a claim template.
const STATEFUL: &[&str] = &["prometheus", "alertmanager", "grafana", "loki", "jaeger"];
/// Per overlay, the stateful workloads that keep their state elsewhere instead, and why.
const STATE_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "overlays/scale",
        "jaeger",
        "the scale traces tier keeps its spans in an operator-provided OpenSearch",
    ),
    (
        "overlays/scale",
        "grafana",
        "the scale Grafana replicas keep their state in an operator-provided database",
    ),
    (
        "overlays/scale",
        "loki",
        "the scale Loki keeps its WAL and compactor files on the loki-write and loki-backend \
         StatefulSets (scale_logs_grafana.rs)",
    ),
];
/// Secrets the operator creates, referenced by volumes of every render.
const OPERATOR_SECRETS: &[&str] = &["alertmanager-receivers", "grafana-admin"];
/// Further operator-created Secrets an overlay references as volumes.
const OVERLAY_SECRETS: &[(&str, &str)] = &[
    ("overlays/scale", "opensearch-credentials"),
    ("overlays/scale", "grafana-database"),
];
/// Containers allowed to run as root, and why (their manifests say the same).
const ROOT_CONTAINERS: &[(&str, &str)] = &[(
    "alloy",
    "reads the kubelet's root-owned 0640 container log files",
)];
/// The only workloads with host access, and the host access they have.
const HOST_NETWORK_AND_PID: &[&str] = &["node-exporter"];
const HOST_PATH_USERS: &[&str] = &["node-exporter", "alloy"];

// === rendering and lookups ===

pub(super) fn monitoring() -> PathBuf {
    support::repo_root().join("monitoring")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kubectl kustomize monitoring/<dir>`, or `None` (skip) without kubectl.
pub(super) fn kustomize(dir: &str) -> Option<String> {
    let kubectl = support::require_tool("kubectl")?;
    let out = run(Command::new(kubectl)
        .arg("kustomize")
        .arg(monitoring().join(dir)));
    assert!(
        out.status.success(),
        "kubectl kustomize monitoring/{dir} failed:\n{}",
        text(&out.stderr)
    );
    Some(text(&out.stdout))
}

pub(super) fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// A rendered kustomization: its folder, its YAML and its objects.
struct Render {
    dir: &'static str,
    yaml: String,
    objects: Vec<Value>,
}

/// The top-level stack and every overlay, rendered; `None` without kubectl.
fn renders() -> Option<Vec<Render>> {
    let mut out = Vec::new();
    for dir in std::iter::once(".").chain(OVERLAYS.iter().copied()) {
        let yaml = kustomize(dir)?;
        let objects = docs(&yaml);
        assert!(objects.len() > 40, "{dir}: only {} objects", objects.len());
        out.push(Render { dir, yaml, objects });
    }
    Some(out)
}

pub(super) fn read_yaml(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

pub(super) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

pub(super) fn seq(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_sequence().into_iter().flatten()
}

pub(super) fn kind(o: &Value) -> &str {
    s(&o["kind"])
}

pub(super) fn name(o: &Value) -> &str {
    s(&o["metadata"]["name"])
}

fn id(o: &Value) -> String {
    format!("{}/{}", kind(o), name(o))
}

fn pod_spec(o: &Value) -> Option<&Value> {
    match kind(o) {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(&o["spec"]["template"]["spec"])
        }
        "CronJob" => Some(&o["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        "Pod" => Some(&o["spec"]),
        _ => None,
    }
}

fn workloads(objects: &[Value]) -> impl Iterator<Item = (&Value, &Value)> {
    objects.iter().filter_map(|o| pod_spec(o).map(|p| (o, p)))
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    seq(&pod["containers"]).chain(seq(&pod["initContainers"]))
}

pub(super) fn generated_configmap<'a>(objects: &'a [Value], prefix: &str) -> &'a Value {
    let re = Regex::new(&format!("^{}-[a-z0-9]{{10}}$", regex::escape(prefix))).unwrap();
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| kind(o) == "ConfigMap" && re.is_match(name(o)))
        .collect();
    assert_eq!(found.len(), 1, "one generated ConfigMap {prefix}-<hash>");
    found[0]
}

// === rendering and external validators ===

#[test]
fn every_kustomization_renders() {
    for dir in COMPONENTS
        .iter()
        .chain(OVERLAYS)
        .chain(SERVICE_ENVS)
        .chain(&[".", "extras/servicemonitors"])
    {
        let Some(yaml) = kustomize(dir) else { return };
        assert!(!docs(&yaml).is_empty(), "{dir} renders no object");
    }
}

#[test]
fn rendered_objects_pass_kubernetes_validate_strict() {
    let Some(validate) = support::require_tool("kubernetes-validate") else {
        return;
    };
    let Some(renders) = renders() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    for render in &renders {
        let file = tmp.path().join("rendered.yaml");
        fs::write(&file, &render.yaml).expect("write render");
        let out = run(Command::new(&validate)
            .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
            .arg(&file));
        assert!(
            out.status.success(),
            "kubernetes-validate --strict rejects the render of {}:\n{}{}",
            render.dir,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// Replaces Kubernetes service discovery with a static target, for a promtool built without it.
fn without_kubernetes_sd(config: &str) -> String {
    fn replace(entry: &mut Value) {
        if let Value::Mapping(map) = entry {
            if map.remove("kubernetes_sd_configs").is_some() {
                let mut target = Mapping::new();
                target.insert(
                    "targets".into(),
                    vec![Value::from("sd-placeholder:80")].into(),
                );
                map.insert("static_configs".into(), vec![Value::Mapping(target)].into());
            }
        }
    }
    let mut value: Value = serde_norway::from_str(config).expect("prometheus.yml parses");
    if let Some(jobs) = value["scrape_configs"].as_sequence_mut() {
        jobs.iter_mut().for_each(replace);
    }
    if let Some(ams) = value["alerting"]["alertmanagers"].as_sequence_mut() {
        ams.iter_mut().for_each(replace);
    }
    serde_norway::to_string(&value).expect("serialize")
}

/// The stack's prometheus.yml and the scale overlay's own copy.
#[test]
fn promtool_accepts_the_rendered_prometheus_configuration() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    for dir in [".", "overlays/scale"] {
        let Some(yaml) = kustomize(dir) else { return };
        promtool_check_config(&promtool, dir, &docs(&yaml));
    }
}

fn promtool_check_config(promtool: &Path, dir: &str, objects: &[Value]) {
    let tmp = tempfile::tempdir().expect("tempdir");

    // The rule files and the service-account files, where the pod would have them.
    let rules_dir = tmp.path().join("rules");
    fs::create_dir(&rules_dir).expect("mkdir");
    let rules = generated_configmap(objects, "prometheus-rules");
    let rule_files: Vec<&str> = rules["data"]
        .as_mapping()
        .expect("rules data")
        .iter()
        .map(|(k, v)| {
            fs::write(rules_dir.join(s(k)), s(v)).expect("write rule file");
            s(k)
        })
        .collect();
    assert_eq!(
        rule_files,
        [
            "critical.yaml",
            "gen-ai-cost.yaml",
            "gen-ai-prices.yaml",
            "info.yaml",
            "warning.yaml"
        ]
    );
    let sa = tmp.path().join("serviceaccount");
    fs::create_dir(&sa).expect("mkdir");
    fs::write(sa.join("token"), "token").expect("write token");
    fs::write(sa.join("ca.crt"), "").expect("write ca");

    let config = s(&generated_configmap(objects, "prometheus-config")["data"]["prometheus.yml"])
        .replace(
            "/etc/prometheus/rules/",
            &format!("{}/", rules_dir.display()),
        )
        .replace(
            "/var/run/secrets/kubernetes.io/serviceaccount/",
            &format!("{}/", sa.display()),
        );
    let file = tmp.path().join("prometheus.yml");
    fs::write(&file, &config).expect("write config");
    let mut out = run(Command::new(promtool).args(["check", "config"]).arg(&file));
    let report = text(&out.stdout) + &text(&out.stderr);
    if !out.status.success() && report.contains("field kubernetes_sd_configs not found") {
        // Debian's promtool is built without Kubernetes service discovery: check everything
        // else (relabeling, TLS, authorization, alerting, rule files) on a copy whose discovery
        // blocks are static targets. An upstream promtool checks the file as it is.
        eprintln!("note: this promtool lacks kubernetes_sd_configs; checking with static targets");
        fs::write(&file, without_kubernetes_sd(&config)).expect("write config");
        out = run(Command::new(promtool).args(["check", "config"]).arg(&file));
    }
    assert!(
        out.status.success(),
        "promtool check config fails for {dir}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("SUCCESS: 5 rule files found"),
        "promtool did not check the five rule files of {dir}:\n{}",
        text(&out.stdout)
    );
}

#[test]
fn checkov_finds_no_failed_check() {
    let Some(checkov) = support::require_tool("checkov") else {
        return;
    };
    let Some(renders) = renders() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    for render in &renders {
        let file = tmp.path().join("rendered.yaml");
        fs::write(&file, &render.yaml).expect("write render");
        let out = run(Command::new(&checkov)
            .args([
                "--framework",
                "kubernetes",
                "--compact",
                "--quiet",
                "--skip-download",
                "-f",
            ])
            .arg(&file));
        let report = text(&out.stdout);
        assert!(
            out.status.success() && report.contains("Failed checks: 0"),
            "checkov reports failed checks for {}:\n{report}{}",
            render.dir,
            text(&out.stderr)
        );
    }
}

#[test]
fn every_checkov_skip_names_a_check_and_gives_a_reason() {
    let Some(renders) = renders() else { return };
    let skip = Regex::new(r"^CKV2?_K8S_\d+=\S.{30,}$").unwrap();
    let mut skips = 0;
    for o in &renders[0].objects {
        for (key, value) in o["metadata"]["annotations"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if s(key).starts_with("checkov.io/skip") {
                skips += 1;
                assert!(
                    skip.is_match(s(value)),
                    "{}: {} must be CKV_K8S_<n>=<a reason of a sentence>, got {:?}",
                    id(o),
                    s(key),
                    s(value)
                );
            }
        }
    }
    assert!(skips > 0, "the skips carry their reasons inline");
}

// === structure ===

#[test]
fn every_container_has_resources_probes_and_a_hardened_security_context() {
    let Some(renders) = renders() else { return };
    for render in &renders {
        for (o, pod) in workloads(&render.objects) {
            for c in containers(pod) {
                let at = format!("{} {} container {}", render.dir, id(o), s(&c["name"]));
                for bound in ["requests", "limits"] {
                    for resource in ["cpu", "memory"] {
                        assert!(
                            !c["resources"][bound][resource].is_null(),
                            "{at}: no {bound}.{resource}"
                        );
                    }
                }
                // A job runs to completion: nothing to probe.
                if !matches!(kind(o), "CronJob" | "Job") {
                    assert!(!c["readinessProbe"].is_null(), "{at}: no readiness probe");
                    assert!(!c["livenessProbe"].is_null(), "{at}: no liveness probe");
                }

                let sc = &c["securityContext"];
                assert_eq!(
                    sc["allowPrivilegeEscalation"].as_bool(),
                    Some(false),
                    "{at}"
                );
                assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{at}");
                assert_ne!(sc["privileged"].as_bool(), Some(true), "{at}: privileged");
                assert!(
                    seq(&sc["capabilities"]["drop"]).any(|d| s(d) == "ALL"),
                    "{at}: capabilities must drop ALL"
                );
                assert!(
                    sc["capabilities"]["add"].is_null(),
                    "{at}: adds capabilities"
                );
                let seccomp = if sc["seccompProfile"].is_null() {
                    &pod["securityContext"]["seccompProfile"]
                } else {
                    &sc["seccompProfile"]
                };
                assert_eq!(
                    s(&seccomp["type"]),
                    "RuntimeDefault",
                    "{at}: seccomp profile"
                );

                let non_root = sc["runAsNonRoot"]
                    .as_bool()
                    .or(pod["securityContext"]["runAsNonRoot"].as_bool());
                let allowed_root = ROOT_CONTAINERS.iter().any(|(n, _)| *n == s(&c["name"]));
                if allowed_root {
                    assert_ne!(
                        non_root,
                        Some(true),
                        "{at}: listed as root but runs as non-root"
                    );
                } else {
                    assert_eq!(non_root, Some(true), "{at}: runAsNonRoot must be true");
                    let uid = sc["runAsUser"]
                        .as_u64()
                        .or(pod["securityContext"]["runAsUser"].as_u64());
                    assert!(
                        uid.is_some_and(|u| u >= 10000),
                        "{at}: runAsUser {uid:?} below 10000"
                    );
                }
            }
        }
    }
}

#[test]
fn host_access_is_limited_to_the_node_collectors_and_read_only() {
    let Some(renders) = renders() else { return };
    for (o, pod) in workloads(&renders[0].objects) {
        let n = name(o);
        let host_net =
            pod["hostNetwork"].as_bool() == Some(true) || pod["hostPID"].as_bool() == Some(true);
        assert_eq!(
            host_net,
            HOST_NETWORK_AND_PID.contains(&n),
            "{}: hostNetwork/hostPID",
            id(o)
        );
        assert_ne!(pod["hostIPC"].as_bool(), Some(true), "{}: hostIPC", id(o));
        let host_paths: BTreeSet<&str> = seq(&pod["volumes"])
            .filter(|v| !v["hostPath"].is_null())
            .map(|v| s(&v["name"]))
            .collect();
        if !HOST_PATH_USERS.contains(&n) {
            assert!(
                host_paths.is_empty(),
                "{}: hostPath volumes {host_paths:?}",
                id(o)
            );
        }
        for c in containers(pod) {
            for m in seq(&c["volumeMounts"]).filter(|m| host_paths.contains(s(&m["name"]))) {
                // Alloy's own data directory (read positions) is the one writable host path.
                let writable_ok = n == "alloy" && s(&m["mountPath"]) == "/var/lib/alloy/data";
                assert!(
                    m["readOnly"].as_bool() == Some(true) || writable_ok,
                    "{}: hostPath mount {} must be read-only",
                    id(o),
                    s(&m["mountPath"])
                );
                assert_ne!(s(&m["mountPath"]), "/var/run/docker.sock", "{}", id(o));
            }
        }
    }
}

#[test]
fn images_are_pinned_to_release_tags() {
    let Some(renders) = renders() else { return };
    let pinned = Regex::new(r"^[a-z0-9.\-/]+:v?\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$").unwrap();
    for render in &renders {
        for (o, pod) in workloads(&render.objects) {
            for c in containers(pod) {
                let image = s(&c["image"]);
                assert!(
                    pinned.is_match(image) && !image.contains(":latest"),
                    "{} {}: image {image:?} is not pinned to a release tag",
                    render.dir,
                    id(o)
                );
            }
        }
    }
}

#[test]
fn stateful_components_are_statefulsets_and_deployments_with_volumes_recreate() {
    let Some(renders) = renders() else { return };
    for render in &renders {
        let elsewhere = |component: &str| {
            STATE_ELSEWHERE
                .iter()
                .any(|(dir, c, _)| *dir == render.dir && *c == component)
        };
        for stateful in STATEFUL.iter().filter(|c| !elsewhere(c)) {
            let sts = render
                .objects
                .iter()
                .find(|o| kind(o) == "StatefulSet" && name(o) == *stateful)
                .unwrap_or_else(|| panic!("{}: {stateful} is not a StatefulSet", render.dir));
            let claims = &sts["spec"]["volumeClaimTemplates"];
            assert!(
                seq(claims).count() == 1,
                "{}: {stateful} has no claim template",
                render.dir
            );
            for claim in seq(claims) {
                assert!(seq(&claim["spec"]["accessModes"]).any(|m| s(m) == "ReadWriteOnce"));
            }
        }
        for o in render.objects.iter().filter(|o| kind(o) == "Deployment") {
            let pvc = seq(&o["spec"]["template"]["spec"]["volumes"])
                .any(|v| !v["persistentVolumeClaim"].is_null());
            if pvc {
                assert_eq!(
                    s(&o["spec"]["strategy"]["type"]),
                    "Recreate",
                    "{}: {}",
                    render.dir,
                    id(o)
                );
            }
        }
        assert!(
            !render
                .objects
                .iter()
                .any(|o| kind(o) == "PersistentVolumeClaim"),
            "{}: volumes come from claim templates, not loose PVCs",
            render.dir
        );
    }
}

#[test]
fn nothing_is_exposed_outside_the_cluster() {
    let Some(renders) = renders() else { return };
    for render in &renders {
        for o in &render.objects {
            assert_ne!(
                kind(o),
                "Ingress",
                "{}: {} (the UIs stay in-cluster)",
                render.dir,
                id(o)
            );
            if kind(o) == "Service" {
                let t = s(&o["spec"]["type"]);
                assert!(
                    t.is_empty() || t == "ClusterIP",
                    "{}: {} is {t}",
                    render.dir,
                    id(o)
                );
            }
        }
        for ui in ["jaeger-query", "grafana", "prometheus", "alertmanager"] {
            assert!(
                render
                    .objects
                    .iter()
                    .any(|o| kind(o) == "Service" && name(o) == ui),
                "{}: Service {ui}",
                render.dir
            );
        }
    }
}

#[test]
fn no_secret_data_is_shipped() {
    let Some(renders) = renders() else { return };
    for render in &renders {
        for o in render.objects.iter().filter(|o| kind(o) == "Secret") {
            assert!(
                o["data"].is_null() && o["stringData"].is_null(),
                "{}: {} carries data",
                render.dir,
                id(o)
            );
        }
        // The Secrets the operator creates are referenced, never defined.
        let volumes: BTreeSet<&str> = workloads(&render.objects)
            .flat_map(|(_, pod)| seq(&pod["volumes"]))
            .filter_map(|v| v["secret"]["secretName"].as_str())
            .collect();
        let expected: BTreeSet<&str> = OPERATOR_SECRETS
            .iter()
            .copied()
            .chain(
                OVERLAY_SECRETS
                    .iter()
                    .filter(|(dir, _)| *dir == render.dir)
                    .map(|(_, secret)| *secret),
            )
            .collect();
        assert_eq!(volumes, expected, "{}", render.dir);
    }
}

#[test]
fn prometheus_never_enables_the_admin_api_or_lifecycle_endpoints() {
    let Some(renders) = renders() else { return };
    for render in &renders {
        for (o, pod) in workloads(&render.objects) {
            for c in containers(pod) {
                for arg in seq(&c["args"]).chain(seq(&c["command"])) {
                    for flag in ["--web.enable-admin-api", "--web.enable-lifecycle"] {
                        assert!(
                            !s(arg).starts_with(flag),
                            "{} {}: {flag}",
                            render.dir,
                            id(o)
                        );
                    }
                }
            }
        }
        let prometheus = render
            .objects
            .iter()
            .find(|o| kind(o) == "StatefulSet" && name(o) == "prometheus")
            .unwrap();
        let args: Vec<&str> = seq(&prometheus["spec"]["template"]["spec"]["containers"][0]["args"])
            .map(s)
            .collect();
        assert!(
            args.iter()
                .any(|a| a.starts_with("--storage.tsdb.retention.time=")),
            "{args:?}"
        );
    }
}

#[test]
fn every_namespace_denies_by_default_and_every_workload_has_its_network_policy() {
    let Some(renders) = renders() else { return };
    let objects = &renders[0].objects;
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| kind(o) == "NetworkPolicy")
        .collect();
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter(|o| kind(o) == "Namespace")
        .map(name)
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["octollm-monitoring", "octollm-monitoring-node"])
    );
    for ns in &namespaces {
        let deny = policies.iter().any(|p| {
            s(&p["metadata"]["namespace"]) == *ns
                && p["spec"]["podSelector"]
                    .as_mapping()
                    .is_some_and(|m| m.is_empty())
                && seq(&p["spec"]["policyTypes"]).count() == 2
                && p["spec"]["ingress"].is_null()
                && p["spec"]["egress"].is_null()
        });
        assert!(deny, "namespace {ns} has no default-deny NetworkPolicy");
    }
    for (o, _) in workloads(objects) {
        let app = s(&o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]);
        assert!(
            !app.is_empty(),
            "{}: pod template without app.kubernetes.io/name",
            id(o)
        );
        let own = policies.iter().any(|p| {
            s(&p["metadata"]["namespace"]) == s(&o["metadata"]["namespace"])
                && s(&p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]) == app
        });
        assert!(
            own,
            "{}: no NetworkPolicy selects app.kubernetes.io/name={app}",
            id(o)
        );
    }
}

#[test]
fn cluster_roles_only_read() {
    let Some(renders) = renders() else { return };
    for o in renders[0]
        .objects
        .iter()
        .filter(|o| kind(o) == "ClusterRole" || kind(o) == "Role")
    {
        for rule in seq(&o["rules"]) {
            for verb in seq(&rule["verbs"]) {
                assert!(
                    ["get", "list", "watch"].contains(&s(verb)),
                    "{}: verb {}",
                    id(o),
                    s(verb)
                );
            }
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(
                    !seq(&rule[field]).any(|v| s(v) == "*"),
                    "{}: wildcard {field}",
                    id(o)
                );
            }
            assert!(
                !seq(&rule["resources"]).any(|r| s(r) == "nodes/proxy"),
                "{}: nodes/proxy",
                id(o)
            );
        }
    }
}

#[test]
fn the_dashboards_configmap_is_generated_from_every_dashboard_file() {
    let Some(yaml) = kustomize(".") else { return };
    let objects = docs(&yaml);
    let cm = generated_configmap(&objects, "grafana-dashboards");
    let data: BTreeMap<&str, &str> = cm["data"]
        .as_mapping()
        .expect("data")
        .iter()
        .map(|(k, v)| (s(k), s(v)))
        .collect();
    let dir = monitoring().join("grafana/dashboards");
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(&dir).expect("read dashboards dir") {
        let path = entry.expect("entry").path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(file, fs::read_to_string(&path).expect("read dashboard"));
    }
    assert_eq!(
        data.keys().copied().collect::<Vec<_>>(),
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        "the ConfigMap must hold exactly the JSON files of grafana/dashboards/"
    );
    for (file, content) in &files {
        assert_eq!(
            data[file.as_str()],
            content,
            "{file} differs in the ConfigMap"
        );
    }
    // Grafana mounts the generated (hashed) name.
    let grafana = objects
        .iter()
        .find(|o| kind(o) == "StatefulSet" && name(o) == "grafana")
        .expect("grafana");
    assert!(seq(&grafana["spec"]["template"]["spec"]["volumes"])
        .any(|v| s(&v["configMap"]["name"]) == name(cm)));
}

/// `kubectl apply` without `--server-side` copies the whole object into the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation, and the API server refuses an
/// object whose annotations exceed 256 KiB (262144 bytes): the dashboards ConfigMap, which holds
/// every dashboard, must leave room for that copy. A new dashboard that does not fit goes into a
/// ConfigMap of its own.
#[test]
fn the_dashboards_configmap_fits_a_client_side_apply() {
    const ANNOTATION_LIMIT: usize = 262_144;
    let Some(yaml) = kustomize(".") else { return };
    let objects = docs(&yaml);
    let cm = generated_configmap(&objects, "grafana-dashboards");
    let applied = serde_json::to_string(cm).expect("the ConfigMap as JSON");
    // Leave a quarter for growth and for the metadata kubectl adds.
    assert!(
        applied.len() < ANNOTATION_LIMIT * 3 / 4,
        "grafana-dashboards is {} bytes as JSON; last-applied-configuration allows {ANNOTATION_LIMIT} in all",
        applied.len()
    );
}

#[test]
fn the_overlays_change_what_they_promise() {
    let Some(dev) = kustomize("overlays/dev") else {
        return;
    };
    let Some(prod) = kustomize("overlays/prod") else {
        return;
    };
    let dev = docs(&dev);
    let prod = docs(&prod);
    let loki = s(&generated_configmap(&dev, "loki-config")["data"]["loki.yaml"]);
    assert!(
        loki.contains("object_store: filesystem") && !loki.contains("gcs"),
        "dev Loki uses its volume"
    );
    let settings = &generated_configmap(&dev, "prometheus-settings")["data"];
    assert_eq!(s(&settings["retention-time"]), "7d");

    let sts = |name_: &str| {
        prod.iter()
            .find(|o| kind(o) == "StatefulSet" && name(o) == name_)
            .unwrap()
    };
    assert_eq!(sts("prometheus")["spec"]["replicas"].as_u64(), Some(2));
    for stateful in STATEFUL {
        let claim = &sts(stateful)["spec"]["volumeClaimTemplates"][0]["spec"];
        assert_eq!(
            s(&claim["storageClassName"]),
            "premium-rwo",
            "prod {stateful}"
        );
    }
    assert_eq!(
        s(&generated_configmap(&prod, "loki-settings")["data"]["gcs-bucket"]),
        "octollm-prod-loki-logs"
    );
}

/// The path of `to` relative to the directory `from` (both absolute), as kustomize wants it.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..].iter().map(|_| "..").collect();
    path.extend(&to[common..]);
    path
}

/// A service's kustomization that includes an overlay's `service-env` gets the ConfigMap in its
/// own namespace, and its `envFrom` reference follows the generated name.
#[test]
fn the_service_settings_land_in_the_namespace_of_the_service_that_includes_them() {
    let Some(kubectl) = support::require_tool("kubectl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for service_env in SERVICE_ENVS {
        let from = dir.path().canonicalize().expect("canonical tempdir");
        let to = monitoring()
            .canonicalize()
            .expect("canonical monitoring")
            .join(service_env);
        fs::write(
            dir.path().join("kustomization.yaml"),
            format!(
                "namespace: octollm-prod\nresources:\n  - {}\n  - deployment.yaml\n",
                relative(&from, &to).display()
            ),
        )
        .expect("write kustomization");
        fs::write(
            dir.path().join("deployment.yaml"),
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: orchestrator
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: orchestrator
  template:
    metadata:
      labels:
        app.kubernetes.io/name: orchestrator
    spec:
      containers:
        - name: orchestrator
          image: example.com/orchestrator:1.0.0
          envFrom:
            - configMapRef:
                name: octollm-telemetry-env
",
        )
        .expect("write deployment");
        let out = run(Command::new(&kubectl).arg("kustomize").arg(dir.path()));
        assert!(
            out.status.success(),
            "{service_env} included by a service: {}",
            text(&out.stderr)
        );
        let objects = docs(&text(&out.stdout));
        let cm = generated_configmap(&objects, "octollm-telemetry-env");
        assert_eq!(
            s(&cm["metadata"]["namespace"]),
            "octollm-prod",
            "{service_env}"
        );
        let deployment = objects
            .iter()
            .find(|o| kind(o) == "Deployment")
            .expect("the deployment");
        let reference = &deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
            ["configMapRef"]["name"];
        assert_eq!(s(reference), name(cm), "{service_env}");
        assert!(s(&cm["data"]["OTEL_TRACES_SAMPLER"]).starts_with("parentbased_"));
    }
}

// === configuration files ===

#[test]
fn the_kustomizations_list_every_component_and_no_extra() {
    let top = read_yaml(&monitoring().join("kustomization.yaml"));
    let listed: Vec<&str> = seq(&top["resources"]).map(s).collect();
    assert_eq!(listed, COMPONENTS, "top-level resources");
    for component in COMPONENTS {
        assert!(
            monitoring()
                .join(component)
                .join("kustomization.yaml")
                .is_file(),
            "{component}"
        );
    }
    for overlay in OVERLAYS {
        let k = read_yaml(&monitoring().join(overlay).join("kustomization.yaml"));
        if let Some((_, base)) = LAYERED_OVERLAYS.iter().find(|(o, _)| o == overlay) {
            // Its base overlay first, then files of its own folder only.
            let listed: Vec<&str> = seq(&k["resources"]).map(s).collect();
            assert_eq!(listed.first(), Some(base), "{overlay} starts from {base}");
            assert!(
                OVERLAYS.contains(&format!("overlays/{}", base.trim_start_matches("../")).as_str()),
                "{overlay}: {base} is not an overlay"
            );
            for file in &listed[1..] {
                assert!(
                    !file.contains('/') && monitoring().join(overlay).join(file).is_file(),
                    "{overlay}: {file} is not a file of the overlay's folder"
                );
            }
            continue;
        }
        let listed: Vec<String> = seq(&k["resources"])
            .map(|r| s(r).trim_start_matches("../../").to_string())
            .collect();
        assert_eq!(listed, COMPONENTS, "{overlay} resources");
    }
}

#[test]
fn prometheus_scrapes_every_job_the_rules_and_dashboards_rely_on() {
    let config = read_yaml(&monitoring().join("prometheus/prometheus.yml"));
    let jobs: BTreeMap<&str, &Value> = seq(&config["scrape_configs"])
        .map(|j| (s(&j["job_name"]), j))
        .collect();
    for job in [
        "octollm-services",
        "kubernetes-cadvisor",
        "kubelet",
        "kube-state-metrics",
        "node-exporter",
        "prometheus",
        "alertmanager",
        "loki",
        "alloy",
        "jaeger",
        "grafana",
    ] {
        assert!(jobs.contains_key(job), "no scrape job {job}");
    }
    let services = jobs["octollm-services"];
    let relabel: Vec<&Value> = seq(&services["relabel_configs"]).collect();
    let target = |label: &str| {
        relabel
            .iter()
            .find(|r| s(&r["target_label"]) == label)
            .copied()
    };
    for (label, source) in [
        ("namespace", "__meta_kubernetes_namespace"),
        ("pod", "__meta_kubernetes_pod_name"),
        ("container", "__meta_kubernetes_pod_container_name"),
        (
            "service",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        ),
    ] {
        let rule =
            target(label).unwrap_or_else(|| panic!("octollm-services sets no {label} label"));
        assert_eq!(s(&rule["source_labels"][0]), source, "{label}");
    }
    assert!(relabel.iter().any(|r| s(&r["source_labels"][0])
        == "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
        && s(&r["action"]) == "keep"));
    assert!(relabel
        .iter()
        .any(|r| s(&r["target_label"]) == "__metrics_path__"));
    assert_eq!(
        jobs["kube-state-metrics"]["honor_labels"].as_bool(),
        Some(true)
    );
    assert_eq!(
        s(&jobs["kubernetes-cadvisor"]["metrics_path"]),
        "/metrics/cadvisor"
    );
    assert!(
        seq(&config["alerting"]["alertmanagers"]).count() == 1,
        "alerting points at Alertmanager"
    );
    assert_eq!(
        seq(&config["rule_files"]).map(s).collect::<Vec<_>>(),
        ["/etc/prometheus/rules/*.yaml"]
    );
}

#[test]
fn loki_uses_tsdb_v13_and_per_level_retention() {
    for (file, store) in [
        ("loki/loki.yaml", "gcs"),
        ("overlays/dev/loki.yaml", "filesystem"),
    ] {
        let loki = read_yaml(&monitoring().join(file));
        assert!(
            loki["retention_stream"].is_null(),
            "{file}: retention_stream belongs in limits_config"
        );
        let schema = &loki["schema_config"]["configs"][0];
        assert_eq!(s(&schema["store"]), "tsdb", "{file}");
        assert_eq!(s(&schema["schema"]), "v13", "{file}");
        assert_eq!(s(&schema["object_store"]), store, "{file}");
        assert_eq!(s(&schema["index"]["period"]), "24h", "{file}");
        assert!(
            !loki["common"]["storage"][store].is_null(),
            "{file}: {store} storage"
        );
        let compactor = &loki["compactor"];
        assert_eq!(
            compactor["retention_enabled"].as_bool(),
            Some(true),
            "{file}"
        );
        assert_eq!(s(&compactor["delete_request_store"]), store, "{file}");
        let limits = &loki["limits_config"];
        assert!(
            !limits["retention_period"].is_null(),
            "{file}: default retention"
        );
        let periods: BTreeMap<&str, &str> = seq(&limits["retention_stream"])
            .map(|r| (s(&r["selector"]), s(&r["period"])))
            .collect();
        assert_eq!(
            periods,
            BTreeMap::from([
                (r#"{level=~"error|warn"}"#, "2160h"),
                (r#"{level="info"}"#, "720h"),
                (r#"{level=~"debug|trace"}"#, "168h"),
            ]),
            "{file}: per-level retention"
        );
        assert_eq!(
            limits["allow_structured_metadata"].as_bool(),
            Some(true),
            "{file}"
        );
    }
    let base = fs::read_to_string(monitoring().join("loki/loki.yaml")).unwrap();
    assert!(
        base.contains("bucket_name: ${LOKI_GCS_BUCKET}"),
        "bucket from the environment"
    );
    for secret in ["service_account", "private_key", "credentials"] {
        assert!(
            !base.contains(secret),
            "no key material in loki.yaml ({secret})"
        );
    }
}

#[test]
fn alloy_parses_cri_then_json_and_keeps_trace_ids_out_of_labels() {
    let config = fs::read_to_string(monitoring().join("alloy/config.alloy")).unwrap();
    let order: Vec<usize> = [
        "stage.cri",
        "stage.json",
        "stage.labels",
        "stage.structured_metadata",
        "stage.timestamp",
    ]
    .iter()
    .map(|stage| config.find(stage).unwrap_or_else(|| panic!("no {stage}")))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "stage order {order:?}"
    );
    let block = |start: &str| {
        let from = config.find(start).unwrap();
        let to = from + config[from..].find("\n\t}").unwrap();
        config[from..to].to_string()
    };
    let labels = block("stage.labels");
    assert!(
        labels.contains("level") && !labels.contains("trace_id"),
        "labels: {labels}"
    );
    assert!(block("stage.structured_metadata").contains("trace_id"));
    let timestamp = block("stage.timestamp");
    let attribute = |name: &str| {
        timestamp
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_once('='))
            .map(|(_, v)| v.trim().to_owned())
    };
    assert_eq!(attribute("source").as_deref(), Some("\"timestamp\""));
    // A line without a parseable time keeps the runtime's time instead of a guessed one.
    assert_eq!(attribute("action_on_failure").as_deref(), Some("\"skip\""));
    // `alloy fmt` form: tab indentation, and the stream label that stage.cri adds documented.
    assert!(
        config.lines().all(|l| !l.starts_with("  ")),
        "indented with tabs, as `alloy fmt` writes it"
    );
    assert!(config.contains("stream (stdout or stderr, added by stage.cri)"));
    for label in ["namespace", "pod", "container", "service"] {
        assert!(
            config.contains(&format!("target_label  = \"{label}\"")),
            "no {label} label"
        );
    }
    assert!(config.contains("__meta_kubernetes_pod_label_app_kubernetes_io_name"));
    assert!(config.contains("loki.write"));
}

#[test]
fn jaeger_v2_receives_otlp_and_persists_traces() {
    let jaeger = read_yaml(&monitoring().join("jaeger/config.yaml"));
    let otlp = &jaeger["receivers"]["otlp"]["protocols"];
    assert!(s(&otlp["grpc"]["endpoint"]).ends_with(":4317"));
    assert!(s(&otlp["http"]["endpoint"]).ends_with(":4318"));
    let backends = jaeger["extensions"]["jaeger_storage"]["backends"]
        .as_mapping()
        .expect("backends");
    for (backend, cfg) in backends {
        assert_eq!(
            cfg["badger"]["ephemeral"].as_bool(),
            Some(false),
            "{}: persistent",
            s(backend)
        );
    }
    assert!(s(&jaeger["extensions"]["jaeger_query"]["http"]["endpoint"]).ends_with(":16686"));
    let reader =
        &jaeger["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"];
    assert_eq!(
        reader["port"].as_u64(),
        Some(8888),
        "Jaeger's own metrics for Prometheus"
    );
}

#[test]
fn grafana_datasources_have_fixed_uids_and_link_logs_and_traces() {
    let ds = read_yaml(&monitoring().join("grafana/provisioning/datasources.yaml"));
    let by_uid: BTreeMap<&str, &Value> =
        seq(&ds["datasources"]).map(|d| (s(&d["uid"]), d)).collect();
    assert_eq!(
        by_uid.keys().copied().collect::<Vec<_>>(),
        ["jaeger", "loki", "prometheus"]
    );
    let derived = &by_uid["loki"]["jsonData"]["derivedFields"][0];
    assert_eq!(s(&derived["datasourceUid"]), "jaeger");
    assert_eq!(s(&derived["matcherRegex"]), "trace_id");
    let to_logs = &by_uid["jaeger"]["jsonData"]["tracesToLogsV2"];
    assert_eq!(s(&to_logs["datasourceUid"]), "loki");
    assert!(s(&to_logs["query"]).contains("trace_id=\"$${__trace.traceId}\""));
    for d in by_uid.values() {
        assert_eq!(d["editable"].as_bool(), Some(false));
    }
}

// === the embedded copy ===

#[cfg(feature = "manifests")]
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(relative, fs::read(&path).expect("read file"));
        }
    }
}

#[cfg(feature = "manifests")]
#[test]
fn the_embedded_stack_is_exactly_the_monitoring_folder() {
    let root = monitoring();
    let mut on_disk = BTreeMap::new();
    walk(&root, &root, &mut on_disk);
    let embedded: BTreeMap<String, &[u8]> = manifests::list()
        .into_iter()
        .map(|m| (m.path.to_string(), m.contents))
        .collect();
    assert_eq!(
        embedded.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>(),
        "embedded paths differ from monitoring/ (rebuild after changing the folder)"
    );
    for (path, bytes) in &on_disk {
        assert!(
            embedded[path] == bytes.as_slice(),
            "{path}: embedded contents differ"
        );
    }
    assert!(on_disk.contains_key("README.md") && on_disk.contains_key("kustomization.yaml"));
    assert!(ROOT_CONTAINERS.iter().all(|(_, why)| !why.is_empty()));
}
