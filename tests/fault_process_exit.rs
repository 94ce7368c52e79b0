//! A service whose collector is a black hole still stops promptly: the `reflex_service`
//! example, sent SIGTERM, flushes within its shutdown deadline and exits with success.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_black_holed_collector_exits_within_the_deadline() {
    // The black hole: accepts, reads, never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            held.push(conn);
        }
    });

    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/reflex_service");
    assert!(
        example.is_file(),
        "{} is built by `cargo test`",
        example.display()
    );
    let port = support::free_port();
    let mut child = Command::new(example)
        .env("PORT", port.to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{hole_addr}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the service never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    for i in 0..200 {
        let response = client
            .post(format!("http://127.0.0.1:{port}/detect-pii"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"text":"n{i}"}}"#))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "requests succeed while the collector is a black hole"
        );
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if sent.elapsed() > Duration::from_secs(9) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service did not exit within its 5 s shutdown deadline (+ margin)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("exited with {exit} {:?} after SIGTERM", sent.elapsed());
    assert!(exit.success(), "{exit}");
    assert!(
        sent.elapsed() < Duration::from_secs(7),
        "{:?}",
        sent.elapsed()
    );
    holder.abort();
}
