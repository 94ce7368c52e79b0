//! The OpenTelemetry resource: who is emitting the telemetry, built from the plan's
//! [`Identity`]. The table of sources is in the [`TelemetryConfig`](crate::TelemetryConfig)
//! documentation.

use opentelemetry::KeyValue;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::config::Identity;

const IDENTITY_KEYS: &[&str] = &[
    semconv::SERVICE_NAME,
    semconv::SERVICE_VERSION,
    semconv::SERVICE_NAMESPACE,
    semconv::SERVICE_INSTANCE_ID,
    semconv::DEPLOYMENT_ENVIRONMENT_NAME,
    #[allow(deprecated)]
    semconv::DEPLOYMENT_ENVIRONMENT,
];

/// Builds the resource; later entries override earlier ones.
pub(crate) fn build(identity: &Identity) -> Resource {
    let mut attrs: Vec<KeyValue> = Vec::with_capacity(16);
    let others = identity
        .attributes
        .iter()
        .filter(|(k, _)| !IDENTITY_KEYS.contains(&k.as_str()));
    attrs.extend(others.map(|(k, v)| KeyValue::new(k.clone(), v.clone())));
    attrs.extend(
        identity
            .k8s_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.clone())),
    );
    let environment = identity.environment.as_str();
    attrs.push(KeyValue::new(
        semconv::SERVICE_NAMESPACE,
        identity.service_namespace.clone(),
    ));
    attrs.push(KeyValue::new(
        semconv::SERVICE_INSTANCE_ID,
        identity.service_instance_id.clone(),
    ));
    attrs.push(KeyValue::new(
        semconv::DEPLOYMENT_ENVIRONMENT_NAME,
        environment,
    ));
    #[allow(deprecated)]
    attrs.push(KeyValue::new(semconv::DEPLOYMENT_ENVIRONMENT, environment));
    if let Some(version) = &identity.service_version {
        attrs.push(KeyValue::new(semconv::SERVICE_VERSION, version.clone()));
    }
    attrs.push(KeyValue::new(
        semconv::SERVICE_NAME,
        identity.service_name.clone(),
    ));

    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(attrs)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, TelemetryConfig};
    use opentelemetry::{Key, Value};

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource.get(&Key::from_static_str(key)).map(|v| match v {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
    }

    #[test]
    fn everything_from_the_environment() {
        let config = TelemetryConfig::from_vars([
            ("OTEL_SERVICE_NAME", "reflex-layer"),
            ("SERVICE_NAMESPACE", "octollm-prod"),
            ("APP_VERSION", "1.4.2"),
            ("ENVIRONMENT", "production"),
            ("POD_NAME", "reflex-7d9f-abcde"),
            ("POD_NAMESPACE", "octollm-prod"),
            ("NODE_NAME", "gke-node-1"),
            ("HOSTNAME", "ignored-because-pod-name-is-set"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=platform,service.name=overridden,cloud.region=europe%2Dwest1",
            ),
        ])
        .unwrap()
        .service_name("from-code")
        .service_version("0.0.0-code");
        let r = build(&config.plan().unwrap().identity);
        assert_eq!(get(&r, "service.name").as_deref(), Some("reflex-layer"));
        assert_eq!(get(&r, "service.version").as_deref(), Some("1.4.2"));
        assert_eq!(
            get(&r, "service.namespace").as_deref(),
            Some("octollm-prod")
        );
        assert_eq!(
            get(&r, "service.instance.id").as_deref(),
            Some("reflex-7d9f-abcde")
        );
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("prod")
        );
        assert_eq!(get(&r, "deployment.environment").as_deref(), Some("prod"));
        assert_eq!(
            get(&r, "k8s.pod.name").as_deref(),
            Some("reflex-7d9f-abcde")
        );
        assert_eq!(
            get(&r, "k8s.namespace.name").as_deref(),
            Some("octollm-prod")
        );
        assert_eq!(get(&r, "k8s.node.name").as_deref(), Some("gke-node-1"));
        assert_eq!(get(&r, "team").as_deref(), Some("platform"));
        assert_eq!(get(&r, "cloud.region").as_deref(), Some("europe-west1"));
        assert_eq!(get(&r, "telemetry.sdk.language").as_deref(), Some("rust"));
    }

    #[test]
    fn code_is_the_fallback_for_identity_and_wins_elsewhere() {
        let config = TelemetryConfig::from_vars([
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=a,service.namespace=from-attrs",
            ),
            ("HOSTNAME", "host-1"),
        ])
        .unwrap()
        .service_name("from-code")
        .service_version("2.0.0")
        .environment(Environment::Staging)
        .resource_attribute("team", "b");
        let r = build(&config.plan().unwrap().identity);
        assert_eq!(get(&r, "service.name").as_deref(), Some("from-code"));
        assert_eq!(get(&r, "service.version").as_deref(), Some("2.0.0"));
        assert_eq!(get(&r, "service.namespace").as_deref(), Some("from-attrs"));
        assert_eq!(get(&r, "service.instance.id").as_deref(), Some("host-1"));
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(get(&r, "team").as_deref(), Some("b"));
        assert_eq!(get(&r, "k8s.pod.name"), None);
    }

    #[test]
    fn service_name_in_resource_attributes_beats_code_but_not_otel_service_name() {
        let attrs_only =
            TelemetryConfig::from_vars([("OTEL_RESOURCE_ATTRIBUTES", "service.name=attrs")])
                .unwrap()
                .service_name("code");
        assert_eq!(
            get(&build(&attrs_only.plan().unwrap().identity), "service.name").as_deref(),
            Some("attrs")
        );
        let both = TelemetryConfig::from_vars([
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attrs"),
            ("OTEL_SERVICE_NAME", "env"),
        ])
        .unwrap();
        assert_eq!(
            get(&build(&both.plan().unwrap().identity), "service.name").as_deref(),
            Some("env")
        );
    }

    #[test]
    fn defaults() {
        let config = TelemetryConfig::from_vars(Vec::<(String, String)>::new()).unwrap();
        let r = build(&config.plan().unwrap().identity);
        let name = get(&r, "service.name").unwrap();
        assert!(
            name.starts_with("unknown_service:") && name.len() > "unknown_service:".len(),
            "{name}"
        );
        assert_eq!(get(&r, "service.version"), None);
        assert_eq!(get(&r, "service.namespace").as_deref(), Some("octollm"));
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("dev")
        );
        let id = get(&r, "service.instance.id").unwrap();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
}
