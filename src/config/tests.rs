use super::otlp::{OtlpSettings, METRICS, TRACES};
use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
    TelemetryConfig::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn err(pairs: &[(&str, &str)]) -> ConfigError {
    cfg(pairs).expect_err("configuration should be rejected")
}

/// The resolved view.
fn eff(c: &TelemetryConfig) -> Effective {
    c.effective().expect("a valid configuration")
}

/// The resolved plan.
fn plan(c: &TelemetryConfig) -> Plan {
    c.plan().expect("a valid configuration")
}

/// The OTLP settings of a signal, whichever exporter is chosen.
fn otlp(c: &TelemetryConfig, traces: bool) -> Result<OtlpSettings, ConfigError> {
    let (names, env, code) = if traces {
        (&TRACES, &c.env.traces, &c.code.traces)
    } else {
        (&METRICS, &c.env.metrics, &c.code.metrics)
    };
    OtlpSettings::resolve(
        names,
        env,
        code,
        c.env.otlp_endpoint.as_ref(),
        c.code.otlp_endpoint.as_ref(),
        &mut Vec::new(),
    )
}

fn traces_endpoint(c: &TelemetryConfig) -> Result<String, ConfigError> {
    otlp(c, true).map(|o| o.endpoint)
}

fn metrics_endpoint(c: &TelemetryConfig) -> Result<String, ConfigError> {
    otlp(c, false).map(|o| o.endpoint)
}

#[test]
fn defaults_with_an_empty_environment() {
    let c = cfg(&[]).unwrap();
    assert_eq!(eff(&c).environment(), Environment::Dev);
    assert_eq!(eff(&c).sampler(), Sampler::ParentBasedTraceIdRatio(1.0));
    assert_eq!(eff(&c).traces_exporter(), TracesExporter::Otlp);
    assert_eq!(eff(&c).log_format(), LogFormat::Pretty);
    assert_eq!(otlp(&c, true).unwrap().protocol, Protocol::Grpc);
    assert_eq!(traces_endpoint(&c).unwrap(), "http://localhost:4317");
    assert_eq!(otlp(&c, true).unwrap().timeout, Duration::from_secs(10));
    assert_eq!(otlp(&c, true).unwrap().compression, Compression::None);
    assert_eq!(plan(&c).traces.batch, BatchSettings::default());
    assert_eq!(plan(&c).logs.filter, "info");
    assert_eq!(plan(&c).identity.service_namespace, "octollm");
    assert!(plan(&c).propagators.trace_context && plan(&c).propagators.baggage);
    assert!(plan(&c).warnings.is_empty());
}

#[rustfmt::skip]
#[test]
fn environment_selects_sampling_and_log_format_defaults() {
    let rows = [
        ("dev", Environment::Dev, 1.0, LogFormat::Pretty),
        ("development", Environment::Dev, 1.0, LogFormat::Pretty),
        ("staging", Environment::Staging, 0.1, LogFormat::Json),
        ("prod", Environment::Prod, 0.1, LogFormat::Json),
        ("production", Environment::Prod, 0.1, LogFormat::Json),
        (" PROD ", Environment::Prod, 0.1, LogFormat::Json),
        ("", Environment::Dev, 1.0, LogFormat::Pretty),
    ];
    for (value, env, ratio, format) in rows {
        let c = cfg(&[("ENVIRONMENT", value)]).unwrap();
        assert_eq!(eff(&c).environment(), env, "{value:?}");
        assert_eq!(eff(&c).sampler().root_ratio(), ratio, "{value:?}");
        assert_eq!(eff(&c).log_format(), format, "{value:?}");
    }
}

