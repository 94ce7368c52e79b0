//! Spans and metrics of calls to language models, on the OpenTelemetry GenAI semantic
//! conventions as released in v1.41.1 ([`names`] holds every name), for any client library:
//! reqwest against an OpenAI-compatible API, a provider SDK, a local model.
//!
//! ```no_run
//! use octollm_telemetry::genai::{GenAi, Operation, Usage};
//!
//! # fn call_the_model() -> Result<(&'static str, u64, u64), std::io::Error> { Ok(("x", 1, 1)) }
//! let genai = GenAi::new(); // what `init_telemetry` installed
//! let mut call = genai
//!     .call(Operation::Chat, "openai")
//!     .model("gpt-4o-mini")
//!     .server("api.openai.com", 443)
//!     .start();
//! match call_the_model() {
//!     Ok((id, input, output)) => {
//!         call.response_id(id);
//!         call.response_model("gpt-4o-mini-2024-07-18");
//!         call.finish_reasons(&["stop"]);
//!         call.usage(Usage::new(input, output));
//!         call.end();
//!     }
//!     Err(e) => call.fail(e.kind().to_string()),
//! }
//! ```
//!
//! A [`Call`] is a guard: one that is dropped without [`Call::end`] or [`Call::fail`] (the
//! caller gave up, a stream was abandoned half way) ends as failed with
//! `error.type="cancelled"`, so no call goes unrecorded.
//!
//! What each call emits:
//! - A span `{operation} {model}` (`execute_tool {tool}` for a tool), kind CLIENT (SERVER for
//!   [`GenAi::serve`], INTERNAL for a tool), with the operation, provider, request and
//!   response attributes, token usage, `server.address`/`server.port`, and on failure
//!   `error.type` and status ERROR. The deprecated `gen_ai.system` is never set.
//! - `gen_ai.client.operation.duration` (s), `gen_ai.client.token.usage` (`{token}`, one
//!   record per token type with the count the provider bills), and for streams
//!   `gen_ai.client.operation.time_to_first_chunk` and `…time_per_output_chunk`, with the
//!   convention's buckets. A served model records the `gen_ai.server.*` trio instead. The
//!   client duration keeps exemplars (the last sampled call per series and bucket) in the
//!   pipeline's store, as the HTTP server histogram does ([`GenAi::exemplars`]).
//! - Message content only when [`CaptureContent`] allows it
//!   (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, off by default): as span
//!   attributes, or as a `gen_ai.client.inference.operation.details` event (a `tracing` event,
//!   so a log line and, with `OTEL_LOGS_EXPORTER=otlp`, a log record), bounded to
//!   [`MAX_CONTENT_BYTES`] per message list.

pub mod names;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use opentelemetry::metrics::{Histogram, Meter, MeterProvider};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue, Value};

pub use crate::config::CaptureContent;

/// The most bytes of captured content per message list (input, output or system
/// instructions); a longer list is cut at a character boundary and ends with `…`.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;

/// The kind of model operation (`gen_ai.operation.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `chat`: a chat completion.
    Chat,
    /// `text_completion`: a legacy completion.
    TextCompletion,
    /// `embeddings`.
    Embeddings,
    /// `generate_content`: a multimodal generation (Gemini's API).
    GenerateContent,
    /// `execute_tool`: a tool the model asked for, run by the service.
    ExecuteTool,
}

impl Operation {
    /// The value of `gen_ai.operation.name`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::TextCompletion => "text_completion",
            Self::Embeddings => "embeddings",
            Self::GenerateContent => "generate_content",
            Self::ExecuteTool => "execute_tool",
        }
    }
}

/// Token counts of a response; `None` where the provider did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, as billed (cached ones included, as providers count them).
    pub input_tokens: Option<u64>,
    /// Generated tokens, as billed (reasoning ones included).
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_input_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_input_tokens: Option<u64>,
    /// Generated tokens spent on reasoning.
    pub reasoning_output_tokens: Option<u64>,
}

impl Usage {
    /// Input and output tokens.
    #[must_use]
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            ..Self::default()
        }
    }
}

/// A message for captured content: a role and its text parts, written as the convention's
/// message schema (`{"role":…,"parts":[{"type":"text","content":…}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    role: Cow<'static, str>,
    parts: Vec<String>,
    finish_reason: Option<String>,
}

