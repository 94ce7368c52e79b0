//! A small gRPC service for the tests, `octollm.test.v1.Echo`, written by hand the way
//! `tonic-build` writes generated code (no `protoc`): prost messages, a server that is a
//! `tower::Service<http::Request<tonic::body::Body>>` over `tonic::server::Grpc` with
//! `tonic_prost::ProstCodec`, and a client over `tonic::client::Grpc`.
//!
//! ```proto
//! package octollm.test.v1;
//! service Echo {
//!   rpc Get(GetRequest) returns (GetResponse);            // key "missing": NOT_FOUND,
//!                                                         // key "slow": answers after 2 s
//!   rpc List(ListRequest) returns (stream ListResponse);  // `count` items 20 ms apart; with
//!                                                         // fail_after > 0, ABORTED after that many
//! }
//! message GetRequest { string key = 1; }
//! message GetResponse { string value = 1; }
//! message ListRequest { uint32 count = 1; uint32 fail_after = 2; }
//! message ListResponse { string value = 1; }
//! ```
//!
//! [`serve`] runs it on `127.0.0.1:0` behind any tower layer (`Server::builder().layer(..)`),
//! and records the `traceparent` of every request it receives; [`EchoClient`] calls it over any
//! gRPC service (a `tonic::transport::Channel`, or one wrapped in a `ServiceBuilder`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};
use tower::{Layer, Service};

type StdError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The full name of the service.
pub const SERVICE: &str = "octollm.test.v1.Echo";
/// The HTTP/2 paths of its methods.
pub const GET_PATH: &str = "/octollm.test.v1.Echo/Get";
pub const LIST_PATH: &str = "/octollm.test.v1.Echo/List";
/// The `Get` key answered with `NOT_FOUND`.
pub const KEY_MISSING: &str = "missing";
/// The `Get` key answered after [`SLOW_DELAY`].
pub const KEY_SLOW: &str = "slow";
pub const SLOW_DELAY: Duration = Duration::from_secs(2);
/// The pause before each `List` item.
pub const LIST_INTERVAL: Duration = Duration::from_millis(20);

/// What `Get` answers for `key`.
pub fn get_value(key: &str) -> String {
    format!("echo:{key}")
}

/// The `i`-th `List` item (from 0).
pub fn list_value(i: u32) -> String {
    format!("item-{i}")
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRequest {
    #[prost(string, tag = "1")]
    pub key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetResponse {
    #[prost(string, tag = "1")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListRequest {
    #[prost(uint32, tag = "1")]
    pub count: u32,
    #[prost(uint32, tag = "2")]
    pub fail_after: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListResponse {
    #[prost(string, tag = "1")]
    pub value: String,
}

// === server ===

/// One request the server received, as its handler saw it (after the server's layers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `/octollm.test.v1.Echo/Get` or `/octollm.test.v1.Echo/List`.
    pub path: String,
    /// The `traceparent` metadata, if any.
    pub traceparent: Option<String>,
    /// The `tracestate` metadata, if any.
    pub tracestate: Option<String>,
}

#[derive(Debug, Default)]
struct Log {
    received: Mutex<Vec<Received>>,
    /// `List` streams whose client went away before the last item.
    streams_cancelled: Mutex<u32>,
}

/// The Echo service as a tower service of HTTP requests, as `tonic-build` generates it.
#[derive(Clone, Debug, Default)]
pub struct EchoServer {
    log: Arc<Log>,
}

impl NamedService for EchoServer {
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send + 'static>>;
type ItemStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ListResponse, Status>> + Send>>;

impl EchoServer {
    fn record<T>(&self, path: &str, request: &Request<T>) {
        let text = |name| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let seen = Received {
            path: path.to_owned(),
            traceparent: text("traceparent"),
            tracestate: text("tracestate"),
        };
        self.log.received.lock().unwrap().push(seen);
    }
}

struct GetSvc(EchoServer);

impl tonic::server::UnaryService<GetRequest> for GetSvc {
    type Response = GetResponse;
    type Future = Pin<Box<dyn Future<Output = Result<Response<GetResponse>, Status>> + Send>>;

    fn call(&mut self, request: Request<GetRequest>) -> Self::Future {
        self.0.record(GET_PATH, &request);
        Box::pin(async move {
            let key = request.into_inner().key;
            tracing::info!(key = %key, "echo get");
            match key.as_str() {
                KEY_MISSING => Err(Status::not_found(format!("no value for key {key:?}"))),
                KEY_SLOW => {
                    tokio::time::sleep(SLOW_DELAY).await;
                    Ok(Response::new(GetResponse {
                        value: get_value(&key),
                    }))
                }
                _ => Ok(Response::new(GetResponse {
                    value: get_value(&key),
                })),
            }
        })
    }
}

struct ListSvc(EchoServer);

impl tonic::server::ServerStreamingService<ListRequest> for ListSvc {
    type Response = ListResponse;
    type ResponseStream = ItemStream;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ItemStream>, Status>> + Send>>;

    fn call(&mut self, request: Request<ListRequest>) -> Self::Future {
        self.0.record(LIST_PATH, &request);
        let log = self.0.log.clone();
        Box::pin(async move {
            let ListRequest { count, fail_after } = request.into_inner();
            tracing::info!(count, fail_after, "echo list");
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(async move {
                for i in 0..count {
                    if fail_after > 0 && i == fail_after {
                        let _ = tx
                            .send(Err(Status::aborted(format!(
                                "aborted after {fail_after} items"
                            ))))
                            .await;
                        return;
                    }
                    tokio::time::sleep(LIST_INTERVAL).await;
                    if tx
                        .send(Ok(ListResponse {
                            value: list_value(i),
                        }))
                        .await
                        .is_err()
                    {
                        *log.streams_cancelled.lock().unwrap() += 1;
                        return;
                    }
                }
                if fail_after > 0 && fail_after >= count {
                    let _ = tx
                        .send(Err(Status::aborted(format!(
                            "aborted after {fail_after} items"
                        ))))
                        .await;
                }
            });
            let stream: ItemStream = Box::pin(ReceiverStream::new(rx));
            Ok(Response::new(stream))
        })
    }
}

impl<B> Service<http::Request<B>> for EchoServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        match req.uri().path() {
            GET_PATH => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(GetSvc(this), req).await)
            }),
            LIST_PATH => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.server_streaming(ListSvc(this), req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("").into_http()) }),
        }
    }
}

