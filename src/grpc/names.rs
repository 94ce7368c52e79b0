//! Every name the gRPC layers emit, from the RPC semantic conventions of v1.44.0 (a release
//! candidate). The status key is announced to become `rpc.status_code`: that is a change of
//! [`STATUS_CODE`] only.

/// `rpc.request.metadata.<key>` (string array), for the metadata keys a layer is told to
/// copy ([`crate::grpc::GrpcLayer::metadata`]).
pub const REQUEST_METADATA_PREFIX: &str = "rpc.request.metadata.";
/// Metadata never copied to a span, whatever a layer is told: credentials.
pub const NEVER_COPIED: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// `rpc.system.name`, always [`SYSTEM`].
pub const SYSTEM_NAME: &str = "rpc.system.name";
/// The value of [`SYSTEM_NAME`].
pub const SYSTEM: &str = "grpc";
/// `rpc.method`: `pkg.Service/Method`, or [`OTHER`].
pub const METHOD: &str = "rpc.method";
/// `rpc.method_original`: the method, when [`METHOD`] is [`OTHER`].
pub const METHOD_ORIGINAL: &str = "rpc.method_original";
/// The status code's name (`OK`, `NOT_FOUND`, …).
pub const STATUS_CODE: &str = "rpc.response.status_code";
/// `error.type`: the status code's name, on a failed call.
pub const ERROR_TYPE: &str = "error.type";
/// `server.address` (client).
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port` (client).
pub const SERVER_PORT: &str = "server.port";
/// `rpc.method` of a method outside the known ones.
pub const OTHER: &str = "_OTHER";
/// The span name of a call whose method is [`OTHER`].
pub const OTHER_SPAN_NAME: &str = "grpc";

/// `rpc.server.call.duration`, seconds.
pub const SERVER_DURATION: &str = "rpc.server.call.duration";
/// `rpc.client.call.duration`, seconds.
pub const CLIENT_DURATION: &str = "rpc.client.call.duration";
/// Buckets of both durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The status code names, by code.
pub const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
/// `CANCELLED`: a call whose response the caller dropped before its end.
pub(crate) const CANCELLED: usize = 1;
/// `UNKNOWN`: no status where one must be, or a body error.
pub(crate) const UNKNOWN: usize = 2;
/// `DEADLINE_EXCEEDED`: the client's deadline passed.
pub(crate) const DEADLINE_EXCEEDED: usize = 4;
/// `UNIMPLEMENTED`.
pub(crate) const UNIMPLEMENTED: usize = 12;
/// `UNAVAILABLE`: the client could not reach the server.
pub(crate) const UNAVAILABLE: usize = 14;
/// The codes that make a server span ERROR: the server's own faults.
pub const SERVER_FAULTS: [&str; 6] = [
    "UNKNOWN",
    "DEADLINE_EXCEEDED",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
];
/// Calls to this service are probes: no span, no metric.
pub(crate) const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_semantic_conventions::{attribute as a, metric as m};

    /// The semantic-conventions crate (semconv 1.42.0) spells the names it has alike.
    #[test]
    fn the_names_are_the_conventions_own() {
        assert_eq!(SYSTEM_NAME, a::RPC_SYSTEM_NAME);
        assert_eq!(METHOD, a::RPC_METHOD);
        assert_eq!(METHOD_ORIGINAL, a::RPC_METHOD_ORIGINAL);
        assert_eq!(STATUS_CODE, a::RPC_RESPONSE_STATUS_CODE);
        assert_eq!(SERVER_DURATION, m::RPC_SERVER_CALL_DURATION);
        assert_eq!(CLIENT_DURATION, m::RPC_CLIENT_CALL_DURATION);
        for code in SERVER_FAULTS {
            assert!(CODES.contains(&code));
        }
        assert_eq!(CODES[CANCELLED], "CANCELLED");
        assert_eq!(CODES[UNKNOWN], "UNKNOWN");
        assert_eq!(CODES[UNIMPLEMENTED], "UNIMPLEMENTED");
        assert_eq!(CODES[DEADLINE_EXCEEDED], "DEADLINE_EXCEEDED");
        assert_eq!(CODES[UNAVAILABLE], "UNAVAILABLE");
    }
}
