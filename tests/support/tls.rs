//! Real TLS for the export tests: a private CA generated per test (rcgen), and a
//! TLS-terminating proxy in front of the real collector written with Python's `ssl` module
//! (OpenSSL, a different TLS stack from the crate's rustls), `tests/python/tls_proxy.py`.
//!
//! The proxy listens on a free loopback port, terminates TLS with the given server certificate
//! (optionally demanding a client certificate signed by the CA), offers ALPN `h2` and
//! `http/1.1`, and pipes the plain bytes to the collector's port. Every handshake it accepts or
//! refuses is one line on its stdout, read by [`TlsProxy::handshakes`].

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The files of a private PKI, in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate.
    pub ca: PathBuf,
    /// A server certificate for `localhost` and `127.0.0.1`, and its key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A server certificate for `collector.other.example` only (the wrong host), and its key.
    pub wrong_host_cert: PathBuf,
    pub wrong_host_key: PathBuf,
    /// A client certificate signed by the CA, and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A key that belongs to no certificate here.
    pub other_key: PathBuf,
}

impl Pki {
    pub fn generate() -> Self {
        let dir = tempfile::Builder::new().prefix("pki-").tempdir().unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "octollm-telemetry test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: &[&str], usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(
                DnType::CommonName,
                names.first().copied().unwrap_or("client"),
            );
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (wrong_cert, wrong_key) = leaf(
            &["collector.other.example"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            leaf(&["octollm-service"], ExtendedKeyUsagePurpose::ClientAuth);
        Self {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server_cert),
            server_key: write("server-key.pem", server_key),
            wrong_host_cert: write("wrong-host.pem", wrong_cert),
            wrong_host_key: write("wrong-host-key.pem", wrong_key),
            client_cert: write("client.pem", client_cert),
            client_key: write("client-key.pem", client_key),
            other_key: write(
                "other-key.pem",
                KeyPair::generate().unwrap().serialize_pem(),
            ),
            dir,
        }
    }

    /// Writes `contents` to a new file in the PKI directory.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// What the proxy terminates TLS with.
pub struct ProxyTls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    /// Demand a client certificate signed by this CA.
    pub client_ca: Option<&'a Path>,
}

/// A running `tls_proxy.py`; stopped on drop.
pub struct TlsProxy {
    pub port: u16,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls_proxy.py");

impl TlsProxy {
    /// Starts the proxy in front of `127.0.0.1:<upstream>`; `None` (after a loud message) when
    /// `python3` is missing and this is not a CI run.
    pub fn start(upstream: u16, tls: &ProxyTls<'_>) -> Option<Self> {
        let python = super::require_tool("python3")?;
        let mut command = Command::new(python);
        command
            .arg(SCRIPT)
            .args(["--upstream", &upstream.to_string()])
            .arg("--cert")
            .arg(tls.cert)
            .arg("--key")
            .arg(tls.key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(ca) = tls.client_ca {
            command.arg("--client-ca").arg(ca);
        }
        let mut child = command.spawn().expect("start tls_proxy.py");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(port) = line.strip_prefix("listening ") {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port.trim().parse::<u16>().unwrap());
                    }
                    continue;
                }
                sink.lock().unwrap().push(line);
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("tls_proxy.py did not report its port within 10 s");
            }
        };
        Some(Self { port, child, lines })
    }

    /// `https://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The proxy's handshake lines so far (`accepted ...` / `refused ...`).
    pub fn handshakes(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Polls until a handshake line containing `needle` appears or `timeout` passes.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.handshakes().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
