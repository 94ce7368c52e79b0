//! Helpers shared by the integration tests: external tools and loopback ports.
#![allow(dead_code)]

pub mod daemon;
pub mod exposition;
pub mod fake_openai;
pub mod fault;
pub mod genai_peer;
pub mod grpc_echo;
pub mod http;
pub mod jaeger;
pub mod lines;
pub mod metrics_push;
pub mod no_export;
pub mod promql;
pub mod rotel;
pub mod span_export;
pub mod tls;

use std::net::TcpListener;
use std::path::PathBuf;

/// True when a missing external tool is a failure: in a CI run (`CI=true`) and under
/// `scripts/test.sh`, which installs them all (`OCTOLLM_TEST_REQUIRE_TOOLS=1`).
pub fn in_ci() -> bool {
    let set = |name| std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    set("CI") || set("OCTOLLM_TEST_REQUIRE_TOOLS")
}

/// Finds an external tool on `PATH` (or at an absolute path).
///
/// With `CI=true` a missing tool panics, so the test fails; locally the test prints a loud
/// message and the caller skips by returning early on `None`.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = which(name) {
        return Some(path);
    }
    let msg = format!(
        "external tool `{name}` not found on PATH; `scripts/test.sh` installs it (README, \"The two commands\")"
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    None
}

fn which(name: &str) -> Option<PathBuf> {
    let candidate = PathBuf::from(name);
    if candidate.is_absolute() {
        return candidate.is_file().then_some(candidate);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A TCP port on 127.0.0.1 that was free a moment ago, and that this test process has not
/// handed out before: the kernel may give the same ephemeral port to two binds in a row once
/// the first is released, and a program given both would fail to listen twice.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral loopback port");
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no loopback port not handed out already in 1000 tries");
}

/// The repository root (where `Cargo.toml` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
