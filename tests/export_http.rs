//! Spans exported over OTLP/HTTP with protobuf bodies and gzip reach a real collector (rotel)
//! at the base endpoint + `/v1/traces`, with the whole resource, the parent/child links, the
//! names and typed attributes.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use octollm_telemetry::{Compression, LogFormat, Protocol, Sampler, TelemetryConfig};
use support::rotel::{LogCapture, Rotel};
use support::span_export;

#[tokio::test(flavor = "multi_thread")]
async fn spans_arrive_over_http_protobuf_gzip_with_resource_links_and_typed_attributes() {
    let Some(rotel) = Rotel::start() else { return };
    // The exporter talks to rotel through a recording proxy, to see the request line and
    // headers on the wire.
    let proxy = RecordingProxy::start(rotel.ports().http);
    let logs = LogCapture::default();
    let vars = span_export::RESOURCE_VARS.iter().copied().chain([(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "x-tenant=octo%20llm,x-api-key=k1",
    )]);
    let config = TelemetryConfig::from_vars(vars)
        .unwrap()
        .service_name("from-code")
        .sampler(Sampler::AlwaysOn)
        .endpoint(proxy.base_url())
        .protocol(Protocol::HttpProtobuf)
        .compression(Compression::Gzip)
        .schedule_delay(Duration::from_millis(100))
        .log_format(LogFormat::Json)
        .log_writer(logs.clone());
    assert_eq!(
        config.effective().unwrap().traces_endpoint().unwrap(),
        format!("{}/v1/traces", proxy.base_url()),
        "the base endpoint gets the signal path"
    );
    let guard = config.init().await.unwrap();

    let emitted = span_export::emit_parent_and_child();
    guard
        .shutdown()
        .expect("shutdown flushes to a live collector");
    span_export::assert_exported(&rotel, &emitted, &logs);

    // On the wire: POST to the base URL + /v1/traces, protobuf, gzip.
    let request = proxy.request_head().to_ascii_lowercase();
    assert!(
        request.starts_with("post /v1/traces http/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\ncontent-type: application/x-protobuf\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\ncontent-encoding: gzip\r\n"),
        "{request}"
    );
    // OTEL_EXPORTER_OTLP_HEADERS, percent-decoded.
    assert!(request.contains("\r\nx-tenant: octo llm\r\n"), "{request}");
    assert!(request.contains("\r\nx-api-key: k1\r\n"), "{request}");
}

/// A loopback TCP proxy to `127.0.0.1:<target>` that records what clients send.
struct RecordingProxy {
    port: u16,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&sent);
        // Ends with the test process; it only serves the exporter's few connections.
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let record = Arc::clone(&record);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = c_read.read(&mut buf) {
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(Shutdown::Write);
                });
            }
        });
        Self { port, sent }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request line and headers of the first request.
    fn request_head(&self) -> String {
        let sent = self.sent.lock().unwrap();
        let end = sent
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(sent.len(), |p| p + 4);
        String::from_utf8_lossy(&sent[..end]).into_owned()
    }
}
