//! Parsers for single environment values. Each returns a [`ConfigError`] naming the variable.

use std::time::Duration;

use super::values::Words;
use crate::error::ConfigError;

/// A source of variables: the process environment or a map given by a test or a user.
pub(crate) struct Vars<'a> {
    lookup: Lookup<'a>,
}

/// `None` for unset, `Err(lossy text)` for a value that is not valid Unicode.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<Result<String, String>> + 'a>;

impl<'a> Vars<'a> {
    pub(crate) fn new(lookup: impl Fn(&str) -> Option<Result<String, String>> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// The trimmed value of `name`; empty and whitespace-only values count as unset (spec).
    /// A value that is not valid Unicode is an error.
    pub(crate) fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match (self.lookup)(name) {
            None => Ok(None),
            Some(Err(_)) if holds_credentials(name) => Err(ConfigError::redacted(
                name,
                "the value is not valid Unicode",
                "valid UTF-8 text",
            )),
            Some(Err(lossy)) => Err(ConfigError::new(name, lossy, "valid UTF-8 text")),
            Some(Ok(raw)) => {
                let trimmed = raw.trim();
                Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
            }
        }
    }

    /// The first of `names` that is set, with its name.
    pub(crate) fn first(
        &self,
        names: &[&'static str],
    ) -> Result<Option<(&'static str, String)>, ConfigError> {
        for name in names {
            if let Some(value) = self.get(name)? {
                return Ok(Some((name, value)));
            }
        }
        Ok(None)
    }
}

/// `true` / `false`, case-insensitive.
pub(crate) fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::new(name, value, "true or false"))
    }
}

/// A ratio from 0.0 to 1.0 inclusive (NaN and infinities rejected).
pub(crate) fn ratio(name: &str, value: &str) -> Result<f64, ConfigError> {
    match value.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ConfigError::new(
            name,
            value,
            "a number from 0.0 to 1.0 (e.g. 0.1 for 10%)",
        )),
    }
}

/// A whole number of milliseconds (the spec's unit for OTEL_* durations).
pub(crate) fn millis(name: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::new(name, value, "a whole number of milliseconds"))
}

/// A positive whole number (queue and batch sizes).
pub(crate) fn positive(name: &str, value: &str) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            name,
            value,
            "a whole number greater than 0",
        )),
    }
}

/// One of a fixed set of lower-case words (compared case-insensitively).
pub(crate) fn one_of<T: Copy>(
    name: &str,
    value: &str,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            ConfigError::new(name, value, format!("one of {}", words.join(", ")))
        })
}

/// One of the words of a value type ([`Words`]).
pub(crate) fn word<T: Words>(name: &str, value: &str) -> Result<T, ConfigError> {
    one_of(name, value, T::WORDS)
}

/// A `key=value,key=value` list as used by `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS`: keys and values are trimmed and percent-decoded; an empty
/// member (`a=1,,b=2`) is skipped. A member without `=`, an empty key, a `%` not followed by
/// two hex digits, or a decoded text that is not UTF-8 is an error.
pub(crate) fn key_value_list(
    name: &str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    members(value).map_err(|_| ConfigError::new(name, value, KEY_VALUE_LIST))
}

/// What a `key=value` list accepts.
pub(crate) const KEY_VALUE_LIST: &str =
    "comma-separated key=value pairs, percent-encoded (e.g. k1=v1,k2=v%202)";

/// The member of a `key=value` list that is malformed: its position among the non-empty
/// members (from 1), its key when it has a readable one, and what is wrong with it. It holds
/// no value, so it can describe a list of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadMember {
    pub(crate) position: usize,
    pub(crate) key: Option<String>,
    pub(crate) problem: &'static str,
}

impl std::fmt::Display for BadMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "member {}", self.position)?;
        if let Some(key) = &self.key {
            write!(f, " (key {key:?})")?;
        }
        write!(f, " {}", self.problem)
    }
}

/// The members of a `key=value` list ([`key_value_list`]), or the first malformed one.
pub(crate) fn members(value: &str) -> Result<Vec<(String, String)>, BadMember> {
    let mut out = Vec::new();
    let members = value.split(',').map(str::trim).filter(|m| !m.is_empty());
    for (i, member) in members.enumerate() {
        let bad = |key: Option<&str>, problem| BadMember {
            position: i + 1,
            key: key.map(str::to_owned),
            problem,
        };
        let (k, v) = member.split_once('=').ok_or(bad(None, "has no `=`"))?;
        let key =
            percent_decode(k.trim()).ok_or(bad(None, "has a malformed %-escape in its key"))?;
        if key.is_empty() {
            return Err(bad(None, "has an empty key"));
        }
        let val = percent_decode(v.trim())
            .ok_or_else(|| bad(Some(&key), "has a malformed %-escape in its value"))?;
        out.push((key, val));
    }
    Ok(out)
}

