//! Reading the environment into [`Settings`]: every variable is read, parsed and stored; no
//! default is applied here. Every malformed value is reported, not only the first.

use super::otlp::{SignalVars, LOGS, METRICS, TRACES};
use super::parse::{self, Vars};
use super::settings::{BatchOptions, Propagators, Settings, SignalSettings, Sourced};
#[allow(clippy::wildcard_imports, reason = "the variable names")]
use super::vars::*;
use super::{log_filter, sampler};
use crate::error::ConfigError;

/// Reads variables, keeping every error it meets.
pub(crate) struct Reader<'a> {
    vars: Vars<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(vars: Vars<'a>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    /// The errors met, as one error (the first, with the others attached).
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        ConfigError::all(self.errors)
    }

    /// Keeps `result`'s error and gives its value.
    pub(crate) fn check<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    fn get(&mut self, name: &'static str) -> Option<String> {
        let value = self.vars.get(name);
        self.check(value).flatten()
    }

    fn parse<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str, &str) -> Result<T, ConfigError>,
    ) -> Option<T> {
        let value = self.get(name)?;
        self.check(parse(name, &value))
    }

    /// The first of `names` that is set, parsed.
    fn first<T>(
        &mut self,
        names: [&'static str; 2],
        parse: impl FnOnce(&str, &str) -> Result<T, ConfigError>,
    ) -> Option<T> {
        let found = self.vars.first(&names);
        let (name, value) = self.check(found).flatten()?;
        self.check(parse(name, &value))
    }
}

impl Reader<'_> {
    /// The first of `names` that is set, as a path with the name it came from.
    fn path(&mut self, names: [&'static str; 2]) -> Option<Sourced<std::path::PathBuf>> {
        let found = self.vars.first(&names);
        let (name, value) = self.check(found).flatten()?;
        Some(Sourced::new(value.into(), name))
    }
}

/// Reads every variable the crate knows.
pub(crate) fn read(reader: &mut Reader<'_>) -> Settings {
    let mut settings = Settings::default();
    identity(reader, &mut settings);
    let sampler = sampler::from_vars(&reader.vars);
    settings.sampler = reader.check(sampler).flatten();
    settings.sdk_disabled = reader.parse(OTEL_SDK_DISABLED, parse::boolean);
    settings.traces_exporter = reader.parse(OTEL_TRACES_EXPORTER, parse::word);
    settings.metrics_exporter = reader.parse(OTEL_METRICS_EXPORTER, parse::word);
    settings.metric_export_interval = reader
        .parse(OTEL_METRIC_EXPORT_INTERVAL, parse::millis)
        .map(|d| Sourced::new(d, OTEL_METRIC_EXPORT_INTERVAL));
    settings.runtime_metrics = reader.parse(OCTOLLM_RUNTIME_METRICS, parse::boolean);
    settings.exemplars = reader.parse(OCTOLLM_EXEMPLARS, parse::boolean);
    settings.genai_content = reader.parse(
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
        parse::word,
    );
    settings.propagators = reader.parse(OTEL_PROPAGATORS, parse_propagators);
    settings.traces = signal(reader, &TRACES);
    settings.metrics = signal(reader, &METRICS);
    settings.logs = signal(reader, &LOGS);
    settings.logs_exporter = reader.parse(OTEL_LOGS_EXPORTER, parse::word);
    settings.log_batch = BatchOptions {
        max_queue_size: reader.parse(OTEL_BLRP_MAX_QUEUE_SIZE, parse::positive),
        max_export_batch_size: reader.parse(OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, parse::positive),
        schedule_delay: reader.parse(OTEL_BLRP_SCHEDULE_DELAY, parse::millis),
        export_timeout: reader.parse(OTEL_BLRP_EXPORT_TIMEOUT, parse::millis),
    };
    settings.otlp_endpoint = reader
        .get(OTEL_EXPORTER_OTLP_ENDPOINT)
        .map(|v| Sourced::new(v, OTEL_EXPORTER_OTLP_ENDPOINT));
    jaeger_alias(reader, &mut settings);
    settings.batch = BatchOptions {
        max_queue_size: reader.parse(OTEL_BSP_MAX_QUEUE_SIZE, parse::positive),
        max_export_batch_size: reader.parse(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, parse::positive),
        schedule_delay: reader.parse(OTEL_BSP_SCHEDULE_DELAY, parse::millis),
        export_timeout: reader.parse(OTEL_BSP_EXPORT_TIMEOUT, parse::millis),
    };
    settings.log_format = reader.parse(LOG_FORMAT, parse::word);
    settings.log_filter = reader
        .parse(RUST_LOG, log_filter::parse)
        .map(|v| Sourced::new(v, RUST_LOG));
    settings
}

