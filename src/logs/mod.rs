//! Log lines: JSON objects that carry the trace context, so Loki and Jaeger can be joined.
//!
//! With `LOG_FORMAT=json` (the default in staging and prod) every `tracing` event becomes one
//! line on stdout:
//!
//! ```json
//! {"timestamp":"2026-11-24T09:12:03.512214Z","level":"info","target":"reflex_service","message":"pii scan finished","entities":2,"latency_ms":3.1,"span":"detect_pii","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_sampled":true,"service":"reflex-layer"}
//! ```
//!
//! | key | always | content |
//! |---|---|---|
//! | `timestamp` | yes | RFC 3339, UTC, microseconds |
//! | `level` | yes | `trace`, `debug`, `info`, `warn`, `error` (lower case) |
//! | `target` | yes | the event's target (module path by default) |
//! | `message` | when given | the event's message |
//! | *field name* | when given | each event field at the top level: strings as strings, integers, floats and booleans as JSON numbers and booleans, anything else as its `Debug` text |
//! | `fields.<name>` | when given | an event field whose name is one of the keys of this table |
//! | `span` | inside a span | the name of the current `tracing` span, else of the HTTP layer's server span (`GET /items/{id}`) |
//! | `trace_id` | inside a span | 32 lower-case hex digits, the trace id of the exported span |
//! | `span_id` | inside a span | 16 lower-case hex digits, the span id of the exported span |
//! | `trace_sampled` | inside a span | whether the span is sampled (exported); ids are present either way |
//! | `request_id` | while an HTTP request is handled | the `x-request-id` of the request ([`crate::http`]) |
//! | `service` | yes | the `service.name` of the resource |
//!
//! Outside any span the three trace keys are absent, never empty. Field contents are escaped,
//! so quotes, newlines and control characters keep every line valid JSON.
//!
//! `LOG_FORMAT=pretty` (the default in dev) writes human-readable lines instead.

mod json;

use std::fmt;
use std::io;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

pub use json::{JsonFormat, RESERVED_KEYS};

use crate::error::ConfigError;

/// Crates of the export path, held at `warn` unless the filter names them, so that telemetry
/// cannot feed on itself.
const HELD_AT_WARN: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "reqwest",
];

/// The longest span field filter value: `EnvFilter` compiles even a literal into a DFA, in time
/// that grows with the square of its length (8,000 characters take 0.4 s).
const MAX_FIELD_VALUE: usize = 256;

/// Characters that would make a field filter value a regular expression.
const REGEX_META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// The directives with each one trimmed and empty ones dropped.
///
/// `EnvFilter` slices a directive by the positions of its trimmed form, so a directive that
/// starts with a multi-byte space (`\u{a0}a=debug`) would make it panic; trimming first keeps
/// the error an error.
fn normalise(directives: &str) -> String {
    let mut out = String::with_capacity(directives.len());
    for directive in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(directive);
    }
    out
}

/// Refuses span field filters (`[span{field=value}]`) whose value is a regular expression or
/// longer than [`MAX_FIELD_VALUE`].
///
/// `EnvFilter` compiles such a value into a DFA whose size can grow exponentially with the
/// pattern (`x..............................y` takes minutes and gigabytes), so a malformed
/// variable could hang start-up. Values are matched literally, or as numbers and booleans.
fn check_field_values(directive: &str) -> Result<(), String> {
    // Every `{…}` group, not only the first: the parser takes the span part from further on.
    let groups = directive
        .split('{')
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or_default());
    for field in groups.flat_map(|fields| fields.split(',')) {
        let Some((_, value)) = field.split_once('=') else {
            continue;
        };
        if value.len() > MAX_FIELD_VALUE {
            return Err(format!(
                "span field filter values are at most {MAX_FIELD_VALUE} bytes (got {})",
                value.len()
            ));
        }
        let number = value.parse::<f64>().is_ok() || value.parse::<u64>().is_ok();
        if !number && value.contains(REGEX_META) {
            return Err(format!(
                "span field filter values must be literal text, a number or a boolean, \
                 without regular-expression characters {} (got `{value}`)",
                REGEX_META.iter().collect::<String>()
            ));
        }
    }
    Ok(())
}

fn parse_filter(name: &str, directives: &str) -> Result<String, ConfigError> {
    let accepted = |detail: &dyn fmt::Display| {
        ConfigError::new(
            name,
            directives,
            format!("tracing filter directives such as info,my_crate=debug ({detail})"),
        )
    };
    let normalised = normalise(directives);
    for directive in normalised.split(',') {
        check_field_values(directive).map_err(|e| accepted(&e))?;
    }
    EnvFilter::builder()
        .parse(&normalised)
        .map_err(|e| accepted(&e))?;
    Ok(normalised)
}

/// Checks filter directives, with an error that names `name` (the variable or setter).
pub(crate) fn validate_filter(name: &str, directives: &str) -> Result<(), ConfigError> {
    parse_filter(name, directives).map(drop)
}

