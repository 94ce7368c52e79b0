//! Every malformed variable makes `init_telemetry` fail with a `ConfigError` naming the variable
//! and the value, without installing anything: a valid init in the same process then succeeds,
//! and a second one is refused with `AlreadyInitialized`.
//!
//! The cases go through the real process environment, so they run one after another in a
//! single test function.

use octollm_telemetry::{init_telemetry, InitError, TelemetryConfig};

/// Variables the crate reads, plus any other `OTEL_*`: cleared first so that the machine's
/// environment cannot change the outcome.
const READ_BY_THE_CRATE: &[&str] = &[
    "ENVIRONMENT",
    "SERVICE_NAMESPACE",
    "APP_VERSION",
    "POD_NAME",
    "POD_NAMESPACE",
    "NODE_NAME",
    "JAEGER_ENDPOINT",
    "RUST_LOG",
    "LOG_FORMAT",
];

/// Variables to set, the variable the error must name, the value it must quote.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    (&[("OTEL_SAMPLING_RATE", "abc")], "OTEL_SAMPLING_RATE", "abc"),
    (&[("OTEL_SAMPLING_RATE", "1.5")], "OTEL_SAMPLING_RATE", "1.5"),
    (&[("OTEL_SAMPLING_RATE", "-1")], "OTEL_SAMPLING_RATE", "-1"),
    (&[("OTEL_SAMPLING_RATE", "NaN")], "OTEL_SAMPLING_RATE", "NaN"),
    (&[("OTEL_TRACES_SAMPLER", "foo")], "OTEL_TRACES_SAMPLER", "foo"),
    (&[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")], "OTEL_TRACES_SAMPLER_ARG", "0.5"),
    (&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")], "OTEL_TRACES_SAMPLER_ARG", "2"),
    (&[("OTEL_TRACES_SAMPLER_ARG", "0.5")], "OTEL_TRACES_SAMPLER_ARG", "0.5"),
    (&[("ENVIRONMENT", "qa")], "ENVIRONMENT", "qa"),
    (&[("OTEL_TRACES_EXPORTER", "zipkin")], "OTEL_TRACES_EXPORTER", "zipkin"),
    (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")], "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    // Header values may be credentials: the error says the value is not shown.
    (&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")], "OTEL_EXPORTER_OTLP_HEADERS", "<redacted>"),
    (&[("OTEL_EXPORTER_OTLP_TIMEOUT", "5s")], "OTEL_EXPORTER_OTLP_TIMEOUT", "5s"),
    (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")], "OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    (&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")], "OTEL_BSP_MAX_QUEUE_SIZE", "0"),
    (&[("OTEL_BSP_MAX_QUEUE_SIZE", "100"), ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200")], "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200"),
    (&[("OTEL_RESOURCE_ATTRIBUTES", "team")], "OTEL_RESOURCE_ATTRIBUTES", "team"),
    (&[("OTEL_RESOURCE_ATTRIBUTES", "team=a,region=%zz")], "OTEL_RESOURCE_ATTRIBUTES", "team=a,region=%zz"),
    (&[("LOG_FORMAT", "xml")], "LOG_FORMAT", "xml"),
    (&[("RUST_LOG", "info,[[[")], "RUST_LOG", "info,[[["),
    (&[("RUST_LOG", "my_crate=loud")], "RUST_LOG", "my_crate=loud"),
    (&[("RUST_LOG", "[{a=x..............................y}]")], "RUST_LOG", "[{a=x..............................y}]"),
    (&[("RUST_LOG", "info,\u{a0}\u{a0}=")], "RUST_LOG", "info,\u{a0}\u{a0}="),
    (&[("OTEL_SDK_DISABLED", "yes")], "OTEL_SDK_DISABLED", "yes"),
    (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")], "OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
    (&[("OTEL_PROPAGATORS", "b3")], "OTEL_PROPAGATORS", "b3"),
];

#[tokio::test(flavor = "multi_thread")]
async fn malformed_variables_are_named_and_do_not_poison_init() {
    // A clean slate, restored at the end.
    let saved: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("OTEL_") || READ_BY_THE_CRATE.contains(&k.as_str()))
        .collect();
    for (k, _) in &saved {
        std::env::remove_var(k);
    }

    for (vars, name, value) in CASES {
        for (k, v) in *vars {
            std::env::set_var(k, v);
        }
        let result = init_telemetry().await;
        for (k, _) in *vars {
            std::env::remove_var(k);
        }
        match result {
            Err(InitError::Config(e)) => {
                assert_eq!(e.name, *name, "vars {vars:?}: {e}");
                assert_eq!(e.value, *value, "vars {vars:?}: {e}");
                let msg = e.to_string();
                let shown = if *value == "<redacted>" {
                    "(not shown: it may hold credentials)".to_string()
                } else {
                    format!("{value:?}")
                };
                assert!(
                    msg.contains(name) && msg.contains(&shown),
                    "the message names {name} and {shown}: {msg}"
                );
                assert!(!msg.contains("novalue"), "{msg}");
                assert!(!e.expected.is_empty(), "says what is accepted: {msg}");
            }
            Err(other) => panic!("vars {vars:?}: expected a config error, got {other:?}"),
            Ok(_) => panic!("vars {vars:?}: init succeeded"),
        }
        assert!(
            !tracing::dispatcher::has_been_set(),
            "vars {vars:?}: a failed init installed a subscriber"
        );
    }

    // The errors left nothing behind: a valid init works...
    std::env::set_var("OTEL_SERVICE_NAME", "bad-env");
    std::env::set_var("OTEL_TRACES_EXPORTER", "none");
    std::env::set_var("LOG_FORMAT", "json");
    let guard = init_telemetry()
        .await
        .expect("a valid init after the errors");
    assert!(tracing::dispatcher::has_been_set());

    // ...and only once per process, without a panic, from either entry point.
    assert!(
        matches!(init_telemetry().await, Err(InitError::AlreadyInitialized)),
        "second init_telemetry"
    );
    let again = TelemetryConfig::from_vars([("OTEL_TRACES_EXPORTER", "none")])
        .unwrap()
        .init()
        .await;
    assert!(
        matches!(again, Err(InitError::AlreadyInitialized)),
        "second init: {again:?}"
    );
    // A malformed value is still reported as such after init.
    std::env::set_var("OTEL_SAMPLING_RATE", "abc");
    assert!(matches!(
        init_telemetry().await,
        Err(InitError::Config(e)) if e.name == "OTEL_SAMPLING_RATE"
    ));
    std::env::remove_var("OTEL_SAMPLING_RATE");

    guard.shutdown().expect("shutdown");
    for k in ["OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER", "LOG_FORMAT"] {
        std::env::remove_var(k);
    }
    for (k, v) in saved {
        std::env::set_var(k, v);
    }
}

/// The HTTP exporter appends `/v1/traces` to the base endpoint; an error must still quote the
/// value as it was given. Checked without the process environment (and before any global state
/// is touched), so it can run next to the test above.
#[tokio::test]
async fn a_malformed_http_base_endpoint_is_quoted_as_given() {
    let config = TelemetryConfig::from_vars([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
    ])
    .unwrap();
    let from_config = config.effective().unwrap_err();
    match config.init().await {
        Err(InitError::Config(e)) => {
            assert_eq!(e, from_config);
            assert_eq!(e.name, "OTEL_EXPORTER_OTLP_ENDPOINT", "{e}");
            assert_eq!(e.value, "not a url", "{e}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}