impl Message {
    /// A message of `role` (`system`, `user`, `assistant`, `tool`) with one text part.
    #[must_use]
    pub fn text(role: impl Into<Cow<'static, str>>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            parts: vec![content.into()],
            finish_reason: None,
        }
    }

    /// The finish reason of an output message.
    #[must_use]
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }
}

/// The GenAI instruments and tracer of one pipeline.
#[derive(Clone)]
pub struct GenAi {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    tracer: Arc<opentelemetry::global::BoxedTracer>,
    client: ClientInstruments,
    server: ServerInstruments,
    content: CaptureContent,
    exemplars: Option<crate::metrics::Exemplars>,
}

#[derive(Clone)]
struct ClientInstruments {
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
    first_chunk: Histogram<f64>,
    per_chunk: Histogram<f64>,
}

#[derive(Clone)]
struct ServerInstruments {
    duration: Histogram<f64>,
    first_token: Histogram<f64>,
    per_token: Histogram<f64>,
}

impl std::fmt::Debug for GenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenAi")
            .field("content", &self.inner.content)
            .finish_non_exhaustive()
    }
}

impl Default for GenAi {
    fn default() -> Self {
        Self::new()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(names::SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(names::SCHEMA_URL)
        .build()
}

impl GenAi {
    /// The instruments of the pipelines [`init_telemetry`](crate::init_telemetry) installed,
    /// with its content setting; before `init` (or without it), spans and metrics go nowhere.
    #[must_use]
    pub fn new() -> Self {
        let tracer_provider = opentelemetry::global::tracer_provider();
        let meter_provider = opentelemetry::global::meter_provider();
        let mut genai = Self::build(
            tracer_provider.tracer_with_scope(scope()),
            &meter_provider.meter_with_scope(scope()),
            crate::installed::genai_content(),
        );
        if let Some(store) = crate::installed::exemplars() {
            genai = genai.exemplars(Some(store));
        }
        genai
    }

    /// The instruments of explicit providers (tests, or a service that runs its own
    /// pipelines), capturing no content; see [`GenAi::capture_content`].
    #[must_use]
    pub fn with_providers<T, M>(tracer_provider: &T, meter_provider: &M) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        M: MeterProvider,
    {
        let tracer = opentelemetry::global::BoxedTracer::new(Box::new(
            tracer_provider.tracer_with_scope(scope()),
        ));
        Self::build(
            tracer,
            &meter_provider.meter_with_scope(scope()),
            CaptureContent::NoContent,
        )
    }

    /// The same instruments, capturing content as `content` says.
    #[must_use]
    pub fn capture_content(self, content: CaptureContent) -> Self {
        let mut inner = Inner::clone(&self.inner);
        inner.content = content;
        Self {
            inner: Arc::new(inner),
        }
    }

    fn build(
        tracer: opentelemetry::global::BoxedTracer,
        meter: &Meter,
        content: CaptureContent,
    ) -> Self {
        let seconds = |name: &'static str, description: &'static str, buckets: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit(names::UNIT_SECONDS)
                .with_description(description)
                .with_boundaries(buckets.to_vec())
                .build()
        };
        let client = ClientInstruments {
            duration: seconds(
                names::CLIENT_OPERATION_DURATION,
                "GenAI operation duration.",
                &names::DURATION_BUCKETS,
            ),
            tokens: meter
                .u64_histogram(names::CLIENT_TOKEN_USAGE)
                .with_unit(names::UNIT_TOKENS)
                .with_description("Number of input and output tokens used.")
                .with_boundaries(names::TOKEN_BUCKETS.to_vec())
                .build(),
            first_chunk: seconds(
                names::CLIENT_TIME_TO_FIRST_CHUNK,
                "Time to receive the first chunk in a streaming operation.",
                &names::DURATION_BUCKETS,
            ),
            per_chunk: seconds(
                names::CLIENT_TIME_PER_OUTPUT_CHUNK,
                "Time between consecutive chunks after the first in a streaming operation.",
                &names::DURATION_BUCKETS,
            ),
        };
        let server = ServerInstruments {
            duration: seconds(
                names::SERVER_REQUEST_DURATION,
                "Generative AI server request duration such as time-to-last byte or last output token.",
                &names::DURATION_BUCKETS,
            ),
            first_token: seconds(
                names::SERVER_TIME_TO_FIRST_TOKEN,
                "Time to generate first token for successful responses.",
                &names::TIME_TO_FIRST_TOKEN_BUCKETS,
            ),
            per_token: seconds(
                names::SERVER_TIME_PER_OUTPUT_TOKEN,
                "Time per output token generated after the first token for successful responses.",
                &names::TIME_PER_OUTPUT_TOKEN_BUCKETS,
            ),
        };
        Self {
            inner: Arc::new(Inner {
                tracer: Arc::new(tracer),
                client,
                server,
                content,
                exemplars: None,
            }),
        }
    }

    /// The same instruments, keeping the exemplars of `gen_ai.client.operation.duration` in
    /// `store` (a pipeline's, from [`Telemetry::exemplars`](crate::Telemetry::exemplars)), so
    /// that its buckets link to the sampled calls' traces as the HTTP server histogram's do.
    /// [`GenAi::new`] and [`Telemetry::genai`](crate::Telemetry::genai) take their pipeline's.
    #[must_use]
    pub fn exemplars(self, store: Option<crate::metrics::Exemplars>) -> Self {
        let mut inner = Inner::clone(&self.inner);
        inner.exemplars = store;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// What content this handle captures.
    #[must_use]
    pub fn content(&self) -> CaptureContent {
        self.inner.content
    }

    /// A call to a model of `provider` (`gen_ai.provider.name`: `openai`, `anthropic`,
    /// `aws.bedrock`, `gcp.vertex_ai`, … or your own).
    pub fn call(&self, operation: Operation, provider: impl Into<Value>) -> CallBuilder {
        CallBuilder::new(self.clone(), Side::Client, operation, provider.into())
    }

    /// A tool the model asked for, run here: span `execute_tool {tool}`, kind INTERNAL.
    pub fn tool(&self, tool: impl Into<String>) -> CallBuilder {
        let tool = tool.into();
        let mut builder = CallBuilder::new(
            self.clone(),
            Side::Tool,
            Operation::ExecuteTool,
            Value::from(""),
        );
        builder.tool = Some(tool);
        builder
    }

    /// A request this service serves with its own model: span kind SERVER and the
    /// `gen_ai.server.*` metrics.
    pub fn serve(&self, operation: Operation, provider: impl Into<Value>) -> CallBuilder {
        CallBuilder::new(self.clone(), Side::Server, operation, provider.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
    Tool,
}

/// The request side of a call, before it starts: see [`GenAi::call`].
#[derive(Debug)]
#[must_use = "a call is recorded once `start` is called"]
pub struct CallBuilder {
    genai: GenAi,
    side: Side,
    operation: Operation,
    provider: Value,
    model: Option<String>,
    tool: Option<String>,
    server: Option<(String, u16)>,
    stream: bool,
    attributes: Vec<KeyValue>,
    parent: Option<Context>,
}

impl CallBuilder {
    fn new(genai: GenAi, side: Side, operation: Operation, provider: Value) -> Self {
        Self {
            genai,
            side,
            operation,
            provider,
            model: None,
            tool: None,
            server: None,
            stream: false,
            attributes: Vec::new(),
            parent: None,
        }
    }

    /// The requested model (`gen_ai.request.model`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The model server's host and port (`server.address`, `server.port`).
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.server = Some((address.into(), port));
        self
    }

    /// A streaming request (`gen_ai.request.stream=true`): chunks are timed.
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// `gen_ai.request.max_tokens`.
    pub fn max_tokens(self, max_tokens: u32) -> Self {
        self.attribute(names::REQUEST_MAX_TOKENS, i64::from(max_tokens))
    }

    /// `gen_ai.request.temperature`.
    pub fn temperature(self, temperature: f64) -> Self {
        self.attribute(names::REQUEST_TEMPERATURE, temperature)
    }

    /// `gen_ai.request.top_p`.
    pub fn top_p(self, top_p: f64) -> Self {
        self.attribute(names::REQUEST_TOP_P, top_p)
    }

    /// `gen_ai.conversation.id`.
    pub fn conversation(self, id: impl Into<Value>) -> Self {
        self.attribute(names::CONVERSATION_ID, id)
    }

    /// Any other span attribute of the request (`gen_ai.request.seed`, `gen_ai.output.type`,
    /// …; see [`names`]).
    pub fn attribute(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// The parent of the call's span; by default the current `tracing` span's context.
    pub fn parent(mut self, parent: Context) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Starts the call: its span starts now and the clock runs.
    pub fn start(self) -> Call {
        let inner = &self.genai.inner;
        let operation = self.operation.as_str();
        let name = match (&self.tool, &self.model) {
            (Some(tool), _) => format!("{operation} {tool}"),
            (None, Some(model)) => format!("{operation} {model}"),
            (None, None) => operation.to_owned(),
        };
        let mut metric_attributes = vec![KeyValue::new(names::OPERATION_NAME, operation)];
        if self.side != Side::Tool {
            metric_attributes.push(KeyValue::new(names::PROVIDER_NAME, self.provider.clone()));
        }
        if let Some(model) = &self.model {
            metric_attributes.push(KeyValue::new(names::REQUEST_MODEL, model.clone()));
        }
        if let Some((address, port)) = &self.server {
            metric_attributes.push(KeyValue::new(names::SERVER_ADDRESS, address.clone()));
            metric_attributes.push(KeyValue::new(names::SERVER_PORT, i64::from(*port)));
        }
        let mut span_attributes = metric_attributes.clone();
        if let Some(tool) = &self.tool {
            span_attributes.push(KeyValue::new(names::TOOL_NAME, tool.clone()));
        }
        if self.stream {
            span_attributes.push(KeyValue::new(names::REQUEST_STREAM, true));
        }
        span_attributes.extend(self.attributes);
        let kind = match self.side {
            Side::Client => SpanKind::Client,
            Side::Server => SpanKind::Server,
            Side::Tool => SpanKind::Internal,
        };
        let parent = self.parent.unwrap_or_else(crate::context::parent);
        let span = inner.tracer.build_with_context(
            inner
                .tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(span_attributes),
            &parent,
        );
        Call {
            genai: self.genai,
            side: self.side,
            cx: parent.with_span(span),
            metric_attributes,
            started: Instant::now(),
            last_chunk: None,
            first_chunk: OnceLock::new(),
            chunks: 0,
            usage: Usage::default(),
            response_id: None,
            response_model: None,
            ended: false,
        }
    }
}

/// One call in flight: record its response on it, then [`Call::end`] or [`Call::fail`] it.
/// Dropped without either, it ends as failed with `error.type="cancelled"`.
#[derive(Debug)]
pub struct Call {
    genai: GenAi,
    side: Side,
    cx: Context,
    metric_attributes: Vec<KeyValue>,
    started: Instant,
    last_chunk: Option<Instant>,
    first_chunk: OnceLock<f64>,
    chunks: u64,
    usage: Usage,
    response_id: Option<String>,
    response_model: Option<String>,
    ended: bool,
}

impl Call {
    /// The context of the call's span, to parent the HTTP request that carries it.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// `gen_ai.response.id`. Setting the same id again (every chunk of a stream carries it)
    /// is free.
    pub fn response_id(&mut self, id: &str) {
        if self.response_id.as_deref() != Some(id) {
            self.cx
                .span()
                .set_attribute(KeyValue::new(names::RESPONSE_ID, id.to_owned()));
            self.response_id = Some(id.to_owned());
        }
    }

    /// `gen_ai.response.model`, also a metric attribute. Setting the same model again is
    /// free.
    pub fn response_model(&mut self, model: &str) {
        if self.response_model.as_deref() != Some(model) {
            self.cx
                .span()
                .set_attribute(KeyValue::new(names::RESPONSE_MODEL, model.to_owned()));
            self.response_model = Some(model.to_owned());
        }
    }

    /// `gen_ai.response.finish_reasons`.
    pub fn finish_reasons(&mut self, reasons: &[&str]) {
        let reasons: Vec<opentelemetry::StringValue> =
            reasons.iter().map(|r| (*r).to_owned().into()).collect();
        self.cx.span().set_attribute(KeyValue::new(
            names::RESPONSE_FINISH_REASONS,
            Value::Array(reasons.into()),
        ));
    }

    /// Any other span attribute of the response (`gen_ai.output.type`, a provider's own such
    /// as `openai.response.service_tier`). Setting the same key twice keeps both.
    pub fn attribute(&mut self, key: &'static str, value: impl Into<Value>) {
        self.cx.span().set_attribute(KeyValue::new(key, value));
    }

    /// An attribute of the span and of the call's metric records, for the few the
    /// conventions put on both (`openai.response.service_tier`,
    /// `openai.response.system_fingerprint`). Mind the cardinality: every value is a series.
    pub fn metric_attribute(&mut self, key: &'static str, value: impl Into<Value>) {
        let kv = KeyValue::new(key, value);
        self.cx.span().set_attribute(kv.clone());
        if let Some(existing) = self.metric_attributes.iter_mut().find(|a| a.key == kv.key) {
            *existing = kv;
        } else {
            self.metric_attributes.push(kv);
        }
    }

    /// Token usage: on the span, and recorded in `gen_ai.client.token.usage` when the call
    /// ends. A second call replaces the first (a stream's final usage chunk).
    pub fn usage(&mut self, usage: Usage) {
        let span = self.cx.span();
        for (key, count) in [
            (names::USAGE_INPUT_TOKENS, usage.input_tokens),
            (names::USAGE_OUTPUT_TOKENS, usage.output_tokens),
            (
                names::USAGE_CACHE_READ_INPUT_TOKENS,
                usage.cache_read_input_tokens,
            ),
            (
                names::USAGE_CACHE_CREATION_INPUT_TOKENS,
                usage.cache_creation_input_tokens,
            ),
            (
                names::USAGE_REASONING_OUTPUT_TOKENS,
                usage.reasoning_output_tokens,
            ),
        ] {
            if let Some(count) = count {
                span.set_attribute(KeyValue::new(key, saturating_i64(count)));
            }
        }
        self.usage = usage;
    }

    /// A streamed chunk (or, served, a generated token) arrived. The first sets
    /// `gen_ai.response.time_to_first_chunk` and records the time-to-first metric; each later
    /// one records the time since the one before.
    pub fn chunk(&mut self) {
        let now = Instant::now();
        self.chunks += 1;
        match self.last_chunk.replace(now) {
            None => {
                let seconds = now.duration_since(self.started).as_secs_f64();
                let _ = self.first_chunk.set(seconds);
                self.cx
                    .span()
                    .set_attribute(KeyValue::new(names::RESPONSE_TIME_TO_FIRST_CHUNK, seconds));
            }
            Some(previous) => {
                let seconds = now.duration_since(previous).as_secs_f64();
                let attributes = self.attributes(None);
                match self.side {
                    Side::Server => self
                        .genai
                        .inner
                        .server
                        .per_token
                        .record(seconds, &attributes),
                    _ => self
                        .genai
                        .inner
                        .client
                        .per_chunk
                        .record(seconds, &attributes),
                }
            }
        }
    }

    /// The prompt, captured when the content setting allows it.
    pub fn input_messages(&mut self, messages: &[Message]) {
        self.content(names::INPUT_MESSAGES, messages);
    }

    /// The response, captured when the content setting allows it.
    pub fn output_messages(&mut self, messages: &[Message]) {
        self.content(names::OUTPUT_MESSAGES, messages);
    }

    /// The system instructions, captured when the content setting allows it.
    pub fn system_instructions(&mut self, instructions: &str) {
        if self.genai.inner.content == CaptureContent::NoContent {
            return;
        }
        let mut json = String::from("[");
        write_text_part(&mut json, instructions);
        json.push(']');
        self.capture(names::SYSTEM_INSTRUCTIONS, &bounded(json));
    }

    fn content(&mut self, key: &'static str, messages: &[Message]) {
        if self.genai.inner.content == CaptureContent::NoContent {
            return;
        }
        self.capture(key, &bounded(messages_json(messages)));
    }

    fn capture(&mut self, key: &'static str, json: &str) {
        let content = self.genai.inner.content;
        if content.on_span() {
            self.cx
                .span()
                .set_attribute(KeyValue::new(key, json.to_owned()));
        }
        if content.on_event() {
            let span = self.cx.span();
            let sc = span.span_context();
            // The event's name is names::EVENT_OPERATION_DETAILS (a macro needs a literal).
            tracing::info!(
                name: "gen_ai.client.inference.operation.details",
                target: "gen_ai",
                trace_id = %sc.trace_id(),
                span_id = %sc.span_id(),
                attribute = key,
                content = json,
                "gen_ai content"
            );
        }
    }

    /// Ends the call as a success.
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the call as failed: `error.type` is `error_type` (a low-cardinality name: the
    /// provider's error code, an HTTP status code such as `429`, `timeout`, or the error
    /// type's name).
    pub fn fail(mut self, error_type: impl Into<String>) {
        let error_type = error_type.into();
        self.finish(Some(&error_type));
    }

    fn attributes(&self, error_type: Option<&str>) -> Vec<KeyValue> {
        let mut attributes = self.metric_attributes.clone();
        if let Some(model) = &self.response_model {
            attributes.push(KeyValue::new(names::RESPONSE_MODEL, model.clone()));
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(names::ERROR_TYPE, error_type.to_owned()));
        }
        attributes
    }

    fn finish(&mut self, error_type: Option<&str>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let inner = &self.genai.inner;
        let span = self.cx.span();
        if let Some(error_type) = error_type {
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, error_type.to_owned()));
            span.set_status(Status::error(error_type.to_owned()));
        }
        let attributes = self.attributes(error_type);
        match self.side {
            Side::Client | Side::Tool => {
                inner.client.duration.record(seconds, &attributes);
                if let Some(store) = &inner.exemplars {
                    store.record_in(
                        &names::DURATION_BUCKETS,
                        &attributes,
                        seconds,
                        span.span_context(),
                    );
                }
                if error_type.is_none() {
                    if let Some(first) = self.first_chunk.get() {
                        inner.client.first_chunk.record(*first, &attributes);
                    }
                }
                let plain = self.attributes(None);
                for (kind, count) in [
                    (names::TOKEN_INPUT, self.usage.input_tokens),
                    (names::TOKEN_OUTPUT, self.usage.output_tokens),
                ] {
                    if let Some(count) = count {
                        let mut attributes = plain.clone();
                        attributes.push(KeyValue::new(names::TOKEN_TYPE, kind));
                        inner.client.tokens.record(count, &attributes);
                    }
                }
            }
            Side::Server => {
                inner.server.duration.record(seconds, &attributes);
                if error_type.is_none() {
                    if let Some(first) = self.first_chunk.get() {
                        inner.server.first_token.record(*first, &attributes);
                    }
                }
            }
        }
        span.end();
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Some(names::ERROR_CANCELLED));
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The messages as the convention's JSON (`gen-ai-input-messages.json` /
/// `gen-ai-output-messages.json`).
fn messages_json(messages: &[Message]) -> String {
    let mut json = String::from("[");
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"role\":");
        write_string(&mut json, &message.role);
        json.push_str(",\"parts\":[");
        for (j, part) in message.parts.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            write_text_part(&mut json, part);
        }
        json.push(']');
        if let Some(reason) = &message.finish_reason {
            json.push_str(",\"finish_reason\":");
            write_string(&mut json, reason);
        }
        json.push('}');
    }
    json.push(']');
    json
}

fn write_text_part(json: &mut String, text: &str) {
    json.push_str("{\"type\":\"text\",\"content\":");
    write_string(json, text);
    json.push('}');
}

fn write_string(json: &mut String, text: &str) {
    use std::fmt::Write as _;
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(json, "\\u{:04x}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

/// `json` cut to [`MAX_CONTENT_BYTES`] at a character boundary, ending with `…` when cut (the
/// result is then no longer valid JSON, which is visible).
fn bounded(mut json: String) -> String {
    if json.len() <= MAX_CONTENT_BYTES {
        return json;
    }
    let mut end = MAX_CONTENT_BYTES - '…'.len_utf8();
    while !json.is_char_boundary(end) {
        end -= 1;
    }
    json.truncate(end);
    json.push('…');
    json
}

#[cfg(test)]
mod tests;
