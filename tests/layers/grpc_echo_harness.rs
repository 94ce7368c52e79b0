//! The gRPC echo service of the tests (`tests/support/grpc_echo.rs`) behaves as documented,
//! with plain tonic and no layer of ours: the outcomes the gRPC layers' tests rely on.

use crate::support;

use std::time::{Duration, Instant};

use support::grpc_echo::{
    self, collect, list_value, serve_plain, GetRequest, KEY_MISSING, KEY_SLOW,
};
use tonic::{Code, Request};

#[tokio::test]
async fn unary_ok_and_not_found() {
    let server = serve_plain().await;
    let mut client = server.client();
    assert_eq!(client.get("a").await.unwrap(), grpc_echo::get_value("a"));
    let status = client.get(KEY_MISSING).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let paths: Vec<_> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [grpc_echo::GET_PATH, grpc_echo::GET_PATH]);
}

#[tokio::test]
async fn server_records_traceparent() {
    let server = serve_plain().await;
    let mut client = server.client();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = Request::new(GetRequest { key: "k".into() });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    client.get_request(request).await.unwrap();
    client.get("k").await.unwrap();
    assert_eq!(server.traceparents(), [Some(traceparent.to_owned()), None]);
}

#[tokio::test]
async fn stream_ok() {
    let server = serve_plain().await;
    let mut stream = server.client().list(3, 0).await.unwrap();
    let (items, end) = collect(&mut stream).await;
    assert_eq!(items, (0..3).map(list_value).collect::<Vec<_>>());
    end.unwrap();
    assert_eq!(server.received()[0].path, grpc_echo::LIST_PATH);
}

#[tokio::test]
async fn stream_aborted_after_two() {
    let server = serve_plain().await;
    let mut stream = server.client().list(5, 2).await.unwrap();
    let (items, end) = collect(&mut stream).await;
    assert_eq!(items, [list_value(0), list_value(1)]);
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
}

/// tonic has no DEADLINE_EXCEEDED of its own: when the deadline of `Request::set_timeout`
/// (sent as `grpc-timeout`) passes first on the client, its channel ends the call with
/// `CANCELLED` "Timeout expired"; the server stops the handler at the same deadline and answers
/// `CANCELLED` too. A client that wants DEADLINE_EXCEEDED maps it itself (or uses
/// `tokio::time::timeout`, which drops the call: the server then sees a reset stream).
#[tokio::test]
async fn client_deadline() {
    let server = serve_plain().await;
    let mut client = server.client();
    let mut request = Request::new(GetRequest {
        key: KEY_SLOW.into(),
    });
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = client.get_request(request).await.unwrap_err();
    assert!(
        started.elapsed() < grpc_echo::SLOW_DELAY,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert_eq!(status.message(), "Timeout expired");

    // The deadline the caller enforces itself, as DEADLINE_EXCEEDED.
    let call = client.get(KEY_SLOW);
    let status = match tokio::time::timeout(Duration::from_millis(200), call).await {
        Ok(result) => panic!("slow call returned {result:?}"),
        Err(_) => tonic::Status::deadline_exceeded("client deadline"),
    };
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn stream_dropped_half_way() {
    let server = serve_plain().await;
    let mut stream = server.client().list(50, 0).await.unwrap();
    for i in 0..2 {
        let item = stream.message().await.unwrap().unwrap();
        assert_eq!(item.value, list_value(i));
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.streams_cancelled() == 0 {
        assert!(Instant::now() < deadline, "the server kept streaming");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server still answers.
    assert_eq!(
        server.client().get("b").await.unwrap(),
        grpc_echo::get_value("b")
    );
    server.shutdown().await;
}

/// Layers go in front of both sides the way ours will: a tower layer before the server's
/// routes, a `ServiceBuilder` around the client's channel (here one that sets `traceparent`).
#[tokio::test]
async fn layers_on_both_sides() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server_seen = seen.clone();
    let server_layer =
        tower::util::MapRequestLayer::new(move |req: http::Request<tonic::body::Body>| {
            server_seen
                .lock()
                .unwrap()
                .push(req.uri().path().to_owned());
            req
        });
    let server = grpc_echo::serve(server_layer).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let channel = tower::ServiceBuilder::new()
        .map_request(move |mut req: http::Request<tonic::body::Body>| {
            req.headers_mut()
                .insert("traceparent", http::HeaderValue::from_static(traceparent));
            req
        })
        .service(server.channel());
    let mut client = grpc_echo::EchoClient::new(channel);
    client.get("c").await.unwrap();
    let (items, end) = collect(&mut client.list(1, 0).await.unwrap()).await;
    assert_eq!((items.len(), end.is_ok()), (1, true));
    assert_eq!(
        *seen.lock().unwrap(),
        [grpc_echo::GET_PATH, grpc_echo::LIST_PATH]
    );
    assert_eq!(
        server.traceparents(),
        [Some(traceparent.to_owned()), Some(traceparent.to_owned())]
    );
}
