//! The HTTP client of the OTLP/HTTP exporters: reqwest, with every request run on the export
//! runtime, so that an exporter called from a thread without a Tokio runtime (the SDK's
//! periodic metric reader) works as well as one called on it.

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

#[derive(Debug, Clone)]
pub(crate) struct OnRuntime {
    client: reqwest::Client,
    runtime: Handle,
}

impl OnRuntime {
    pub(crate) fn new(runtime: Handle) -> Self {
        Self {
            client: reqwest::Client::new(),
            runtime,
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|e| -> HttpError { Box::new(e) })?
    }
}
