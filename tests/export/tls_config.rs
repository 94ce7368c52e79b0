//! Every bad TLS input is an init error that names its variable (or builder setting) and says
//! what is accepted; certificate files for a plain `http://` endpoint are a warning.

use crate::support;

use octollm_telemetry::{ConfigError, TelemetryConfig};
use support::tls::Pki;

fn resolve(vars: &[(&str, &str)]) -> Result<octollm_telemetry::Effective, ConfigError> {
    let mut all = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:4317",
        ),
        ("OTEL_METRICS_EXPORTER", "otlp"),
    ];
    all.extend_from_slice(vars);
    TelemetryConfig::from_vars(all)?.effective()
}

fn error(vars: &[(&str, &str)]) -> ConfigError {
    resolve(vars).expect_err("the configuration must be refused")
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_good_ca_and_client_certificate_are_accepted_for_both_signals() {
    let pki = Pki::generate();
    let effective = resolve(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&pki.ca)),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", s(&pki.client_cert)),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", s(&pki.client_key)),
    ])
    .unwrap();
    assert!(effective.traces_tls() && effective.metrics_tls());
    assert!(
        effective.warnings().is_empty(),
        "{:?}",
        effective.warnings()
    );
}

#[test]
fn an_unreadable_certificate_file_names_the_variable() {
    let e = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CERTIFICATE");
    assert_eq!(e.value, "/nonexistent/ca.pem");
    assert!(
        e.expected
            .contains("a readable PEM file of CA certificates"),
        "{e}"
    );
    assert!(e.expected.contains("reading it failed"), "{e}");
}

#[test]
fn a_file_that_is_not_pem_names_the_variable() {
    let pki = Pki::generate();
    let garbage = pki.file("garbage.pem", "this is not a certificate\n");
    let e = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&garbage))]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CERTIFICATE");
    assert!(e.expected.contains("no CERTIFICATE block"), "{e}");

    // A key where a certificate belongs, and a certificate where the key belongs.
    let e = error(&[
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", s(&pki.client_key)),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", s(&pki.client_cert)),
    ]);
    let mut named: Vec<(&str, &str)> = std::iter::once(&e)
        .chain(e.others())
        .map(|e| (e.name.as_str(), e.expected.as_str()))
        .collect();
    named.sort_unstable();
    assert_eq!(named.len(), 2, "{e}");
    assert_eq!(named[0].0, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
    assert!(named[0].1.contains("no CERTIFICATE block"), "{e}");
    assert_eq!(named[1].0, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    assert!(named[1].1.contains("no PRIVATE KEY block"), "{e}");

    // A PEM block whose base64 is broken.
    let broken = pki.file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let e = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&broken))]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CERTIFICATE");
    assert!(e.expected.contains("not valid PEM"), "{e}");
}

#[test]
fn a_key_without_a_certificate_and_the_reverse_are_refused() {
    let pki = Pki::generate();
    let e = error(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", s(&pki.client_key))]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    assert!(
        e.expected
            .contains("set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE too"),
        "{e}"
    );
    let e = error(&[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", s(&pki.client_cert))]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
    assert!(
        e.expected.contains("set OTEL_EXPORTER_OTLP_CLIENT_KEY too"),
        "{e}"
    );

    // The signal-specific forms name their own family.
    let e = error(&[("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", s(&pki.client_key))]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY");
    assert!(
        e.expected
            .contains("set OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE too"),
        "{e}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let pki = Pki::generate();
    let e = error(&[
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", s(&pki.client_cert)),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", s(&pki.other_key)),
    ]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    assert_eq!(e.value, s(&pki.other_key));
    assert!(
        e.expected
            .contains("not the key of the certificate in OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
        "{e}"
    );
}

#[test]
fn the_signal_specific_variable_wins_and_is_the_one_named() {
    let pki = Pki::generate();
    // Traces use their own (missing) CA file; metrics the generic, good one.
    let e = error(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&pki.ca)),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "/nonexistent/traces-ca.pem",
        ),
    ]);
    assert_eq!(e.name, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE");
    assert!(
        e.others().is_empty(),
        "metrics use the good generic file: {e}"
    );
}

#[test]
fn builder_files_win_and_are_named_by_their_setter() {
    let pki = Pki::generate();
    let e = TelemetryConfig::from_vars([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:4317",
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&pki.ca)),
    ])
    .unwrap()
    .certificate("/nonexistent/from-code.pem")
    .effective()
    .unwrap_err();
    assert_eq!(e.name, "certificate");
    assert_eq!(e.value, "/nonexistent/from-code.pem");

    let e = TelemetryConfig::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c.example:4317")])
        .unwrap()
        .client_certificate(&pki.client_cert, &pki.other_key)
        .effective()
        .unwrap_err();
    assert_eq!(e.name, "client_certificate");
    assert!(e.expected.contains("not the key of the certificate"), "{e}");

    let ok =
        TelemetryConfig::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c.example:4317")])
            .unwrap()
            .certificate(&pki.ca)
            .client_certificate(&pki.client_cert, &pki.client_key)
            .effective()
            .unwrap();
    assert!(ok.traces_tls());
}

#[test]
fn certificate_files_for_a_plain_endpoint_are_a_warning_not_silence() {
    let pki = Pki::generate();
    let effective = TelemetryConfig::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", s(&pki.ca)),
    ])
    .unwrap()
    .effective()
    .unwrap();
    assert!(!effective.traces_tls());
    assert_eq!(
        effective.warnings().len(),
        1,
        "one warning for both signals: {:?}",
        effective.warnings()
    );
    let warning = &effective.warnings()[0];
    assert!(
        warning.contains("OTEL_EXPORTER_OTLP_CERTIFICATE")
            && warning.contains("http://collector:4317"),
        "{warning}"
    );
}

#[test]
fn insecure_keeps_its_specification_meaning() {
    // A schemeless gRPC endpoint is TLS unless OTEL_EXPORTER_OTLP_INSECURE=true; a scheme
    // always wins over the flag.
    let tls = |vars: &[(&str, &str)]| {
        TelemetryConfig::from_vars(vars.iter().copied())
            .unwrap()
            .effective()
            .unwrap()
            .traces_tls()
    };
    assert!(tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]));
    assert!(!tls(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]));
    assert!(tls(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]));
    assert!(!tls(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
    ]));
}
