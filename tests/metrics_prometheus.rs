//! The `/metrics` endpoint of the `reflex_service` example: its text passes `promtool check
//! metrics`, exposes every series the metric contract attributes to this crate, and a real
//! Prometheus scraping it answers the request count of the route through its query API.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child process when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is built by `cargo test` before the tests run",
        path.display()
    );
    path
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn crate_series_in_contract() -> Vec<String> {
    let text =
        std::fs::read_to_string(support::repo_root().join("monitoring/metric-contract.yaml"))
            .expect("monitoring/metric-contract.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("valid YAML");
    doc["metrics"]
        .as_sequence()
        .expect("a `metrics` list")
        .iter()
        .filter(|m| m["producer"].as_str() == Some("octollm-telemetry"))
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_example_service() {
    let Some(promtool) = support::require_tool("promtool") else {
        return;
    };
    let Some(prometheus) = support::require_tool("prometheus") else {
        return;
    };

    let port = support::free_port();
    let _service = Reaped(
        Command::new(example_binary("reflex_service"))
            .env("PORT", port.to_string())
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("OTEL_METRICS_EXPORTER", "prometheus")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start reflex_service"),
    );
    wait_for_port(port);
    let client = reqwest::Client::new();
    const REQUESTS: usize = 7;
    // The last request joins a known, sampled trace: its exemplar is the one Prometheus keeps.
    const KNOWN_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    for i in 0..REQUESTS {
        let mut request = client
            .post(format!("http://127.0.0.1:{port}/detect-pii"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"text":"user{i}@example.com"}}"#));
        if i == REQUESTS - 1 {
            request = request.header(
                "traceparent",
                format!("00-{KNOWN_TRACE}-b7ad6b7169203331-01"),
            );
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
    }

    // 1. The exposition text is valid for promtool.
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    support::exposition::promtool_check(&promtool, &text).unwrap();

    // 2. Every series the contract attributes to this crate is exposed, and the constants
    //    agree with what is exposed.
    let exposed: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let contract = crate_series_in_contract();
    assert!(
        !contract.is_empty(),
        "the contract lists this crate's series"
    );
    for name in &contract {
        // Client-side series appear only once the service makes outgoing calls, pool series
        // once it reports a connection pool (tests/export/metrics_producers.rs exposes those), the
        // sampling series with a remote sampler (tests/export/jaeger_sampling.rs).
        if name.starts_with("http_client_")
            || name.starts_with("db_client_")
            || name.starts_with("octollm_telemetry_sampling_")
        {
            assert!(
                octollm_telemetry::metrics::EXPOSED_SERIES.contains(&name.as_str()),
                "{name}"
            );
            continue;
        }
        // The model-call and gRPC series appear once the service calls a model or serves
        // gRPC: tests/export/metrics_producers.rs exposes every one of them.
        if name.starts_with("gen_ai_") || name.starts_with("rpc_") {
            continue;
        }
        assert!(
            exposed.contains(name.as_str()),
            "contract series {name} not exposed; exposed: {exposed:?}"
        );
    }
    for name in [
        octollm_telemetry::metrics::HTTP_SERVER_REQUEST_DURATION_BUCKET,
        octollm_telemetry::metrics::HTTP_SERVER_REQUEST_DURATION_COUNT,
        octollm_telemetry::metrics::HTTP_SERVER_ACTIVE_REQUESTS,
        octollm_telemetry::metrics::SPANS_DROPPED_TOTAL,
    ] {
        assert!(exposed.contains(name), "{name}");
    }
    // The dropped-span counter says why, one series per reason.
    for reason in [
        octollm_telemetry::metrics::REASON_QUEUE_FULL,
        octollm_telemetry::metrics::REASON_EXPORT_FAILED,
        octollm_telemetry::metrics::REASON_REJECTED,
    ] {
        let label = format!("{}=\"{reason}\"", octollm_telemetry::metrics::LABEL_REASON);
        assert!(
            text.lines().any(
                |l| l.starts_with(octollm_telemetry::metrics::SPANS_DROPPED_TOTAL)
                    && l.contains(&label)
            ),
            "no {label} series in:\n{text}"
        );
    }

    // 3. A real Prometheus scrapes it and answers the request count.
    let dir = tempfile::tempdir().unwrap();
    let prom_port = support::free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: reflex\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Reaped(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--enable-feature=exemplar-storage")
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_for_port(prom_port);
    let query = r#"sum(http_server_request_duration_seconds_count{job="reflex",http_route="/detect-pii",http_request_method="POST"})"#;
    let url = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query={}",
        percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let value = loop {
        let body = client.get(&url).send().await.ok();
        let body = match body {
            Some(r) => r.text().await.unwrap_or_default(),
            None => String::new(),
        };
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(v) = parsed["data"]["result"][0]["value"][1].as_str() {
            break v.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never returned the series: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(value, REQUESTS.to_string());

    // 4. Prometheus asked for OpenMetrics (the count above parsed from it), stored the
    //    exemplars, and its exemplar API returns the trace of the request with the known
    //    traceparent.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let selector =
        r#"http_server_request_duration_seconds_bucket{job="reflex",http_route="/detect-pii"}"#;
    let url = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query_exemplars?query={}&start={}&end={}",
        percent_encoding::utf8_percent_encode(selector, percent_encoding::NON_ALPHANUMERIC),
        now - 300,
        now + 300
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = match client.get(&url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let traces: Vec<&str> = parsed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
            .filter_map(|e| e["labels"]["trace_id"].as_str())
            .collect();
        if traces.contains(&KNOWN_TRACE) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has no exemplar with trace {KNOWN_TRACE}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
