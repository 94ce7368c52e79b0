//! The OTLP slice of the plan: per-signal variable names, the specification's endpoint rules,
//! and the resolved settings an exporter is built from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::parse;
pub(crate) use super::settings::Headers;
use super::settings::{SignalSettings, Sourced};
use super::values::{Compression, Protocol};
#[allow(
    clippy::wildcard_imports,
    reason = "the variable names and their defaults"
)]
use super::vars::*;
use crate::error::ConfigError;
use crate::tls::{self, PathFrom, TlsFiles};

/// The variable names of one signal.
#[derive(Debug)]
pub(crate) struct SignalVars {
    pub(crate) endpoint: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) headers: &'static str,
    pub(crate) timeout: &'static str,
    pub(crate) compression: &'static str,
    pub(crate) insecure: &'static str,
    pub(crate) certificate: &'static str,
    pub(crate) client_certificate: &'static str,
    pub(crate) client_key: &'static str,
    /// Appended to the generic endpoint for HTTP.
    pub(crate) path: &'static str,
}

pub(crate) static TRACES: SignalVars = SignalVars {
    endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    protocol: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    headers: OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    timeout: OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    compression: OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    insecure: OTEL_EXPORTER_OTLP_TRACES_INSECURE,
    certificate: OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    client_certificate: OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    client_key: OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    path: "/v1/traces",
};

pub(crate) static METRICS: SignalVars = SignalVars {
    endpoint: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    protocol: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    headers: OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    timeout: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    compression: OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    insecure: OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    certificate: OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    client_certificate: OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
    client_key: OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY,
    path: "/v1/metrics",
};

pub(crate) static LOGS: SignalVars = SignalVars {
    endpoint: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    protocol: OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    headers: OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    timeout: OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    compression: OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    insecure: OTEL_EXPORTER_OTLP_LOGS_INSECURE,
    certificate: OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    client_certificate: OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE,
    client_key: OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY,
    path: "/v1/logs",
};

/// What an OTLP exporter of one signal is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpSettings {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Headers,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    /// The TLS files of an `https://` endpoint (`None` for `http://`).
    pub(crate) tls: Option<Arc<TlsFiles>>,
}

impl OtlpSettings {
    /// Merges what code and the environment said about one signal. A base endpoint set in
    /// code wins over both endpoints of the environment. Certificate files set for a plain
    /// `http://` endpoint are not used, and `warnings` says so.
    pub(crate) fn resolve(
        names: &SignalVars,
        env: &SignalSettings,
        code: &SignalSettings,
        env_base: Option<&Sourced<String>>,
        code_base: Option<&Sourced<String>>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, ConfigError> {
        let protocol = code
            .protocol
            .or(env.protocol)
            .unwrap_or(OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT);
        let insecure = code
            .insecure
            .or(env.insecure)
            .unwrap_or(OTEL_EXPORTER_OTLP_INSECURE_DEFAULT);
        let endpoint = match code_base {
            Some(base) => Endpoint::Base(base),
            None => match (&env.endpoint, env_base) {
                (Some(full), _) => Endpoint::Full(full),
                (None, Some(base)) => Endpoint::Base(base),
                (None, None) => Endpoint::Default,
            },
        };
        let given = match &endpoint {
            Endpoint::Full(given) | Endpoint::Base(given) => (*given).clone(),
            Endpoint::Default => Sourced::new(String::new(), names.endpoint),
        };
        let endpoint = url(&endpoint, protocol, insecure, names.path)?;
        let tls = tls_files(names, env, code, &endpoint, &given, warnings)?;
        Ok(Self {
            protocol,
            endpoint,
            tls,
            headers: code
                .headers
                .clone()
                .or_else(|| env.headers.clone())
                .unwrap_or_default(),
            timeout: code
                .timeout
                .or(env.timeout)
                .unwrap_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT),
            compression: code
                .compression
                .or(env.compression)
                .unwrap_or(OTEL_EXPORTER_OTLP_COMPRESSION_DEFAULT),
        })
    }
}

