//! Spans and metrics reach the real collector (rotel) through a real TLS endpoint (Python's
//! `ssl`, see `support/tls.rs`) over gRPC and HTTP, with server-only TLS and with mutual TLS,
//! configured by environment variables alone; a collector that demands a client certificate
//! the service lacks, or presents one for another host, gets nothing: the spans are counted as
//! lost, requests keep being served, and shutdown keeps its deadline.

use crate::support;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use octollm_telemetry::{Telemetry, TelemetryConfig};
use support::rotel::Rotel;
use support::tls::{Pki, ProxyTls, TlsProxy};
use tower::ServiceExt as _;

const SPANS: usize = 5;

/// Which side of the handshake is tested.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    ServerTls,
    Mutual,
    MissingClientCertificate,
    WrongHost,
}

struct Setup {
    rotel: Rotel,
    proxy: TlsProxy,
    pki: Pki,
}

fn setup(protocol: &str, case: Case) -> Option<Setup> {
    let rotel = Rotel::start()?;
    let pki = Pki::generate();
    let upstream = if protocol == "grpc" {
        rotel.ports().grpc
    } else {
        rotel.ports().http
    };
    let (cert, key) = match case {
        Case::WrongHost => (&pki.wrong_host_cert, &pki.wrong_host_key),
        _ => (&pki.server_cert, &pki.server_key),
    };
    let client_ca =
        matches!(case, Case::Mutual | Case::MissingClientCertificate).then_some(&pki.ca);
    let proxy = TlsProxy::start(
        upstream,
        &ProxyTls {
            cert,
            key,
            client_ca: client_ca.map(|p| p.as_path()),
        },
    )?;
    Some(Setup { rotel, proxy, pki })
}

/// The pipelines, built without installing globals (the cases run in parallel in one process).
fn build(setup: &Setup, protocol: &str, case: Case, service: &str) -> Telemetry {
    let url = setup.proxy.url();
    let ca = setup.pki.ca.to_str().unwrap().to_owned();
    let mut vars = vec![
        ("OTEL_SERVICE_NAME", service.to_owned()),
        ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
    ];
    if case != Case::MissingClientCertificate {
        vars.push((
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            setup.pki.client_cert.to_str().unwrap().to_owned(),
        ));
        vars.push((
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            setup.pki.client_key.to_str().unwrap().to_owned(),
        ));
    }
    let config = TelemetryConfig::from_vars(vars).unwrap();
    let effective = config.effective().unwrap();
    assert!(effective.traces_tls() && effective.metrics_tls());
    config
        .log_writer(std::io::sink)
        .shutdown_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Serves `SPANS` requests through the instrumented router; every one succeeds.
async fn serve_requests(telemetry: &Telemetry) {
    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(
            octollm_telemetry::http::layer()
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider().unwrap()),
        );
    for i in 0..SPANS {
        let response = app
            .clone()
            .oneshot(
                Request::get(format!("/items/{i}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "the service is unaffected by its exporter"
        );
    }
}

fn ours<'a>(
    spans: &'a [support::rotel::ReceivedSpan],
    service: &'a str,
) -> impl Iterator<Item = &'a support::rotel::ReceivedSpan> + 'a {
    spans
        .iter()
        .filter(move |s| s.resource_str("service.name") == Some(service))
}

async fn delivered(protocol: &str, case: Case) {
    let Some(setup) = setup(protocol, case) else {
        return;
    };
    let service = format!(
        "tls-{protocol}-{}",
        if case == Case::Mutual { "mtls" } else { "tls" }
    )
    .replace('/', "-");
    let telemetry = build(&setup, protocol, case, &service);
    serve_requests(&telemetry).await;
    let guard = telemetry.into_guard();

    let spans = setup.rotel.wait_for_spans(SPANS, Duration::from_secs(15));
    assert_eq!(
        ours(&spans, &service).count(),
        SPANS,
        "every span arrives over TLS"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = setup.rotel.metrics_log();
        if log.contains("http.server.request.duration") && log.contains(service.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "no metrics over TLS:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = guard.stats_handle();
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap()
        .expect("shutdown flushes over TLS");
    assert_eq!(stats.get().lost_spans(), 0);

    let handshakes = setup.proxy.handshakes();
    // gRPC negotiates HTTP/2; the HTTP exporter speaks HTTP/1.1 (offered, or no ALPN at all).
    let alpn_ok = |l: &str| {
        if protocol == "grpc" {
            l.contains("alpn=h2")
        } else {
            l.contains("alpn=http/1.1") || l.contains("alpn=None")
        }
    };
    assert!(
        !handshakes.is_empty()
            && handshakes
                .iter()
                .all(|l| l.starts_with("accepted") && alpn_ok(l)),
        "{handshakes:?}"
    );
    if case == Case::Mutual {
        assert!(
            handshakes
                .iter()
                .all(|l| l.contains("client=octollm-service")),
            "the client certificate was presented: {handshakes:?}"
        );
    }
}

async fn refused(protocol: &str, case: Case) {
    let Some(setup) = setup(protocol, case) else {
        return;
    };
    let service = format!("tls-refused-{}", protocol.replace('/', "-"));
    let telemetry = build(&setup, protocol, case, &service);
    serve_requests(&telemetry).await;
    let guard = telemetry.into_guard();
    // The handshake is refused: by the collector (no client certificate) or by the exporter
    // (the collector's certificate names another host).
    assert!(
        setup.proxy.wait_for("refused", Duration::from_secs(15)),
        "no refused handshake: {:?}",
        setup.proxy.handshakes()
    );
    let stats = guard.stats_handle();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(result.is_err(), "a refused export is reported at shutdown");
    assert!(
        took < Duration::from_secs(5) + Duration::from_secs(2),
        "shutdown kept its 5 s deadline: {took:?}"
    );
    let stats = stats.get();
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert_eq!(
        stats.lost_spans(),
        SPANS as u64,
        "every span is counted as lost: {stats:?}"
    );
    let spans = setup
        .rotel
        .wait_until_quiet(Duration::from_millis(500), Duration::from_secs(3));
    assert_eq!(ours(&spans, &service).count(), 0, "nothing got through");
    assert!(
        !setup
            .proxy
            .handshakes()
            .iter()
            .any(|l| l.starts_with("accepted")),
        "{:?}",
        setup.proxy.handshakes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls() {
    delivered("grpc", Case::ServerTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_tls() {
    delivered("http/protobuf", Case::ServerTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_mutual_tls() {
    delivered("grpc", Case::Mutual).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_mutual_tls() {
    delivered("http/protobuf", Case::Mutual).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_collector_demanding_a_client_certificate_gets_nothing() {
    refused("grpc", Case::MissingClientCertificate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_collector_demanding_a_client_certificate_gets_nothing() {
    refused("http/protobuf", Case::MissingClientCertificate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_certificate_for_another_host_is_refused() {
    refused("grpc", Case::WrongHost).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_certificate_for_another_host_is_refused() {
    refused("http/protobuf", Case::WrongHost).await;
}
