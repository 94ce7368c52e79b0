//! `RUST_LOG` and the `log_filter` setter: filter directives checked before `EnvFilter`
//! sees them, so that a malformed value is an error naming the variable, never a panic or a
//! start-up that hangs.

use std::fmt;

use tracing_subscriber::EnvFilter;

use crate::error::ConfigError;

/// The longest span field filter value: `EnvFilter` compiles even a literal into a DFA, in time
/// that grows with the square of its length (8,000 characters take 0.4 s).
pub(crate) const MAX_FIELD_VALUE: usize = 256;

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

/// Checks `RUST_LOG`-style directives and gives them normalised, with an error that names
/// `name` (the variable or setter).
pub(crate) fn parse(name: &str, directives: &str) -> Result<String, ConfigError> {
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
