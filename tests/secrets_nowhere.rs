//! A credential given as an OTLP header, through `OTEL_EXPORTER_OTLP_*HEADERS` or the
//! `headers(..)` setter, shows nowhere: not in the init error of a malformed variable, not in
//! `Debug` of the configuration or of its `effective()` view, not in the init error of a header
//! that cannot be sent, not in what the console exporters and the log lines print while
//! requests carrying credentials are served. (The export path's warnings, with a collector
//! that echoes the key back: tests/otlp_wire.rs.)

mod support;

use std::process::Command;

use axum::body::Body;
use axum::http::Request;
use octollm_telemetry::TelemetryConfig;
use tracing_subscriber::prelude::*;

const TOKEN: &str = "sk-live-5e1d0c4b";

fn assert_hidden(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN),
        "{what} shows the credential:\n{text}"
    );
}

#[test]
fn a_malformed_headers_variable_is_an_error_naming_the_member_never_its_value() {
    let cases = [
        // A member without `=` after the key.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("api-key={TOKEN},x"),
            "member 2",
        ),
        // A broken percent-escape in the value.
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            format!("api-key={TOKEN}%zz"),
            "api-key",
        ),
        // An empty key.
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            format!("a=1,={TOKEN}"),
            "member 2",
        ),
        // A key that is not an HTTP token (named by its position only: it may be a
        // misplaced value).
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            format!("api key={TOKEN}"),
            "member 1",
        ),
    ];
    for (var, value, member) in cases {
        let error = TelemetryConfig::from_vars([(var, value.as_str())])
            .and_then(|config| config.effective())
            .expect_err(var);
        let shown = format!("{error}\n{error:?}\n{error:#?}");
        assert_hidden(var, &shown);
        assert!(shown.contains(var), "the error names {var}:\n{shown}");
        assert!(
            shown.contains(member),
            "the error names the member ({member}):\n{shown}"
        );
    }
}

#[test]
fn debug_of_the_configuration_and_its_effective_view_show_keys_never_values() {
    let good = format!("api-key={TOKEN},x-tenant=t{TOKEN}");
    let config = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "secrets"),
        ("OTEL_EXPORTER_OTLP_HEADERS", good.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", good.as_str()),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", good.as_str()),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", good.as_str()),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
    ])
    .unwrap();
    let debug = format!("{config:?}\n{config:#?}");
    assert_hidden("Debug of the configuration", &debug);
    assert!(debug.contains("api-key"), "keys are shown:\n{debug}");
    let effective = config.effective().unwrap();
    assert_hidden("effective()", &format!("{effective:?}\n{effective:#?}"));

    let in_code = config.headers([("authorization", format!("Bearer {TOKEN}"))]);
    let debug = format!("{in_code:?}\n{in_code:#?}");
    assert_hidden("Debug of headers set in code", &debug);
    assert!(debug.contains("authorization"), "{debug}");
    let effective = in_code.effective().unwrap();
    assert_hidden(
        "effective() with headers set in code",
        &format!("{effective:#?}"),
    );
}

#[test]
fn a_header_that_cannot_be_sent_is_an_init_error_naming_the_header_never_its_value() {
    for (name, value) in [
        ("api-key", format!("{TOKEN}\n")),
        ("api key", TOKEN.to_string()),
    ] {
        let error = TelemetryConfig::from_vars([
            ("OTEL_SERVICE_NAME", "secrets"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .unwrap()
        .headers([(name, value)])
        .build()
        .expect_err("a header that cannot be sent");
        let shown = format!("{error}\n{error:?}\n{error:#?}");
        assert_hidden(name, &shown);
        assert!(shown.contains(name), "the error names the header:\n{shown}");
    }
}

/// Set in the child process of
/// [`the_console_exporters_and_log_lines_print_no_credential`].
const CHILD: &str = "SECRETS_NOWHERE_CHILD";

#[test]
fn the_console_exporters_and_log_lines_print_no_credential() {
    if std::env::var_os(CHILD).is_some() {
        return serve_with_credentials();
    }
    // The console exporters and the log writer print to the process's stdout and stderr: run
    // this test again in a child process and read both.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "the_console_exporters_and_log_lines_print_no_credential",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the child failed:\n{printed}");
    // What the child printed: the server span, the log record and the log line.
    for expected in ["GET /items/{id}", "[log]", "\"message\":\"charged\""] {
        assert!(
            printed.contains(expected),
            "{expected:?} missing:\n{printed}"
        );
    }
    assert_hidden("the console output", &printed);
}

/// Serves one request carrying credentials, with console span and log record exporters and
/// JSON log lines, while an OTLP header holds the key.
fn serve_with_credentials() {
    let headers = format!("api-key={TOKEN}");
    let telemetry = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "secrets"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_LOGS_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap()
    .headers([("authorization", TOKEN)])
    .build()
    .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let layer = octollm_telemetry::http::layer()
        .tracer_provider(telemetry.tracer_provider())
        .propagator(telemetry.propagator());
    let app = support::http::app(layer);
    let request = Request::get(format!("/items/7?api_key={TOKEN}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-api-key", TOKEN)
        .body(Body::empty())
        .unwrap();
    runtime.block_on(async {
        let (response, _) = support::http::send(&app, request).await;
        assert_eq!(response.status(), 200);
        tracing::info!(amount = 3, "charged");
    });
    telemetry.into_guard().shutdown().unwrap();
}
