//! The series and label names of the metric contract (documented in [`crate::metrics`], which
//! re-exports them): what the shipped dashboards and alerts are written against, and what the
//! crate's own instruments are exposed as.

/// `http_server_request_duration_seconds_bucket`: request duration histogram buckets.
pub const HTTP_SERVER_REQUEST_DURATION_BUCKET: &str = "http_server_request_duration_seconds_bucket";
/// `http_server_request_duration_seconds_sum`.
pub const HTTP_SERVER_REQUEST_DURATION_SUM: &str = "http_server_request_duration_seconds_sum";
/// `http_server_request_duration_seconds_count`: the request count (rate = throughput).
pub const HTTP_SERVER_REQUEST_DURATION_COUNT: &str = "http_server_request_duration_seconds_count";
/// `http_server_active_requests`: requests in flight.
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// `http_client_request_duration_seconds_bucket`: outgoing request duration buckets.
pub const HTTP_CLIENT_REQUEST_DURATION_BUCKET: &str = "http_client_request_duration_seconds_bucket";
/// `http_client_request_duration_seconds_sum`.
pub const HTTP_CLIENT_REQUEST_DURATION_SUM: &str = "http_client_request_duration_seconds_sum";
/// `http_client_request_duration_seconds_count`.
pub const HTTP_CLIENT_REQUEST_DURATION_COUNT: &str = "http_client_request_duration_seconds_count";
/// `octollm_telemetry_spans_dropped_total`: spans that never reached the collector, by
/// [`LABEL_REASON`]. Summed over the reasons it is the spans produced minus those received.
pub const SPANS_DROPPED_TOTAL: &str = "octollm_telemetry_spans_dropped_total";
/// `octollm_telemetry_spans_exported_total`: spans the collector accepted.
pub const SPANS_EXPORTED_TOTAL: &str = "octollm_telemetry_spans_exported_total";
/// `octollm_telemetry_export_failures_total`: span export requests that failed or timed out.
pub const EXPORT_FAILURES_TOTAL: &str = "octollm_telemetry_export_failures_total";

/// Label `http_request_method` (`GET`, …, `_OTHER` for non-standard methods).
pub const LABEL_METHOD: &str = "http_request_method";
/// Label `http_route`: the route template (`/items/{id}`); absent when no route matched.
pub const LABEL_ROUTE: &str = "http_route";
/// Label `http_response_status_code`.
pub const LABEL_STATUS_CODE: &str = "http_response_status_code";
/// Label `url_scheme` (`http`, `https`).
pub const LABEL_URL_SCHEME: &str = "url_scheme";
/// Label `error_type`: the status code for 5xx, or the failure kind; absent on success.
pub const LABEL_ERROR_TYPE: &str = "error_type";
/// Label `network_protocol_version` (`1.1`, `2`).
pub const LABEL_PROTOCOL_VERSION: &str = "network_protocol_version";
/// Label `reason` of [`SPANS_DROPPED_TOTAL`] and [`LOGS_DROPPED_TOTAL`]: [`REASON_QUEUE_FULL`],
/// [`REASON_EXPORT_FAILED`] or [`REASON_REJECTED`].
pub const LABEL_REASON: &str = "reason";
/// `reason="queue_full"`: dropped as the span ended because the export queue was full.
pub const REASON_QUEUE_FULL: &str = "queue_full";
/// `reason="export_failed"`: lost in an export request that failed or timed out.
pub const REASON_EXPORT_FAILED: &str = "export_failed";
/// `reason="rejected"`: the collector accepted the request but rejected these items (OTLP
/// partial success).
pub const REASON_REJECTED: &str = "rejected";

