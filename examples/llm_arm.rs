//! Run with `cargo run --example llm_arm` (add `LOG_FORMAT=json` for JSON log lines, and
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY` to see the messages).
//!
//! An arm that calls a language model over an OpenAI-compatible API, with the GenAI
//! telemetry of `octollm_telemetry::genai`: a `chat {model}` client span per call with the
//! model, token usage and finish reason, the duration and token histograms, and for the
//! streaming call the time to the first chunk and between chunks. The model here is a stand-in
//! the example serves itself on loopback (no network, no key), answering one plain and one
//! streaming chat, and refusing an unknown model with 404. The spans go to stdout (unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set); the example prints what `/metrics` would serve for
//! `gen_ai_*` and exits.

use std::net::SocketAddr;

use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octollm_telemetry::genai::{GenAi, Message, Operation, Usage};
use serde_json::{json, Value};
use tracing::{info, info_span, Instrument as _};

const MODEL: &str = "gpt-4o-mini";

/// The stand-in model: `POST /v1/chat/completions`, plain or streamed (server-sent events).
async fn completions(Json(request): Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let model = request["model"].as_str().unwrap_or_default();
    if model != MODEL {
        let error = json!({"error": {"message": format!("The model `{model}` does not exist"),
            "type": "invalid_request_error", "code": "model_not_found"}});
        return (http::StatusCode::NOT_FOUND, Json(error)).into_response();
    }
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15});
    if request["stream"].as_bool() == Some(true) {
        let mut body = String::new();
        for word in ["Four", ".", ""] {
            let finish = if word.is_empty() {
                json!("stop")
            } else {
                Value::Null
            };
            let chunk = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": finish}]});
            body.push_str(&format!("data: {chunk}\n\n"));
        }
        let last = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": usage});
        body.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
        return ([(http::header::CONTENT_TYPE, "text/event-stream")], body).into_response();
    }
    Json(
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Four."},
            "finish_reason": "stop"}],
        "usage": usage}),
    )
    .into_response()
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One chat call through the GenAI API: a span and its metrics, whatever the outcome.
async fn chat(
    genai: &GenAi,
    client: &HttpClient,
    addr: SocketAddr,
    model: &str,
    stream: bool,
) -> Result<String, Box<dyn std::error::Error>> {
    let question = "What is 2 + 2?";
    let mut call = genai
        .call(Operation::Chat, "openai")
        .model(model)
        .server(addr.ip().to_string(), addr.port())
        .stream(stream)
        .start();
    call.input_messages(&[Message::text("user", question)]);
    let body = json!({"model": model, "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": question}]});
    let request = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.request(request).await?;
    let status = response.status();
    if !status.is_success() {
        // An HTTP status is a good `error.type`: few values, and what the provider said.
        call.fail(status.as_u16().to_string());
        return Err(format!("the model answered {status}").into());
    }
    let mut answer = String::new();
    let mut usage = None;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let text = String::from_utf8_lossy(&data);
        // A stream's events, or the whole answer at once.
        let documents: Vec<&str> = if stream {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter(|d| *d != "[DONE]")
                .collect()
        } else {
            vec![&text]
        };
        for document in documents {
            let value: Value = serde_json::from_str(document)?;
            if stream && !value["choices"].as_array().is_none_or(Vec::is_empty) {
                call.chunk();
            }
            if let Some(id) = value["id"].as_str() {
                call.response_id(id);
            }
            if let Some(model) = value["model"].as_str() {
                call.response_model(model);
            }
            for choice in value["choices"].as_array().into_iter().flatten() {
                let part = if stream {
                    &choice["delta"]["content"]
                } else {
                    &choice["message"]["content"]
                };
                answer.push_str(part.as_str().unwrap_or_default());
                if let Some(reason) = choice["finish_reason"].as_str() {
                    call.finish_reasons(&[reason]);
                }
            }
            if let (Some(input), Some(output)) = (
                value["usage"]["prompt_tokens"].as_u64(),
                value["usage"]["completion_tokens"].as_u64(),
            ) {
                usage = Some(Usage::new(input, output));
            }
        }
    }
    if let Some(usage) = usage {
        call.usage(usage);
    }
    call.output_messages(&[Message::text("assistant", answer.clone())]);
    call.end();
    Ok(answer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = octollm_telemetry::TelemetryConfig::from_env()?.service_name("llm-arm");
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_err()
        && std::env::var("OTEL_TRACES_EXPORTER").is_err()
    {
        config = config.traces_exporter(octollm_telemetry::TracesExporter::Console);
    }
    let guard = config.init().await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let model = Router::new().route("/v1/chat/completions", post(completions));
    tokio::spawn(async move { axum::serve(listener, model).await });

    let genai = GenAi::new();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    for (model, stream) in [(MODEL, false), (MODEL, true), ("does-not-exist", false)] {
        // The call's span is a child of this one; the log lines carry their trace id.
        let span = info_span!("answer_question", stream);
        async {
            match chat(&genai, &client, addr, model, stream).await {
                Ok(answer) => info!(model, stream, %answer, "model answered"),
                Err(e) => tracing::warn!(model, error = %e, "model call failed"),
            }
        }
        .instrument(span)
        .await;
    }

    let text = octollm_telemetry::metrics::encode_prometheus()
        .ok_or("metrics are not served in the Prometheus format")?;
    for line in text
        .lines()
        .filter(|l| l.starts_with("gen_ai_") && !l.contains("_bucket"))
    {
        println!("{line}");
    }
    guard.shutdown()?;
    Ok(())
}