/// A running Echo server; it shuts down gracefully when dropped.
#[derive(Debug)]
pub struct Served {
    /// Where it listens (`127.0.0.1`, an ephemeral port).
    pub addr: SocketAddr,
    log: Arc<Log>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// `http://127.0.0.1:PORT`, for `Channel::from_shared`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client over a plain channel to this server (connected lazily).
    pub fn client(&self) -> EchoClient<Channel> {
        EchoClient::new(self.channel())
    }

    /// A channel to this server (connected lazily), to wrap in layers.
    pub fn channel(&self) -> Channel {
        Channel::from_shared(self.uri())
            .expect("loopback uri")
            .connect_lazy()
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    /// The `traceparent` of every request received so far (`None` for a request without one).
    pub fn traceparents(&self) -> Vec<Option<String>> {
        self.received().into_iter().map(|r| r.traceparent).collect()
    }

    /// How many `List` streams ended because the client went away (seen when the server
    /// next tried to send an item).
    pub fn streams_cancelled(&self) -> u32 {
        *self.log.streams_cancelled.lock().unwrap()
    }

    /// Stops the server and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves Echo on `127.0.0.1:0` behind `layer` (`Server::builder().layer(layer)`); use
/// `tower::layer::util::Identity::new()` for none. Must be called inside a Tokio runtime.
pub async fn serve<L, ResBody>(layer: L) -> Served
where
    L: Layer<Routes> + Clone + Send + Sync + 'static,
    L::Service:
        Service<http::Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    <L::Service as Service<http::Request<Body>>>::Future: Send + 'static,
    <L::Service as Service<http::Request<Body>>>::Error: Into<StdError> + Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<StdError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let server = EchoServer::default();
    let log = server.log.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let router = Server::builder().layer(layer).add_service(server);
    let task = tokio::spawn(async move {
        let signal = async {
            let _ = rx.await;
        };
        router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
            .await
            .expect("echo server");
    });
    Served {
        addr,
        log,
        shutdown: Some(tx),
        task: Some(task),
    }
}

/// [`serve`] without a layer.
pub async fn serve_plain() -> Served {
    serve(tower::layer::util::Identity::new()).await
}

// === client ===

/// An Echo client over any gRPC service `T` (a `Channel`, possibly behind tower layers), as
/// `tonic-build` generates it.
#[derive(Clone, Debug)]
pub struct EchoClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> EchoClient<T>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<StdError> + Send,
{
    pub fn new(inner: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    /// `Get { key }`: the value, or the status the call ended with.
    pub async fn get(&mut self, key: &str) -> Result<String, Status> {
        let request = Request::new(GetRequest {
            key: key.to_owned(),
        });
        Ok(self.get_request(request).await?.into_inner().value)
    }

    /// `Get` with a request of the caller's (metadata such as `traceparent`, a timeout with
    /// `Request::set_timeout`).
    pub async fn get_request(
        &mut self,
        request: Request<GetRequest>,
    ) -> Result<Response<GetResponse>, Status> {
        self.ready().await?;
        let mut request = request;
        request
            .extensions_mut()
            .insert(tonic::GrpcMethod::new(SERVICE, "Get"));
        let path = http::uri::PathAndQuery::from_static(GET_PATH);
        self.inner
            .unary(request, path, tonic_prost::ProstCodec::default())
            .await
    }

    /// `List { count, fail_after }`: the stream of items (read it with `Streaming::message`).
    pub async fn list(
        &mut self,
        count: u32,
        fail_after: u32,
    ) -> Result<Streaming<ListResponse>, Status> {
        let request = Request::new(ListRequest { count, fail_after });
        Ok(self.list_request(request).await?.into_inner())
    }

    /// `List` with a request of the caller's.
    pub async fn list_request(
        &mut self,
        request: Request<ListRequest>,
    ) -> Result<Response<Streaming<ListResponse>>, Status> {
        self.ready().await?;
        let mut request = request;
        request
            .extensions_mut()
            .insert(tonic::GrpcMethod::new(SERVICE, "List"));
        let path = http::uri::PathAndQuery::from_static(LIST_PATH);
        self.inner
            .server_streaming(request, path, tonic_prost::ProstCodec::default())
            .await
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner.ready().await.map_err(|e| {
            let e: StdError = e.into();
            Status::unknown(format!("service was not ready: {e}"))
        })
    }
}

/// Reads a `List` stream to its end: the items, and the status it ended with (`Ok` when it
/// ended cleanly).
pub async fn collect(stream: &mut Streaming<ListResponse>) -> (Vec<String>, Result<(), Status>) {
    let mut items = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(item)) => items.push(item.value),
            Ok(None) => return (items, Ok(())),
            Err(status) => return (items, Err(status)),
        }
    }
}
