//! A fake OpenAI-compatible HTTP server on loopback, for the GenAI tests.
//!
//! It serves what an OpenAI client calls, with realistic bodies and fixed values:
//!
//! - `POST /v1/chat/completions` (and `/chat/completions`): a `chat.completion` object, or with
//!   `"stream": true` server-sent events (`data: {chunk}` lines, then `data: [DONE]`), with a
//!   last usage chunk when the request sets `stream_options.include_usage`;
//! - `POST /v1/embeddings` (and `/embeddings`): one small vector and its usage;
//! - the model [`MISSING_MODEL`] on either route: HTTP 404 with OpenAI's error body
//!   (`invalid_request_error`, `model_not_found`).
//!
//! A request for [`CHAT_MODEL`] is answered by the dated model [`CHAT_RESPONSE_MODEL`]; any other
//! model is echoed. The server runs on its own thread and tokio runtime and stops on drop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The model the tests ask for.
pub const CHAT_MODEL: &str = "gpt-4o-mini";
/// The model the server says answered a request for [`CHAT_MODEL`].
pub const CHAT_RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The model the server answers with HTTP 404 (`model_not_found`).
pub const MISSING_MODEL: &str = "does-not-exist";
/// The `id` of every chat completion (and of every chunk of a stream).
pub const COMPLETION_ID: &str = "chatcmpl-AZfake0001octollm";
/// The `system_fingerprint` of every chat completion.
pub const SYSTEM_FINGERPRINT: &str = "fp_0ba0d124f1";
/// The usage of every chat completion (the streamed one reports it in its last chunk).
pub const PROMPT_TOKENS: u64 = 12;
/// See [`PROMPT_TOKENS`].
pub const COMPLETION_TOKENS: u64 = 9;
/// `usage.prompt_tokens_details.cached_tokens` (not zero, so that instrumentations that skip
/// zeros still report it).
pub const CACHED_TOKENS: u64 = 4;
/// `usage.completion_tokens_details.reasoning_tokens` (not zero, see [`CACHED_TOKENS`]).
pub const REASONING_TOKENS: u64 = 2;
/// The answer's text, split into the streamed chunks.
pub const ANSWER_PARTS: [&str; 4] = ["Traces", ", metrics", " and logs", "."];
/// `usage.prompt_tokens` of every embeddings response.
pub const EMBEDDING_TOKENS: u64 = 5;

/// The running server; dropping it stops the server and joins its thread.
pub struct FakeOpenAi {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// One request the server answered: its path and JSON body.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub body: Value,
}

type Requests = Arc<Mutex<Vec<Received>>>;

impl FakeOpenAi {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake OpenAI");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let requests = Requests::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/embeddings", post(embeddings))
            .with_state(requests.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-openai".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake OpenAI runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("fake OpenAI serves");
                });
            })
            .expect("spawn the fake OpenAI thread");
        Self {
            addr,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL an OpenAI client takes: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn chat(State(requests): State<Requests>, Json(body): Json<Value>) -> Response {
    record(&requests, "chat/completions", &body);
    let model = body["model"].as_str().unwrap_or_default();
    if model == MISSING_MODEL {
        return model_not_found(model);
    }
    let model = if model == CHAT_MODEL {
        CHAT_RESPONSE_MODEL
    } else {
        model
    };
    if body["stream"].as_bool() != Some(true) {
        return Json(completion(model)).into_response();
    }
    let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    let events: String = stream_chunks(model, include_usage)
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .chain(["data: [DONE]\n\n".to_owned()])
        .collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], events).into_response()
}

async fn embeddings(State(requests): State<Requests>, Json(body): Json<Value>) -> Response {
    record(&requests, "embeddings", &body);
    let model = body["model"].as_str().unwrap_or_default();
    if model == MISSING_MODEL {
        return model_not_found(model);
    }
    // Floats even when the client asks for base64: OpenAI's clients accept both.
    Json(json!({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789, 0.0012]}],
        "model": model,
        "usage": {"prompt_tokens": EMBEDDING_TOKENS, "total_tokens": EMBEDDING_TOKENS},
    }))
    .into_response()
}

fn record(requests: &Requests, path: &str, body: &Value) {
    requests.lock().unwrap().push(Received {
        path: path.to_owned(),
        body: body.clone(),
    });
}

fn model_not_found(model: &str) -> Response {
    let body = json!({"error": {
        "message": format!("The model `{model}` does not exist or you do not have access to it."),
        "type": "invalid_request_error",
        "param": null,
        "code": "model_not_found",
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn usage() -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": REASONING_TOKENS,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

fn completion(model: &str) -> Value {
    json!({
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": 1_733_450_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER_PARTS.concat(), "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    })
}

/// The chunks of a streamed completion: the role, the text in parts, the finish reason, and
/// with `include_usage` a last chunk with no choices and the usage (the others then carry
/// `"usage": null`, as OpenAI's do).
fn stream_chunks(model: &str, include_usage: bool) -> Vec<Value> {
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": 1_733_450_000,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut chunks = vec![chunk(delta(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ))];
    chunks.extend(
        ANSWER_PARTS
            .iter()
            .map(|part| chunk(delta(json!({"content": part}), Value::Null))),
    );
    chunks.push(chunk(delta(json!({}), json!("stop"))));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage();
        chunks.push(last);
    }
    chunks
}