/// `octollm_telemetry_logs_dropped_total`: log records that never reached the collector
/// (`OTEL_LOGS_EXPORTER=otlp`), label [`LABEL_REASON`].
pub const LOGS_DROPPED_TOTAL: &str = "octollm_telemetry_logs_dropped_total";
/// `octollm_telemetry_log_lines_dropped_total`: log lines not written to stdout because its
/// buffer was full (stdout blocked) or the write failed.
pub const LOG_LINES_DROPPED_TOTAL: &str = "octollm_telemetry_log_lines_dropped_total";
/// `octollm_telemetry_logs_exported_total`: log records the collector accepted.
pub const LOGS_EXPORTED_TOTAL: &str = "octollm_telemetry_logs_exported_total";
/// `process_cpu_time_seconds_total`: CPU seconds, label `cpu_mode` (`user`, `system`).
pub const PROCESS_CPU_TIME_TOTAL: &str = "process_cpu_time_seconds_total";
/// `process_memory_usage_bytes`: resident memory.
pub const PROCESS_MEMORY_USAGE: &str = "process_memory_usage_bytes";
/// `process_memory_virtual_bytes`: virtual memory.
pub const PROCESS_MEMORY_VIRTUAL: &str = "process_memory_virtual_bytes";
/// `process_thread_count`: threads.
pub const PROCESS_THREAD_COUNT: &str = "process_thread_count";
/// `process_open_file_descriptor_count`: open file descriptors.
pub const PROCESS_OPEN_FILE_DESCRIPTORS: &str = "process_open_file_descriptor_count";
/// `process_uptime_seconds`: time since the process started.
pub const PROCESS_UPTIME: &str = "process_uptime_seconds";
/// `tokio_workers`: worker threads of the runtime `init` ran on.
pub const TOKIO_WORKERS: &str = "tokio_workers";
/// `tokio_tasks_alive`: tasks alive in that runtime.
pub const TOKIO_TASKS_ALIVE: &str = "tokio_tasks_alive";
/// `tokio_global_queue_depth`: tasks waiting in its global queue.
pub const TOKIO_GLOBAL_QUEUE_DEPTH: &str = "tokio_global_queue_depth";
/// `db_client_connection_count`: pool connections, labels `db_client_connection_pool_name`,
/// `db_client_connection_state` (`idle`, `used`).
pub const DB_CLIENT_CONNECTION_COUNT: &str = "db_client_connection_count";
/// `db_client_connection_max`: the most connections a pool opens.
pub const DB_CLIENT_CONNECTION_MAX: &str = "db_client_connection_max";
/// `db_client_connection_pending_requests`: callers waiting for a connection.
pub const DB_CLIENT_CONNECTION_PENDING_REQUESTS: &str = "db_client_connection_pending_requests";
/// `db_client_connection_wait_time_seconds_bucket`: time to obtain a connection.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET: &str =
    "db_client_connection_wait_time_seconds_bucket";
/// `db_client_connection_wait_time_seconds_sum`.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_SUM: &str = "db_client_connection_wait_time_seconds_sum";
/// `db_client_connection_wait_time_seconds_count`.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_COUNT: &str =
    "db_client_connection_wait_time_seconds_count";
/// `db_client_connection_timeouts_total`: attempts to obtain a connection that timed out.
pub const DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL: &str = "db_client_connection_timeouts_total";
/// `octollm_cache_lookups_total`: cache lookups, labels `cache_name`, `cache_result` (`hit`,
/// `miss`).
pub const CACHE_LOOKUPS_TOTAL: &str = "octollm_cache_lookups_total";
/// `octollm_telemetry_sampling_probability`: the probability a remote sampler keeps a new
/// root with, label `operation` (the root span's name, at most 100, and `_default`).
pub const SAMPLING_PROBABILITY: &str = "octollm_telemetry_sampling_probability";
/// `octollm_telemetry_sampling_rate_limit`: the traces per second a remote rate-limiting
/// strategy keeps.
pub const SAMPLING_RATE_LIMIT: &str = "octollm_telemetry_sampling_rate_limit";
/// `octollm_telemetry_sampling_fetches_total`: a remote sampler's strategy fetches, label
/// `result` (`ok`, `failed`).
pub const SAMPLING_FETCHES_TOTAL: &str = "octollm_telemetry_sampling_fetches_total";

/// Every series name the crate can expose, for contract checks.
pub const EXPOSED_SERIES: &[&str] = &[
    HTTP_SERVER_REQUEST_DURATION_BUCKET,
    HTTP_SERVER_REQUEST_DURATION_SUM,
    HTTP_SERVER_REQUEST_DURATION_COUNT,
    HTTP_SERVER_ACTIVE_REQUESTS,
    HTTP_CLIENT_REQUEST_DURATION_BUCKET,
    HTTP_CLIENT_REQUEST_DURATION_SUM,
    HTTP_CLIENT_REQUEST_DURATION_COUNT,
    SPANS_DROPPED_TOTAL,
    SPANS_EXPORTED_TOTAL,
    EXPORT_FAILURES_TOTAL,
    "target_info",
    LOGS_DROPPED_TOTAL,
    LOGS_EXPORTED_TOTAL,
    LOG_LINES_DROPPED_TOTAL,
    PROCESS_CPU_TIME_TOTAL,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    PROCESS_OPEN_FILE_DESCRIPTORS,
    PROCESS_UPTIME,
    TOKIO_WORKERS,
    TOKIO_TASKS_ALIVE,
    TOKIO_GLOBAL_QUEUE_DEPTH,
    DB_CLIENT_CONNECTION_COUNT,
    DB_CLIENT_CONNECTION_MAX,
    DB_CLIENT_CONNECTION_PENDING_REQUESTS,
    DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET,
    DB_CLIENT_CONNECTION_WAIT_TIME_SUM,
    DB_CLIENT_CONNECTION_WAIT_TIME_COUNT,
    DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL,
    CACHE_LOOKUPS_TOTAL,
    SAMPLING_PROBABILITY,
    SAMPLING_RATE_LIMIT,
    SAMPLING_FETCHES_TOTAL,
];
