//! TLS to the collector: the certificate files of one signal, read and checked when the plan
//! is resolved (so that every bad file is a [`ConfigError`] naming its variable), and the
//! rustls client configuration both transports are built from.
//!
//! Trust: the CA certificates of `OTEL_EXPORTER_OTLP_CERTIFICATE` when it is set (and then
//! only them), else the system's roots, else (a system without any) the Mozilla roots bundled
//! by `webpki-roots`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::ConfigError;

/// One PEM file as given, with the variable or setter that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemFile {
    pub(crate) path: PathBuf,
    pub(crate) from: &'static str,
    pub(crate) pem: Arc<[u8]>,
}

/// The TLS files of one signal's exporter, read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// The CA certificates to trust in place of the roots.
    pub(crate) ca: Option<PemFile>,
    /// The client certificate chain and its key (mTLS).
    pub(crate) identity: Option<(PemFile, PemFile)>,
}

/// A path as a source gave it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathFrom<'a> {
    pub(crate) path: &'a std::path::Path,
    pub(crate) from: &'static str,
}

/// What the CA file must hold.
const CA_EXPECTED: &str = "a readable PEM file of CA certificates";
/// What the client certificate file must hold.
const CERT_EXPECTED: &str = "a readable PEM file of the client certificate (chain)";
/// What the key file must hold.
const KEY_EXPECTED: &str =
    "a readable PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1)";

/// Reads and checks the files: each is readable PEM of the right kind, a key comes with a
/// certificate and the reverse, and the key is the certificate's. `cert_var` and `key_var`
/// name the counterpart variables in the errors about a missing half.
pub(crate) fn load(
    ca: Option<PathFrom<'_>>,
    cert: Option<PathFrom<'_>>,
    key: Option<PathFrom<'_>>,
    cert_var: &str,
    key_var: &str,
) -> Result<TlsFiles, ConfigError> {
    let mut errors = Vec::new();
    let ca = ca.and_then(|ca| {
        read(ca, CA_EXPECTED)
            .and_then(|file| check_certificates(&file, CA_EXPECTED).map(|()| file))
            .map_err(|e| errors.push(e))
            .ok()
    });
    let identity = match (cert, key) {
        (None, None) => None,
        (Some(cert), None) => {
            errors.push(ConfigError::new(
                cert.from,
                cert.path.display().to_string(),
                format!("a client certificate together with its key (set {key_var} too)"),
            ));
            None
        }
        (None, Some(key)) => {
            errors.push(ConfigError::new(
                key.from,
                key.path.display().to_string(),
                format!("a client key together with its certificate (set {cert_var} too)"),
            ));
            None
        }
        (Some(cert), Some(key)) => {
            let cert = read(cert, CERT_EXPECTED)
                .and_then(|file| check_certificates(&file, CERT_EXPECTED).map(|()| file))
                .map_err(|e| errors.push(e))
                .ok();
            let key = read(key, KEY_EXPECTED)
                .and_then(|file| check_key(&file).map(|()| file))
                .map_err(|e| errors.push(e))
                .ok();
            match (cert, key) {
                (Some(cert), Some(key)) => match check_pair(&cert, &key) {
                    Ok(()) => Some((cert, key)),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
                _ => None,
            }
        }
    };
    ConfigError::all(errors)?;
    Ok(TlsFiles { ca, identity })
}

fn read(file: PathFrom<'_>, expected: &str) -> Result<PemFile, ConfigError> {
    match std::fs::read(file.path) {
        Ok(pem) => Ok(PemFile {
            path: file.path.to_owned(),
            from: file.from,
            pem: pem.into(),
        }),
        Err(e) => Err(ConfigError::new(
            file.from,
            file.path.display().to_string(),
            format!("{expected} (reading it failed: {e})"),
        )),
    }
}

#[cfg(feature = "tls")]
fn refuse(file: &PemFile, expected: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(
        file.from,
        file.path.display().to_string(),
        format!("{expected} ({why})"),
    )
}

#[cfg(feature = "tls")]
mod checks {
    use rustls::pki_types::pem::{self, PemObject as _};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use crate::error::ConfigError;
    use crate::tls::{refuse, PemFile, CERT_EXPECTED, KEY_EXPECTED};

    pub(crate) fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, String> {
        let certs = CertificateDer::pem_slice_iter(&file.pem)
            .collect::<Result<Vec<_>, pem::Error>>()
            .map_err(|e| format!("it is not valid PEM: {e}"))?;
        if certs.is_empty() {
            return Err("it holds no CERTIFICATE block".to_owned());
        }
        Ok(certs)
    }

    pub(crate) fn key(file: &PemFile) -> Result<PrivateKeyDer<'static>, String> {
        match PrivateKeyDer::from_pem_slice(&file.pem) {
            Ok(key) => Ok(key),
            Err(pem::Error::NoItemsFound) => Err("it holds no PRIVATE KEY block".to_owned()),
            Err(e) => Err(format!("it is not valid PEM: {e}")),
        }
    }

    pub(crate) fn check_certificates(file: &PemFile, expected: &str) -> Result<(), ConfigError> {
        certificates(file)
            .map(drop)
            .map_err(|why| refuse(file, expected, why))
    }

    pub(crate) fn check_key(file: &PemFile) -> Result<(), ConfigError> {
        key(file)
            .map(drop)
            .map_err(|why| refuse(file, KEY_EXPECTED, why))
    }

    /// The key must be the private key of the chain's first certificate.
    pub(crate) fn check_pair(cert: &PemFile, key: &PemFile) -> Result<(), ConfigError> {
        let chain = certificates(cert).map_err(|why| refuse(cert, CERT_EXPECTED, why))?;
        let der = self::key(key).map_err(|why| refuse(key, KEY_EXPECTED, why))?;
        let provider = rustls::crypto::ring::default_provider();
        match rustls::sign::CertifiedKey::from_der(chain, der, &provider) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InconsistentKeys(_)) => Err(refuse(
                key,
                KEY_EXPECTED,
                format_args!(
                    "it is not the key of the certificate in {} ({})",
                    cert.from,
                    cert.path.display()
                ),
            )),
            Err(e) => Err(refuse(
                key,
                KEY_EXPECTED,
                format_args!("rustls refused it: {e}"),
            )),
        }
    }
}