#[test]
fn code_wins_over_environment_which_wins_over_defaults() {
    let c = cfg(&[
        ("ENVIRONMENT", "prod"),
        ("OTEL_SAMPLING_RATE", "0.5"),
        ("LOG_FORMAT", "pretty"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
    ])
    .unwrap();
    assert_eq!(eff(&c).sampler(), Sampler::ParentBasedTraceIdRatio(0.5));
    assert_eq!(eff(&c).log_format(), LogFormat::Pretty);
    assert_eq!(plan(&c).traces.batch.max_queue_size, 100);
    assert_eq!(
        plan(&c).traces.batch.max_export_batch_size,
        100,
        "an unset batch size follows the queue"
    );
    let c = c
        .environment(Environment::Dev)
        .sampler(Sampler::AlwaysOff)
        .log_format(LogFormat::Json)
        .protocol(Protocol::Grpc)
        .max_queue_size(4096);
    assert_eq!(eff(&c).environment(), Environment::Dev);
    assert_eq!(eff(&c).sampler(), Sampler::AlwaysOff);
    assert_eq!(eff(&c).log_format(), LogFormat::Json);
    assert_eq!(otlp(&c, true).unwrap().protocol, Protocol::Grpc);
    assert_eq!(plan(&c).traces.batch.max_queue_size, 4096);
}

#[rustfmt::skip]
#[test]
fn endpoint_resolution_follows_the_spec() {
    let rows: &[(&[(&str, &str)], &str)] = &[
        (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "http://localhost:4318/v1/traces"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")], "http://collector:4317"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "http://collector:4318/v1/traces"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "http://collector:4318/v1/traces"),
        // The signal-specific endpoint is used as it is, and wins over the generic one.
        (&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://g:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "http://t:4318/custom"),
        // The signal-specific protocol wins over the generic one.
        (&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")], "http://localhost:4317"),
        // A schemeless gRPC endpoint is https unless insecure.
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")], "https://collector:4317"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_INSECURE", "true")], "http://collector:4317"),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "TRUE"), ("OTEL_EXPORTER_OTLP_INSECURE", "false")], "http://collector:4317"),
        // The seed's JAEGER_ENDPOINT still works, as a deprecated alias.
        (&[("JAEGER_ENDPOINT", "http://jaeger-collector:4317")], "http://jaeger-collector:4317"),
        (&[("JAEGER_ENDPOINT", "http://old:4317"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://new:4317")], "http://new:4317"),
    ];
    for (vars, want) in rows {
        let c = cfg(vars).unwrap();
        assert_eq!(traces_endpoint(&c).unwrap(), *want, "{vars:?}");
    }
}

#[test]
fn code_endpoint_is_a_base_url() {
    let c = cfg(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://env:4318/v1/traces",
    )])
    .unwrap()
    .protocol(Protocol::HttpProtobuf)
    .endpoint("http://code:4318");
    assert_eq!(traces_endpoint(&c).unwrap(), "http://code:4318/v1/traces");
}

#[test]
fn jaeger_endpoint_warns() {
    let c = cfg(&[("JAEGER_ENDPOINT", "http://jaeger:4317")]).unwrap();
    assert_eq!(plan(&c).warnings.len(), 1);
    assert!(
        plan(&c).warnings[0].contains("JAEGER_ENDPOINT is deprecated"),
        "{:?}",
        plan(&c).warnings
    );
}

#[test]
fn exporter_protocol_and_transport_settings() {
    let c = cfg(&[
        ("OTEL_TRACES_EXPORTER", "console"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20abc,x-tenant=octo",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1024"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
        ("OTEL_PROPAGATORS", "tracecontext"),
    ])
    .unwrap();
    assert_eq!(eff(&c).traces_exporter(), TracesExporter::Console);
    assert_eq!(
        otlp(&c, true).unwrap().headers.0,
        vec![
            ("authorization".to_string(), "Bearer abc".to_string()),
            ("x-tenant".to_string(), "octo".to_string())
        ]
    );
    assert_eq!(otlp(&c, true).unwrap().timeout, Duration::from_millis(2500));
    assert_eq!(otlp(&c, true).unwrap().compression, Compression::Gzip);
    assert_eq!(
        plan(&c).traces.batch,
        BatchSettings {
            max_queue_size: 4096,
            max_export_batch_size: 1024,
            schedule_delay: Duration::from_millis(200),
            export_timeout: Duration::from_millis(1000),
        }
    );
    assert!(plan(&c).propagators.trace_context && !plan(&c).propagators.baggage);
    let c = cfg(&[
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=1"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "b=2"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ])
    .unwrap();
    assert_eq!(
        otlp(&c, true).unwrap().headers.0,
        vec![("a".to_string(), "1".to_string())]
    );
    assert_eq!(otlp(&c, true).unwrap().timeout, Duration::from_millis(100));
    assert_eq!(otlp(&c, true).unwrap().compression, Compression::None);
}

#[test]
fn sdk_disabled_keeps_ids_but_exports_nothing() {
    let c = cfg(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ])
    .unwrap();
    assert_eq!(eff(&c).traces_exporter(), TracesExporter::None);
    let c = cfg(&[("OTEL_SDK_DISABLED", "false")]).unwrap();
    assert_eq!(eff(&c).traces_exporter(), TracesExporter::Otlp);
}

#[rustfmt::skip]
#[test]
fn every_bad_variable_is_named_in_the_error() {
    let rows: &[(&str, &str, &str)] = &[
        ("ENVIRONMENT", "qa", "dev, staging, prod"),
        ("OTEL_SAMPLING_RATE", "abc", "0.0 to 1.0"),
        ("OTEL_TRACES_SAMPLER", "xray", "parentbased_traceidratio"),
        ("OTEL_SDK_DISABLED", "yes", "true or false"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "otlp, console, none"),
        ("OTEL_PROPAGATORS", "b3", "tracecontext, baggage, none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc, http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp", "grpc, http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "key=value"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad header=1", "HTTP header names"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "k=line%0Abreak", "printable ASCII"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", "gzip, none"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "1", "true or false"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "greater than 0"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "lots", "greater than 0"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096", "from 1 to OTEL_BSP_MAX_QUEUE_SIZE (2048)"),
        ("OTEL_BSP_SCHEDULE_DELAY", "1.5", "milliseconds"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "soon", "milliseconds"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team", "key=value"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=%zz", "percent-encoded"),
        ("LOG_FORMAT", "xml", "json, pretty"),
        ("OTEL_METRICS_EXPORTER", "statsd", "prometheus, otlp, none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1m", "milliseconds"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0", "greater than 0"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json", "grpc, http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "nokeyvalue", "key=value"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "fast", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd", "gzip, none"),
        ("RUST_LOG", "info,my_crate=loud", "filter directives"),
        ("RUST_LOG", "[{a=x..............................y}]", "literal text"),
        ("RUST_LOG", "t]x{a=}:2[s{b=1.x..............................y}]", "literal text"),
    ];
    for (var, value, accepted) in rows {
        let e = err(&[(var, value)]);
        assert_eq!(e.name, *var, "{var}={value}");
        let msg = e.to_string();
        assert!(msg.contains(var) && msg.contains(accepted), "{var}={value}: {msg}");
        if var.ends_with("_HEADERS") {
            // Request headers hold credentials: the value is never repeated.
            assert_eq!(e.value, "<redacted>", "{var}={value}");
            assert!(!msg.contains(value) && !format!("{e:?}{e:#?}").contains(value), "{msg}");
        } else {
            assert_eq!(e.value, *value, "{var}={value}");
            assert!(msg.contains(value), "{var}={value}: {msg}");
        }
    }
}

/// A malformed header list names the variable and the malformed member by its position (and
/// its key when the key is sound), never a value: not the bad member's, not a good one's.
#[test]
fn header_errors_name_the_member_and_show_no_value() {
    let secret = "sk-live-123";
    for (value, names) in [
        (format!("api-key={secret},x"), "member 2 has no `=`"),
        (format!("api-key={secret},{secret}"), "member 2 has no `=`"),
        (
            format!("x-tenant=t,api-key={secret}%0A"),
            "member 2 (key \"api-key\") has a value that is not printable ASCII",
        ),
        (
            format!("api-key={secret},bad key=1"),
            "member 2 has a key that is not an HTTP header name",
        ),
        (
            format!("api-key={secret}%zz"),
            "member 1 (key \"api-key\") has a malformed %-escape in its value",
        ),
        (format!("={secret}"), "member 1 has an empty key"),
    ] {
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            let e = err(&[(var, &value)]);
            let shown = format!("{e}\n{e:?}\n{e:#?}");
            assert!(
                shown.contains(var) && shown.contains(names),
                "{value}: {shown}"
            );
            assert!(!shown.contains(secret), "{value}: {shown}");
        }
    }
}

#[test]
fn malformed_endpoints_are_rejected_at_validation() {
    for (vars, var) in [
        (
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x:1")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (vec![("JAEGER_ENDPOINT", "http://")], "JAEGER_ENDPOINT"),
    ] {
        let e = cfg(&vars).unwrap().effective().map(drop).unwrap_err();
        assert_eq!(e.name, var, "{vars:?}");
        assert!(e.to_string().contains("or https:// URL with a host"), "{e}");
    }
    // Not validated when nothing is exported over OTLP.
    let c = cfg(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ])
    .unwrap();
    assert!(c.effective().map(drop).is_ok());
}

#[test]
fn code_settings_are_validated_too() {
    let e = cfg(&[])
        .unwrap()
        .sampler(Sampler::TraceIdRatio(1.5))
        .effective()
        .map(drop)
        .unwrap_err();
    assert_eq!(e.name, "sampler");
    let e = cfg(&[])
        .unwrap()
        .max_export_batch_size(10_000)
        .effective()
        .map(drop)
        .unwrap_err();
    assert_eq!(e.name, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
    let e = cfg(&[])
        .unwrap()
        .log_filter("[[")
        .effective()
        .map(drop)
        .unwrap_err();
    assert_eq!(e.name, "log_filter");
}

#[test]
fn non_unicode_values_are_errors() {
    let e = TelemetryConfig::from_lookup(|n| {
        (n == "OTEL_SERVICE_NAME").then(|| Err("\u{FFFD}abc".to_string()))
    })
    .unwrap_err();
    assert_eq!(e.name, "OTEL_SERVICE_NAME");
    assert!(e.to_string().contains("UTF-8"), "{e}");
}

#[test]
fn whitespace_and_empty_values_count_as_unset() {
    let c = cfg(&[
        ("ENVIRONMENT", "  "),
        ("OTEL_SAMPLING_RATE", ""),
        ("OTEL_SERVICE_NAME", " \t"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("RUST_LOG", ""),
    ])
    .unwrap();
    assert_eq!(eff(&c).environment(), Environment::Dev);
    assert_eq!(c.env.sampler, None);
    assert_eq!(c.env.service_name, None);
    assert_eq!(traces_endpoint(&c).unwrap(), "http://localhost:4317");
    assert_eq!(plan(&c).logs.filter, "info");
    let c = cfg(&[
        ("OTEL_SERVICE_NAME", "  reflex  "),
        ("OTEL_SAMPLING_RATE", " 0.5 "),
    ])
    .unwrap();
    assert_eq!(eff(&c).service_name(), "reflex");
    assert_eq!(eff(&c).sampler().root_ratio(), 0.5);
}

#[test]
fn pod_name_then_hostname_then_uuid_identify_the_instance() {
    let c = cfg(&[("POD_NAME", "pod-1"), ("HOSTNAME", "host-1")]).unwrap();
    assert_eq!(plan(&c).identity.service_instance_id, "pod-1");
    let c = cfg(&[("HOSTNAME", "host-1")]).unwrap();
    assert_eq!(plan(&c).identity.service_instance_id, "host-1");
    let a = plan(&cfg(&[]).unwrap()).identity.service_instance_id;
    let b = plan(&cfg(&[]).unwrap()).identity.service_instance_id;
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
}

#[rustfmt::skip]
#[test]
fn metrics_settings() {
    let c = cfg(&[]).unwrap();
    assert_eq!(eff(&c).metrics_exporter(), MetricsExporter::Prometheus);
    assert_eq!(plan::metric_export_interval(&c.env, &c.code).unwrap(), Duration::from_secs(60));
    assert_eq!(metrics_endpoint(&c).unwrap(), "http://localhost:4317");
    let c = cfg(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ])
    .unwrap();
    assert_eq!(eff(&c).metrics_exporter(), MetricsExporter::Otlp);
    assert_eq!(plan::metric_export_interval(&c.env, &c.code).unwrap(), Duration::from_millis(1500));
    assert_eq!(metrics_endpoint(&c).unwrap(), "http://collector:4318/v1/metrics");
    assert_eq!(traces_endpoint(&c).unwrap(), "http://collector:4318/v1/traces");
    let c = cfg(&[
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .unwrap();
    assert_eq!(metrics_endpoint(&c).unwrap(), "http://m:9/custom");
    assert_eq!(otlp(&c, false).unwrap().protocol, Protocol::HttpProtobuf);
    assert_eq!(otlp(&c, true).unwrap().protocol, Protocol::Grpc);
    let c = cfg(&[("OTEL_SDK_DISABLED", "true")]).unwrap();
    assert_eq!(eff(&c).metrics_exporter(), MetricsExporter::None);
    let e = cfg(&[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "not a url")]).unwrap().effective().map(drop).unwrap_err();
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Every variable read from the environment.
    const VARS: &[&str] = vars::ALL;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// Any value of any variable is accepted, or refused by an error that names that
        /// variable, repeats the value and says what is accepted; nothing panics.
        #[test]
        fn any_value_is_accepted_or_refused_by_name(
            index in 0..VARS.len(),
            value in "\\PC{0,60}|[a-z0-9=,%:/._ -]{0,40}",
        ) {
            let var = VARS[index];
            let checked = cfg(&[(var, &value)]).and_then(|c| c.effective().map(drop));
            if let Err(e) = checked {
                prop_assert_eq!(e.name.as_str(), var);
                if var.ends_with("_HEADERS") {
                    prop_assert_eq!(e.value.as_str(), "<redacted>");
                } else {
                    prop_assert!(value.contains(e.value.trim()), "{} is not from {:?}", e.value, value);
                }
                prop_assert!(!e.expected.is_empty());
                let msg = e.to_string();
                prop_assert!(msg.contains(var) && msg.contains(&e.expected), "{}", msg);
            }
        }
    }
}

#[test]
fn every_bad_variable_is_reported_at_once() {
    let e = err(&[
        ("OTEL_SAMPLING_RATE", "10%"),
        ("LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
    ]);
    let mut names: Vec<&str> = std::iter::once(&e)
        .chain(e.others())
        .map(|e| e.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "LOG_FORMAT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_SAMPLING_RATE"
        ]
    );
    let msg = e.to_string();
    assert_eq!(msg.matches("invalid value").count(), 3, "{msg}");
    // Code settings and variables are checked together too.
    let e = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")])
        .unwrap()
        .sampler(Sampler::TraceIdRatio(2.0))
        .effective()
        .unwrap_err();
    let names: Vec<&str> = std::iter::once(&e)
        .chain(e.others())
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["sampler", "OTEL_EXPORTER_OTLP_ENDPOINT"]);
}

#[test]
fn every_variable_is_listed_once_and_documented_in_the_crate_docs_table() {
    let mut seen = std::collections::HashSet::new();
    for name in vars::ALL {
        assert!(seen.insert(name), "{name} twice in vars::ALL");
    }
    let lib = include_str!("../lib.rs");
    for name in vars::ALL {
        // A table row names the variable in full, or as `_SUFFIX` after its family.
        let short = name
            .rsplit_once("_METRICS")
            .map(|(_, s)| format!("`_METRICS{s}`"));
        let documented = |doc: &str| {
            doc.contains(&format!("`{name}`"))
                || short.as_ref().is_some_and(|s| doc.contains(s.as_str()))
        };
        assert!(
            documented(lib),
            "{name} is missing from the crate documentation's table"
        );
    }
    // The table has one place: the README points to it and holds no copy of its rows.
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(r#"section "Environment variables""#),
        "the README no longer points to the crate documentation's table"
    );
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| {
            vars::ALL
                .iter()
                .any(|name| l.starts_with(&format!("| `{name}`")))
        })
        .collect();
    assert!(
        rows.is_empty(),
        "a copy of the table in the README: {rows:#?}"
    );
}