/// The TLS files of an `https://` endpoint, read and checked; each file setting of code wins
/// over its variables.
fn tls_files(
    names: &SignalVars,
    env: &SignalSettings,
    code: &SignalSettings,
    endpoint: &str,
    given: &Sourced<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<Arc<TlsFiles>>, ConfigError> {
    let ca = code.certificate.as_ref().or(env.certificate.as_ref());
    let cert = code
        .client_certificate
        .as_ref()
        .or(env.client_certificate.as_ref());
    let key = code.client_key.as_ref().or(env.client_key.as_ref());
    if !endpoint.starts_with("https://") {
        let files: Vec<&str> = [ca, cert, key]
            .into_iter()
            .flatten()
            .map(|s| s.from)
            .collect();
        if !files.is_empty() {
            warnings.push(format!(
                "{} set, but the endpoint {endpoint} is plain http://: the files are not used \
                 (use an https:// endpoint for TLS)",
                files.join(", ")
            ));
        }
        return Ok(None);
    }
    if !cfg!(feature = "tls") {
        return Err(ConfigError::new(
            given.from,
            given.value.as_str(),
            "an http:// URL: this build of octollm-telemetry has no TLS (enable its `tls` \
             cargo feature, on by default, for https:// endpoints)",
        ));
    }
    // The missing half named in an error is of the same family as the half given.
    let family = |given: Option<&Sourced<PathBuf>>, generic, signal| match given {
        Some(s) if s.from == "client_certificate" => "client_certificate",
        Some(s) if s.from.contains("_TRACES_") || s.from.contains("_METRICS_") => signal,
        _ => generic,
    };
    let cert_var = family(
        key,
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
        names.client_certificate,
    );
    let key_var = family(cert, OTEL_EXPORTER_OTLP_CLIENT_KEY, names.client_key);
    tls::load(
        ca.map(path_from),
        cert.map(path_from),
        key.map(path_from),
        cert_var,
        key_var,
    )
    .map(|files| Some(Arc::new(files)))
}

fn path_from(file: &Sourced<PathBuf>) -> PathFrom<'_> {
    PathFrom {
        path: file.value.as_path(),
        from: file.from,
    }
}

enum Endpoint<'a> {
    /// A signal's own endpoint, used as it is.
    Full(&'a Sourced<String>),
    /// A base endpoint; HTTP appends the signal's path.
    Base(&'a Sourced<String>),
    Default,
}

/// The URL to export to, following the specification. A gRPC endpoint without a scheme is
/// `https://` unless insecure.
fn url(
    endpoint: &Endpoint<'_>,
    protocol: Protocol,
    insecure: bool,
    path: &str,
) -> Result<String, ConfigError> {
    let (raw, given) = match endpoint {
        Endpoint::Full(full) => (full.value.clone(), *full),
        Endpoint::Base(base) => match protocol {
            Protocol::Grpc => (base.value.clone(), *base),
            Protocol::HttpProtobuf => {
                (format!("{}{path}", base.value.trim_end_matches('/')), *base)
            }
        },
        Endpoint::Default => {
            return Ok(match protocol {
                Protocol::Grpc => OTEL_EXPORTER_OTLP_GRPC_ENDPOINT_DEFAULT.to_owned(),
                Protocol::HttpProtobuf => {
                    format!("{OTEL_EXPORTER_OTLP_HTTP_ENDPOINT_DEFAULT}{path}")
                }
            })
        }
    };
    let has_scheme = raw.starts_with("http://") || raw.starts_with("https://");
    let url = match (has_scheme, protocol) {
        (true, _) => raw,
        (false, Protocol::Grpc) if !raw.contains("://") => {
            let scheme = if insecure { "http" } else { "https" };
            format!("{scheme}://{raw}")
        }
        _ => String::new(),
    };
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(url),
        _ => Err(ConfigError::new(
            given.from,
            given.value.as_str(),
            "an http:// or https:// URL with a host (e.g. http://otel-collector:4317), or \
             host:port for gRPC",
        )),
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: a `key=value` list of HTTP header names and values. The
/// values are credentials more often than not (API keys, bearer tokens): an error names the
/// variable and the malformed member's position (and key, when the key is readable), never a
/// value.
pub(crate) fn parse_headers(name: &str, value: &str) -> Result<Headers, ConfigError> {
    const EXPECTED: &str = "key=value pairs whose keys are HTTP header names and values \
                            printable ASCII, percent-encoded (e.g. api-key=abc,x-tenant=t%201)";
    let headers =
        parse::members(value).map_err(|bad| ConfigError::redacted(name, bad, EXPECTED))?;
    for (i, (k, v)) in headers.iter().enumerate() {
        let bad = |key: Option<&str>, problem| parse::BadMember {
            position: i + 1,
            key: key.map(str::to_owned),
            problem,
        };
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            let why = bad(None, "has a key that is not an HTTP header name");
            return Err(ConfigError::redacted(name, why, EXPECTED));
        }
        if http::HeaderValue::from_str(v).is_err() {
            let why = bad(Some(k), "has a value that is not printable ASCII");
            return Err(ConfigError::redacted(name, why, EXPECTED));
        }
    }
    Ok(Headers(headers))
}
