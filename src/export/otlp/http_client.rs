//! The HTTP client of the OTLP/HTTP exporters: hyper (HTTP/1.1), over rustls for `https://`
//! endpoints, with every request run on the export runtime, so that an exporter called from a
//! thread without a Tokio runtime (the SDK's periodic metric reader) works as well as one
//! called on it.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

use crate::error::BoxError;
use crate::tls::TlsFiles;

#[derive(Debug, Clone)]
enum Client {
    Plain(HyperClient<HttpConnector>),
    #[cfg(feature = "tls")]
    Tls(HyperClient<hyper_rustls::HttpsConnector<HttpConnector>>),
}

#[derive(Debug, Clone)]
pub(crate) struct OnRuntime {
    client: Client,
    runtime: Handle,
}

impl OnRuntime {
    /// A client whose requests time out after `timeout`; TLS with `tls`'s trust and client
    /// certificate when given (the endpoint is `https://`).
    pub(crate) fn new(
        runtime: Handle,
        timeout: Duration,
        tls: Option<&TlsFiles>,
    ) -> Result<Self, BoxError> {
        let client = match tls {
            None => Client::Plain(HyperClient::with_default_connector(timeout, None)),
            #[cfg(feature = "tls")]
            Some(files) => {
                // hyper-rustls sets ALPN (http/1.1) itself.
                let config = crate::tls::config(files)?;
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_only()
                    .enable_http1()
                    .build();
                Client::Tls(HyperClient::new(connector, timeout, None))
            }
            #[cfg(not(feature = "tls"))]
            Some(_) => return Err("https:// needs the `tls` cargo feature".into()),
        };
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move {
                match client {
                    Client::Plain(client) => client.send_bytes(request).await,
                    #[cfg(feature = "tls")]
                    Client::Tls(client) => client.send_bytes(request).await,
                }
            })
            .await
            .map_err(|e| -> HttpError { Box::new(e) })?
    }
}