/// The resource's identity and attributes. A dedicated variable beats the same key in
/// `OTEL_RESOURCE_ATTRIBUTES`, as the specification requires for `OTEL_SERVICE_NAME`.
fn identity(reader: &mut Reader<'_>, settings: &mut Settings) {
    settings.environment = reader.parse(ENVIRONMENT, parse::word);
    let resource = reader
        .parse(OTEL_RESOURCE_ATTRIBUTES, parse::key_value_list)
        .unwrap_or_default();
    let from_resource = |key: &str| {
        resource
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    settings.service_name = reader
        .get(OTEL_SERVICE_NAME)
        .or_else(|| from_resource("service.name"));
    settings.service_version = reader
        .get(APP_VERSION)
        .or_else(|| from_resource("service.version"));
    settings.service_namespace = reader
        .get(SERVICE_NAMESPACE)
        .or_else(|| from_resource("service.namespace"));
    let pod_name = reader.get(POD_NAME);
    let hostname = reader.get(HOSTNAME);
    settings.service_instance_id = pod_name
        .clone()
        .or(hostname)
        .or_else(|| from_resource("service.instance.id"));
    for (key, value) in [
        ("k8s.pod.name", pod_name),
        ("k8s.namespace.name", reader.get(POD_NAMESPACE)),
        ("k8s.node.name", reader.get(NODE_NAME)),
    ] {
        if let Some(v) = value {
            settings.k8s_attributes.push((key, v));
        }
    }
    settings.resource = resource;
}

/// The OTLP variables of one signal: the signal-specific one wins over the generic one.
fn signal(reader: &mut Reader<'_>, names: &'static SignalVars) -> SignalSettings {
    SignalSettings {
        protocol: reader.first([names.protocol, OTEL_EXPORTER_OTLP_PROTOCOL], parse::word),
        endpoint: reader
            .get(names.endpoint)
            .map(|v| Sourced::new(v, names.endpoint)),
        insecure: reader.first(
            [names.insecure, OTEL_EXPORTER_OTLP_INSECURE],
            parse::boolean,
        ),
        headers: reader.first(
            [names.headers, OTEL_EXPORTER_OTLP_HEADERS],
            super::otlp::parse_headers,
        ),
        timeout: reader.first([names.timeout, OTEL_EXPORTER_OTLP_TIMEOUT], parse::millis),
        compression: reader.first(
            [names.compression, OTEL_EXPORTER_OTLP_COMPRESSION],
            parse::word,
        ),
        certificate: reader.path([names.certificate, OTEL_EXPORTER_OTLP_CERTIFICATE]),
        client_certificate: reader.path([
            names.client_certificate,
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
        ]),
        client_key: reader.path([names.client_key, OTEL_EXPORTER_OTLP_CLIENT_KEY]),
    }
}

/// `JAEGER_ENDPOINT`, the seed's variable, is read as `OTEL_EXPORTER_OTLP_ENDPOINT` when no
/// OTLP endpoint is set, with a deprecation warning either way.
fn jaeger_alias(reader: &mut Reader<'_>, settings: &mut Settings) {
    let Some(jaeger) = reader.get(JAEGER_ENDPOINT) else {
        return;
    };
    if settings.otlp_endpoint.is_none() && settings.traces.endpoint.is_none() {
        settings.warnings.push(format!(
            "{JAEGER_ENDPOINT} is deprecated: set {OTEL_EXPORTER_OTLP_ENDPOINT} instead \
             (using {jaeger:?} as the OTLP endpoint)"
        ));
        settings.otlp_endpoint = Some(Sourced::new(jaeger, JAEGER_ENDPOINT));
    } else {
        settings.warnings.push(format!(
            "{JAEGER_ENDPOINT} is deprecated and ignored because an OTEL_EXPORTER_OTLP_* endpoint is set"
        ));
    }
}

fn parse_propagators(name: &str, value: &str) -> Result<Propagators, ConfigError> {
    let mut p = Propagators {
        trace_context: false,
        baggage: false,
    };
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.to_ascii_lowercase().as_str() {
            "tracecontext" => p.trace_context = true,
            "baggage" => p.baggage = true,
            "none" => {}
            _ => {
                return Err(ConfigError::new(
                    name,
                    value,
                    "a comma-separated list of tracecontext, baggage, none",
                ))
            }
        }
    }
    Ok(p)
}