/// Strict percent-decoding: every `%` must start a two-digit hex escape.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + pos;
        let escape = bytes.get(at + 1..at + 3)?;
        if !escape.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        i = at + 3;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// True for a variable whose value is request headers (`OTEL_EXPORTER_OTLP_*HEADERS`): no part
/// of it is ever shown.
pub(crate) fn holds_credentials(name: &str) -> bool {
    name.starts_with("OTEL_EXPORTER_OTLP_") && name.ends_with("HEADERS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn key_value_lists() {
        let ok: &[(&str, &[(&str, &str)])] = &[
            ("a=1", &[("a", "1")]),
            (" a = 1 , b=2 ", &[("a", "1"), ("b", "2")]),
            ("a=1,,b=2,", &[("a", "1"), ("b", "2")]),
            ("k=v%20with%20space,x=%2C%3D", &[("k", "v with space"), ("x", ",=")]),
            ("url=http://h:1/p?q=1", &[("url", "http://h:1/p?q=1")]),
            ("empty=", &[("empty", "")]),
            ("caf%C3%A9=%E2%9C%93", &[("café", "✓")]),
        ];
        for (input, want) in ok {
            let got = key_value_list("V", input).unwrap();
            let want: Vec<(String, String)> =
                want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(got, want, "input {input:?}");
        }
        for bad in ["novalue", "=v", "a=1,b", "a=%zz", "a=%4", "a=%FF", " = x"] {
            let err = key_value_list("V", bad).unwrap_err();
            assert_eq!(err.name, "V", "input {bad:?}");
            assert!(err.to_string().contains("key=value"), "{err}");
        }
    }

    #[test]
    fn ratios() {
        for (s, want) in [
            ("0", 0.0),
            ("1", 1.0),
            ("0.25", 0.25),
            ("1.0", 1.0),
            ("1e-1", 0.1),
        ] {
            assert_eq!(ratio("R", s).unwrap(), want);
        }
        for bad in ["-0.1", "1.01", "NaN", "nan", "inf", "abc", "0,5", "10%"] {
            let err = ratio("R", bad).unwrap_err();
            assert!(err.to_string().contains("0.0 to 1.0"), "{err}");
            assert!(err.to_string().contains("R"), "{err}");
        }
    }

    #[test]
    fn booleans_durations_sizes() {
        assert!(boolean("B", "TRUE").unwrap());
        assert!(!boolean("B", "false").unwrap());
        assert!(boolean("B", "yes").is_err());
        assert!(boolean("B", "1").is_err());
        assert_eq!(millis("T", "250").unwrap(), Duration::from_millis(250));
        assert!(millis("T", "-1").is_err());
        assert!(millis("T", "1.5").is_err());
        assert!(millis("T", "5s").is_err());
        assert_eq!(positive("Q", "2048").unwrap(), 2048);
        assert!(positive("Q", "0").is_err());
        assert!(positive("Q", "x").is_err());
    }

    #[test]
    fn vars_trim_and_treat_empty_as_unset() {
        let vars = Vars::new(|n| match n {
            "EMPTY" => Some(Ok(String::new())),
            "BLANK" => Some(Ok("  \t".into())),
            "PADDED" => Some(Ok("  x ".into())),
            "BINARY" => Some(Err("\u{FFFD}".into())),
            _ => None,
        });
        assert_eq!(vars.get("EMPTY").unwrap(), None);
        assert_eq!(vars.get("BLANK").unwrap(), None);
        assert_eq!(vars.get("UNSET").unwrap(), None);
        assert_eq!(vars.get("PADDED").unwrap().as_deref(), Some("x"));
        let err = vars.get("BINARY").unwrap_err();
        assert!(err.to_string().contains("BINARY") && err.to_string().contains("UTF-8"));
        assert_eq!(
            vars.first(&["UNSET", "EMPTY", "PADDED"]).unwrap(),
            Some(("PADDED", "x".into()))
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn key_value_lists_never_panic(input in ".{0,200}") {
            let _ = key_value_list("V", &input);
        }

        #[test]
        fn encoded_pairs_round_trip(values in proptest::collection::vec(".{0,20}", 0..6)) {
            let encoded: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("key.{i}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
                .collect();
            let parsed = key_value_list("V", &encoded.join(",")).unwrap();
            let want: Vec<(String, String)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("key.{i}"), v.clone()))
                .collect();
            prop_assert_eq!(parsed, want);
        }

        #[test]
        fn ratios_accept_exactly_the_unit_interval(x in any::<f64>()) {
            let text = x.to_string();
            prop_assert_eq!(ratio("R", &text).is_ok(), (0.0..=1.0).contains(&x));
        }
    }
}
