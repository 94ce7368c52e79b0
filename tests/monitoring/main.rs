//! The monitoring stack under `monitoring/`: the Kubernetes manifests, the Alertmanager
//! configuration, the Prometheus alert rules and the Grafana dashboards. One test binary: none
//! of these tests installs global state.

#[path = "../support/mod.rs"]
mod support;

mod alert_ha;
mod alert_rules;
mod alertmanager;
mod dashboards;
mod docs;
mod jaeger;
mod jaeger_scale;
mod k8s;
mod lb_tier;
mod llm_cost;
mod metrics_dedup;
mod scale;
mod scale_logs_grafana;
