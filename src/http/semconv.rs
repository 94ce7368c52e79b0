//! The attributes of HTTP spans and metrics, per the OpenTelemetry HTTP semantic conventions:
//! which attributes a server or client span carries, and which of them label the duration
//! histograms. The server and the client layer both take them from here.

use std::sync::Arc;

use http::{Request, StatusCode};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::headers::{self, MAX_ATTRIBUTE_LEN};

/// What the server layer learned from a request line and its headers.
#[derive(Debug, Clone)]
pub(crate) struct ServerRequest {
    pub(crate) method: &'static str,
    pub(crate) method_original: Option<String>,
    pub(crate) route: Option<Arc<str>>,
    pub(crate) scheme: &'static str,
    pub(crate) version: Option<&'static str>,
    /// The span name: `{METHOD} {route}`, or `{METHOD}` when no route matched.
    pub(crate) span_name: std::borrow::Cow<'static, str>,
}

impl ServerRequest {
    pub(crate) fn read<B>(req: &Request<B>, route: Option<&str>) -> Self {
        let (method, original) = headers::method(req.method());
        let (route, span_name) = match route {
            Some(route) => {
                let (route, name) = super::names::route_and_name(method, route);
                (Some(route), name)
            }
            None => (None, method.into()),
        };
        Self {
            method,
            method_original: original.map(str::to_owned),
            route,
            // The forwarded headers are read by `resolve_scheme`, when someone reads it.
            scheme: headers::uri_scheme_label(req.uri().scheme_str()),
            version: headers::protocol_version(req.version()),
            span_name,
        }
    }

    /// Sets `scheme` from the forwarded headers as well (`Forwarded: proto=`,
    /// `X-Forwarded-Proto`): for a recording span and the metrics, not for a span sampled out.
    pub(crate) fn resolve_scheme<B>(&mut self, req: &Request<B>) {
        self.scheme = headers::scheme(req.uri().scheme_str(), req.headers());
    }
}

/// The attributes of a server span at its start.
pub(crate) fn server_span<B>(
    request: &ServerRequest,
    req: &Request<B>,
    client_address: Option<String>,
    request_id: &str,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(14);
    attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, request.method));
    if let Some(original) = &request.method_original {
        attrs.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD_ORIGINAL,
            original.clone(),
        ));
    }
    if let Some(route) = &request.route {
        attrs.push(KeyValue::new(
            semconv::HTTP_ROUTE,
            StringValue::from(Arc::clone(route)),
        ));
    }
    attrs.push(KeyValue::new(
        semconv::URL_PATH,
        headers::truncate(req.uri().path(), MAX_ATTRIBUTE_LEN).to_owned(),
    ));
    attrs.push(KeyValue::new(semconv::URL_SCHEME, request.scheme));
    if let Some(query) = req.uri().query().and_then(headers::redact_query) {
        attrs.push(KeyValue::new(semconv::URL_QUERY, query));
    }
    if let Some((host, port)) = headers::server(req.uri(), req.headers()) {
        push_server(&mut attrs, host.to_owned(), port);
    }
    if let Some(version) = request.version {
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(ua) = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        attrs.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            headers::truncate(ua, MAX_ATTRIBUTE_LEN).to_owned(),
        ));
    }
    if let Some(client) = client_address {
        attrs.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
    }
    attrs.push(KeyValue::new(
        "http.request.header.x-request-id",
        request_id.to_owned(),
    ));
    attrs
}

/// The labels of `http.server.request.duration`.
pub(crate) fn server_duration(
    request: &ServerRequest,
    status: Option<StatusCode>,
    error_type: Option<&str>,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(6);
    attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, request.method));
    if let Some(route) = &request.route {
        attrs.push(KeyValue::new(
            semconv::HTTP_ROUTE,
            StringValue::from(Arc::clone(route)),
        ));
    }
    if let Some(status) = status {
        attrs.push(status_code(status));
    }
    attrs.push(KeyValue::new(semconv::URL_SCHEME, request.scheme));
    if let Some(error) = error_type {
        attrs.push(KeyValue::new(semconv::ERROR_TYPE, error.to_owned()));
    }
    if let Some(version) = request.version {
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    attrs
}

/// What the client layer learned from an outgoing request.
#[derive(Debug, Clone)]
pub(crate) struct ClientRequest {
    pub(crate) method: &'static str,
    pub(crate) scheme: &'static str,
    pub(crate) server: Option<(String, Option<u16>)>,
}

impl ClientRequest {
    pub(crate) fn read<B>(req: &Request<B>) -> Self {
        let scheme = headers::uri_scheme_label(req.uri().scheme_str());
        // The client side always names the port, the scheme's default when none is given.
        let server = headers::server(req.uri(), req.headers()).map(|(host, port)| {
            let default = if scheme == "https" { 443 } else { 80 };
            (host.to_owned(), Some(port.unwrap_or(default)))
        });
        Self {
            method: headers::method(req.method()).0,
            scheme,
            server,
        }
    }
}

/// The attributes of a client span at its start.
pub(crate) fn client_span<B>(request: &ClientRequest, req: &Request<B>) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(8);
    attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, request.method));
    if let (_, Some(original)) = headers::method(req.method()) {
        attrs.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD_ORIGINAL,
            original.to_owned(),
        ));
    }
    if let Some((host, port)) = &request.server {
        push_server(&mut attrs, host.clone(), *port);
    }
    attrs.push(KeyValue::new(semconv::URL_FULL, redacted_url(req.uri())));
    if let Some(version) = headers::protocol_version(req.version()) {
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    attrs
}

/// The labels of `http.client.request.duration` known before the response.
pub(crate) fn client_duration(request: ClientRequest) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(6);
    attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, request.method));
    attrs.push(KeyValue::new(semconv::URL_SCHEME, request.scheme));
    if let Some((host, port)) = request.server {
        push_server(&mut attrs, host, port);
    }
    attrs
}

/// `http.response.status_code`.
pub(crate) fn status_code(status: StatusCode) -> KeyValue {
    KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    )
}

/// `error.type`.
pub(crate) fn error(kind: impl Into<StringValue>) -> KeyValue {
    KeyValue::new(
        semconv::ERROR_TYPE,
        opentelemetry::Value::String(kind.into()),
    )
}

/// The `error.type` of a service error: its type's full path without generic parameters
/// (`hyper_util::client::legacy::Error`; the last segment alone, `Error`, says too little).
pub(crate) fn error_type<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    name.split('<').next().unwrap_or(name)
}

fn push_server(attrs: &mut Vec<KeyValue>, host: String, port: Option<u16>) {
    attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
    if let Some(port) = port {
        attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
}

/// `url.full` with sensitive query values redacted and no user info.
fn redacted_url(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
        out.push_str(host_port);
    }
    out.push_str(uri.path());
    if let Some(query) = uri.query().and_then(headers::redact_query) {
        out.push('?');
        out.push_str(&query);
    }
    out
}
