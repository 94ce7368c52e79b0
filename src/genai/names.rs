//! Every name the GenAI instrumentation emits, as released in OpenTelemetry semantic
//! conventions v1.41.1 (the last release of the GenAI conventions in the core repository; they
//! have moved to their own repository and are still changing there). A later release is a
//! change to this file only.

/// The schema URL of the release, set on the instrumentation scope.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.1";
/// The instrumentation scope of the GenAI spans and instruments.
pub const SCOPE: &str = "octollm-telemetry.genai";

// --- Span and metric attributes ---------------------------------------------------------------

/// `gen_ai.operation.name` (required): `chat`, `embeddings`, …
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name` (required), in place of the deprecated `gen_ai.system`.
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.request.model` (conditionally required).
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.request.max_tokens`.
pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `gen_ai.request.temperature`.
pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `gen_ai.request.top_p`.
pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `gen_ai.request.seed` (conditionally required).
pub const REQUEST_SEED: &str = "gen_ai.request.seed";
/// `gen_ai.request.stream` (conditionally required).
pub const REQUEST_STREAM: &str = "gen_ai.request.stream";
/// `gen_ai.request.choice.count` (conditionally required, when not 1).
pub const REQUEST_CHOICE_COUNT: &str = "gen_ai.request.choice.count";
/// `gen_ai.conversation.id` (conditionally required).
pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.output.type` (conditionally required): `text`, `json`, `image`, `speech`.
pub const OUTPUT_TYPE: &str = "gen_ai.output.type";
/// `gen_ai.response.id`.
pub const RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.response.model`.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.finish_reasons` (string array).
pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.response.time_to_first_chunk` (seconds, streams).
pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// `gen_ai.usage.input_tokens`.
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`.
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.usage.cache_read.input_tokens`.
pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// `gen_ai.usage.cache_creation.input_tokens`.
pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// `gen_ai.usage.reasoning.output_tokens`.
pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// `gen_ai.token.type` (metric attribute): [`TOKEN_INPUT`] or [`TOKEN_OUTPUT`].
pub const TOKEN_TYPE: &str = "gen_ai.token.type";
/// `gen_ai.tool.name`.
pub const TOOL_NAME: &str = "gen_ai.tool.name";
/// `gen_ai.tool.call.id`.
pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `gen_ai.input.messages` (opt-in content, JSON).
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.output.messages` (opt-in content, JSON).
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// `gen_ai.system_instructions` (opt-in content, JSON).
pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// `error.type`, on a failed call only.
pub const ERROR_TYPE: &str = "error.type";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port` (conditionally required with `server.address`).
pub const SERVER_PORT: &str = "server.port";

// --- Values ------------------------------------------------------------------------------------

/// `gen_ai.token.type` of prompt tokens.
pub const TOKEN_INPUT: &str = "input";
/// `gen_ai.token.type` of generated tokens.
pub const TOKEN_OUTPUT: &str = "output";
/// `error.type` of a call dropped before it ended (the caller gave up, or a stream was
/// abandoned half way).
pub const ERROR_CANCELLED: &str = "cancelled";
/// The log record (event) name that carries captured content.
pub const EVENT_OPERATION_DETAILS: &str = "gen_ai.client.inference.operation.details";

// --- Metrics -----------------------------------------------------------------------------------

/// `gen_ai.client.operation.duration`, seconds (required).
pub const CLIENT_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// `gen_ai.client.token.usage`, `{token}`.
pub const CLIENT_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// `gen_ai.client.operation.time_to_first_chunk`, seconds (streams).
pub const CLIENT_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";
/// `gen_ai.client.operation.time_per_output_chunk`, seconds (streams, each chunk after the
/// first).
pub const CLIENT_TIME_PER_OUTPUT_CHUNK: &str = "gen_ai.client.operation.time_per_output_chunk";
/// `gen_ai.server.request.duration`, seconds.
pub const SERVER_REQUEST_DURATION: &str = "gen_ai.server.request.duration";
/// `gen_ai.server.time_to_first_token`, seconds.
pub const SERVER_TIME_TO_FIRST_TOKEN: &str = "gen_ai.server.time_to_first_token";
/// `gen_ai.server.time_per_output_token`, seconds.
pub const SERVER_TIME_PER_OUTPUT_TOKEN: &str = "gen_ai.server.time_per_output_token";

/// Unit of the durations.
pub const UNIT_SECONDS: &str = "s";
/// Unit of the token counts.
pub const UNIT_TOKENS: &str = "{token}";

/// Buckets of the client durations and chunk times, and of `gen_ai.server.request.duration`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Buckets of `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];
/// Buckets of `gen_ai.server.time_to_first_token`.
pub const TIME_TO_FIRST_TOKEN_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Buckets of `gen_ai.server.time_per_output_token`.
pub const TIME_PER_OUTPUT_TOKEN_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_semantic_conventions::{attribute as a, metric as m};

    /// The semantic-conventions crate (semconv 1.42.0, where these names were deprecated as
    /// moved, unchanged) spells every name this table has.
    #[test]
    #[allow(deprecated)]
    fn every_name_is_the_conventions_own() {
        for (ours, theirs) in [
            (OPERATION_NAME, a::GEN_AI_OPERATION_NAME),
            (PROVIDER_NAME, a::GEN_AI_PROVIDER_NAME),
            (REQUEST_MODEL, a::GEN_AI_REQUEST_MODEL),
            (REQUEST_MAX_TOKENS, a::GEN_AI_REQUEST_MAX_TOKENS),
            (REQUEST_TEMPERATURE, a::GEN_AI_REQUEST_TEMPERATURE),
            (REQUEST_TOP_P, a::GEN_AI_REQUEST_TOP_P),
            (REQUEST_SEED, a::GEN_AI_REQUEST_SEED),
            (REQUEST_STREAM, a::GEN_AI_REQUEST_STREAM),
            (REQUEST_CHOICE_COUNT, a::GEN_AI_REQUEST_CHOICE_COUNT),
            (CONVERSATION_ID, a::GEN_AI_CONVERSATION_ID),
            (OUTPUT_TYPE, a::GEN_AI_OUTPUT_TYPE),
            (RESPONSE_ID, a::GEN_AI_RESPONSE_ID),
            (RESPONSE_MODEL, a::GEN_AI_RESPONSE_MODEL),
            (RESPONSE_FINISH_REASONS, a::GEN_AI_RESPONSE_FINISH_REASONS),
            (
                RESPONSE_TIME_TO_FIRST_CHUNK,
                a::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
            ),
            (USAGE_INPUT_TOKENS, a::GEN_AI_USAGE_INPUT_TOKENS),
            (USAGE_OUTPUT_TOKENS, a::GEN_AI_USAGE_OUTPUT_TOKENS),
            (
                USAGE_CACHE_READ_INPUT_TOKENS,
                a::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            ),
            (
                USAGE_CACHE_CREATION_INPUT_TOKENS,
                a::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
            ),
            (
                USAGE_REASONING_OUTPUT_TOKENS,
                a::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
            ),
            (TOKEN_TYPE, a::GEN_AI_TOKEN_TYPE),
            (TOOL_NAME, a::GEN_AI_TOOL_NAME),
            (TOOL_CALL_ID, a::GEN_AI_TOOL_CALL_ID),
            (INPUT_MESSAGES, a::GEN_AI_INPUT_MESSAGES),
            (OUTPUT_MESSAGES, a::GEN_AI_OUTPUT_MESSAGES),
            (SYSTEM_INSTRUCTIONS, a::GEN_AI_SYSTEM_INSTRUCTIONS),
            (ERROR_TYPE, a::ERROR_TYPE),
            (SERVER_ADDRESS, a::SERVER_ADDRESS),
            (SERVER_PORT, a::SERVER_PORT),
            (
                CLIENT_OPERATION_DURATION,
                m::GEN_AI_CLIENT_OPERATION_DURATION,
            ),
            (CLIENT_TOKEN_USAGE, m::GEN_AI_CLIENT_TOKEN_USAGE),
            (
                CLIENT_TIME_TO_FIRST_CHUNK,
                m::GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            ),
            (
                CLIENT_TIME_PER_OUTPUT_CHUNK,
                m::GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
            ),
            (SERVER_REQUEST_DURATION, m::GEN_AI_SERVER_REQUEST_DURATION),
            (
                SERVER_TIME_TO_FIRST_TOKEN,
                m::GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
            ),
            (
                SERVER_TIME_PER_OUTPUT_TOKEN,
                m::GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN,
            ),
        ] {
            assert_eq!(ours, theirs);
        }
    }
}
