//! The `tracing` filter the subscriber is built with: the user's directives, with the export
//! path's own crates held at `warn`.

use tracing_subscriber::EnvFilter;

use crate::config::log_filter;
use crate::config::vars::RUST_LOG;
use crate::error::ConfigError;

/// Crates of the export path, held at `warn` unless the filter names them, so that telemetry
/// cannot feed on itself.
pub(crate) const HELD_AT_WARN: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "rustls",
    "tower",
    "reqwest",
];

/// The filter: the user's directives plus `warn` for the export path's crates it does not name.
pub(crate) fn build(directives: &str) -> Result<EnvFilter, ConfigError> {
    let mut full = log_filter::parse(RUST_LOG, directives)?;
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
        .map_err(|e| ConfigError::new(RUST_LOG, directives, e.to_string()))
}

#[cfg(test)]
fn validate(directives: &str) -> Result<(), ConfigError> {
    log_filter::parse(RUST_LOG, directives).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_path_is_held_at_warn_unless_named() {
        let filter = build("info").unwrap().to_string();
        assert!(
            filter.contains("tonic=warn") && filter.contains("opentelemetry=warn"),
            "{filter}"
        );
        let filter = build("debug,hyper=trace").unwrap().to_string();
        assert!(
            filter.contains("hyper=trace") && !filter.contains("hyper=warn"),
            "{filter}"
        );
        assert!(filter.contains("h2=warn"), "{filter}");
    }

    #[test]
    fn bad_directives_name_the_variable() {
        let err = build("info,[[[").unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(validate("my_crate=loud").is_err());
        assert!(validate("warn,my_crate::db=debug").is_ok());
    }

    #[test]
    fn a_leading_unicode_space_is_trimmed_not_a_panic() {
        // EnvFilter alone panics on this (it slices inside the two-byte space).
        assert!(validate("info,\u{a0}my_crate=debug").is_ok());
        let filter = build("info,\u{a0}my_crate=debug,\u{3000}").unwrap();
        assert!(filter.to_string().contains("my_crate=debug"), "{filter}");
        let err = validate("\u{a0}\u{a0}=").unwrap_err();
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
            validate(literal).unwrap_or_else(|e| panic!("{literal}: {e}"));
        }
        // A 117-byte value of this shape made EnvFilter build a DFA for minutes.
        let explosive = format!("[{{a=x{}y}}]", ".".repeat(100));
        let err = build(&explosive).unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(err.to_string().contains("regular-expression"), "{err}");
        for regex in ["[{a=.*}]", "[s{user=(a|b)}]", "[{a=x+}]", "[{a=^b$}]"] {
            assert!(validate(regex).is_err(), "{regex}");
        }
        let long = |n| format!("[{{a={}}}]", "x".repeat(n));
        assert!(validate(&long(log_filter::MAX_FIELD_VALUE)).is_ok());
        let err = validate(&long(log_filter::MAX_FIELD_VALUE + 1)).unwrap_err();
        assert!(err.to_string().contains("at most 256 bytes"), "{err}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_a_filter_or_an_error_naming_the_variable(value in ".{0,160}") {
                let checked = validate(&value);
                prop_assert_eq!(checked.is_ok(), build(&value).is_ok());
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
                let filter = build(&text);
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