/// The filter: the user's directives plus `warn` for the export path's crates it does not name.
pub(crate) fn build_filter(directives: &str) -> Result<EnvFilter, ConfigError> {
    let mut full = parse_filter("RUST_LOG", directives)?;
    let user = full.clone();
    for target in HELD_AT_WARN {
        let named = user.split(',').any(|d| {
            d.strip_prefix(target).is_some_and(|rest| {
                rest.starts_with('=') || rest.starts_with("::") || rest.starts_with('[')
            })
        });
        if !named {
            if !full.is_empty() {
                full.push(',');
            }
            full.push_str(target);
            full.push_str("=warn");
        }
    }
    EnvFilter::builder()
        .parse(&full)
        .map_err(|e| ConfigError::new("RUST_LOG", directives, e.to_string()))
}

/// Where log lines are written; stdout unless [`TelemetryConfig::log_writer`] says otherwise.
///
/// [`TelemetryConfig::log_writer`]: crate::TelemetryConfig::log_writer
pub(crate) struct LogWriter(pub(crate) BoxMakeWriter);

impl LogWriter {
    pub(crate) fn new<W>(make_writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        Self(BoxMakeWriter::new(make_writer))
    }
}

impl Default for LogWriter {
    fn default() -> Self {
        Self::new(io::stdout)
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_path_is_held_at_warn_unless_named() {
        let filter = build_filter("info").unwrap().to_string();
        assert!(
            filter.contains("tonic=warn") && filter.contains("opentelemetry=warn"),
            "{filter}"
        );
        let filter = build_filter("debug,hyper=trace").unwrap().to_string();
        assert!(
            filter.contains("hyper=trace") && !filter.contains("hyper=warn"),
            "{filter}"
        );
        assert!(filter.contains("h2=warn"), "{filter}");
    }

    #[test]
    fn bad_directives_name_the_variable() {
        let err = build_filter("info,[[[").unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(validate_filter("RUST_LOG", "my_crate=loud").is_err());
        assert!(validate_filter("RUST_LOG", "warn,my_crate::db=debug").is_ok());
    }

    #[test]
    fn a_leading_unicode_space_is_trimmed_not_a_panic() {
        // EnvFilter alone panics on this (it slices inside the two-byte space).
        assert!(validate_filter("RUST_LOG", "info,\u{a0}my_crate=debug").is_ok());
        let filter = build_filter("info,\u{a0}my_crate=debug,\u{3000}").unwrap();
        assert!(filter.to_string().contains("my_crate=debug"), "{filter}");
        let err = validate_filter("RUST_LOG", "\u{a0}\u{a0}=").unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
    }

    #[test]
    fn span_field_filters_match_literals_not_regular_expressions() {
        for literal in [
            "[request{user=alice}]=debug",
            "[{latency=1.5}]=trace",
            "[{retry=true}]",
            "my_crate[handler{id=42}]=info",
        ] {
            validate_filter("RUST_LOG", literal).unwrap_or_else(|e| panic!("{literal}: {e}"));
        }
        // A 117-byte value of this shape made EnvFilter build a DFA for minutes.
        let explosive = format!("[{{a=x{}y}}]", ".".repeat(100));
        let err = build_filter(&explosive).unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(err.to_string().contains("regular-expression"), "{err}");
        for regex in ["[{a=.*}]", "[s{user=(a|b)}]", "[{a=x+}]", "[{a=^b$}]"] {
            assert!(validate_filter("RUST_LOG", regex).is_err(), "{regex}");
        }
        let long = |n| format!("[{{a={}}}]", "x".repeat(n));
        assert!(validate_filter("RUST_LOG", &long(MAX_FIELD_VALUE)).is_ok());
        let err = validate_filter("RUST_LOG", &long(MAX_FIELD_VALUE + 1)).unwrap_err();
        assert!(err.to_string().contains("at most 256 bytes"), "{err}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_a_filter_or_an_error_naming_the_variable(value in ".{0,160}") {
                let checked = validate_filter("RUST_LOG", &value);
                prop_assert_eq!(checked.is_ok(), build_filter(&value).is_ok());
                if let Err(e) = checked {
                    prop_assert_eq!(e.name, "RUST_LOG");
                }
            }

            #[test]
            fn directives_parse_whatever_spaces_surround_them(
                // Distinct targets: of two directives for one target only the last counts.
                directives in proptest::collection::btree_map(
                    "[a-z_]{1,10}(::[a-z_]{1,8})?",
                    "(trace|debug|info|warn|error|off)",
                    1..5,
                ),
                spaces in proptest::collection::vec("[ \t\u{a0}\u{2003}\u{3000}]{0,2}", 10),
            ) {
                let text = directives
                    .iter()
                    .enumerate()
                    .map(|(i, (target, level))| {
                        format!("{}{target}={level}{}", spaces[2 * i], spaces[2 * i + 1])
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let filter = build_filter(&text);
                prop_assert!(filter.is_ok(), "{:?}: {:?}", text, filter.err());
                let filter = filter.unwrap().to_string();
                for (target, level) in &directives {
                    let directive = format!("{target}={level}");
                    prop_assert!(filter.contains(&directive), "{} in {}", directive, filter);
                }
            }
        }
    }
}