#[cfg(feature = "tls")]
use checks::{check_certificates, check_key, check_pair};

/// Without the `tls` feature no file is used (an `https://` endpoint is refused first).
#[cfg(not(feature = "tls"))]
#[allow(
    clippy::unnecessary_wraps,
    reason = "the signatures of the `tls` build's checks"
)]
mod checks {
    use crate::error::ConfigError;
    use crate::tls::PemFile;

    pub(crate) fn check_certificates(_: &PemFile, _: &str) -> Result<(), ConfigError> {
        Ok(())
    }
    pub(crate) fn check_key(_: &PemFile) -> Result<(), ConfigError> {
        Ok(())
    }
    pub(crate) fn check_pair(_: &PemFile, _: &PemFile) -> Result<(), ConfigError> {
        Ok(())
    }
}

#[cfg(not(feature = "tls"))]
use checks::{check_certificates, check_key, check_pair};

#[cfg(all(feature = "tls", feature = "_otlp"))]
mod client {
    use std::sync::{Arc, OnceLock};

    use rustls::RootCertStore;

    use crate::error::BoxError;
    use crate::tls::{checks, TlsFiles};

    /// The system's roots, read once per process; the bundled Mozilla roots when the system
    /// store is empty or missing (a `scratch` or distroless image).
    fn default_roots() -> Arc<RootCertStore> {
        static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
        Arc::clone(ROOTS.get_or_init(|| {
            let mut store = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let _ = store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(store)
        }))
    }

    /// The roots a connection trusts: the configured CA certificates, or the defaults.
    pub(crate) fn roots(files: &TlsFiles) -> Result<Arc<RootCertStore>, BoxError> {
        let Some(ca) = &files.ca else {
            return Ok(default_roots());
        };
        let mut store = RootCertStore::empty();
        for cert in checks::certificates(ca)? {
            store.add(cert)?;
        }
        Ok(Arc::new(store))
    }

    /// The trust anchors, for tonic's TLS configuration.
    #[cfg(feature = "grpc")]
    pub(crate) fn trust_anchors(
        files: &TlsFiles,
    ) -> Result<Vec<rustls::pki_types::TrustAnchor<'static>>, BoxError> {
        Ok(roots(files)?.roots.clone())
    }

    /// A rustls client configuration (ring provider, TLS 1.2 and 1.3) with the roots and the
    /// client certificate.
    #[cfg(feature = "http-proto")]
    pub(crate) fn config(files: &TlsFiles) -> Result<rustls::ClientConfig, BoxError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(files)?);
        Ok(match &files.identity {
            Some((cert, key)) => {
                builder.with_client_auth_cert(checks::certificates(cert)?, checks::key(key)?)?
            }
            None => builder.with_no_client_auth(),
        })
    }
}

#[cfg(all(feature = "tls", feature = "http-proto"))]
pub(crate) use client::config;
#[cfg(all(feature = "tls", feature = "grpc"))]
pub(crate) use client::trust_anchors;
