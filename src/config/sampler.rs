//! Head sampling: which new traces are recorded and exported (`OTEL_TRACES_SAMPLER`, `_ARG`,
//! `OTEL_SAMPLING_RATE`).

use std::fmt;
use std::time::Duration;

use opentelemetry_sdk::trace::Sampler as SdkSampler;

use super::parse::{self, Vars};
use super::values::{Environment, Words};
use super::vars::{
    OTEL_SAMPLING_RATE, OTEL_SAMPLING_RATE_DEFAULT, OTEL_SAMPLING_RATE_DEFAULT_DEV,
    OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_TRACES_SAMPLER_ARG_DEFAULT,
};
use crate::error::ConfigError;

/// The sampler, named as in `OTEL_TRACES_SAMPLER`.
///
/// The platform default is [`Sampler::ParentBasedTraceIdRatio`]: a request that arrives with a
/// sampled (or unsampled) parent keeps its caller's decision, and a new trace is kept with the
/// given probability.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// Record every trace (`always_on`).
    AlwaysOn,
    /// Record no trace (`always_off`); ids are still generated and propagated.
    AlwaysOff,
    /// Keep a trace with this probability, ignoring the parent (`traceidratio`).
    TraceIdRatio(f64),
    /// Follow the parent; record every new root (`parentbased_always_on`).
    ParentBasedAlwaysOn,
    /// Follow the parent; record no new root (`parentbased_always_off`).
    ParentBasedAlwaysOff,
    /// Follow the parent; keep a new root with this probability (`parentbased_traceidratio`).
    ParentBasedTraceIdRatio(f64),
    /// Sample as a Jaeger sampling endpoint says, per operation, fetched again and again
    /// (`jaeger_remote`); every span is decided, whatever its parent decided.
    JaegerRemote(JaegerRemote),
    /// Follow the parent; sample a new root as a Jaeger sampling endpoint says
    /// (`parentbased_jaeger_remote`).
    ParentBasedJaegerRemote(JaegerRemote),
}

/// Where a remote sampler fetches its strategy, how often, and what it samples until the
/// first fetch succeeds: the `endpoint`, `pollingIntervalMs` and `initialSamplingRate` of
/// `OTEL_TRACES_SAMPLER_ARG`.
///
/// - An endpoint without a path (`http://jaeger:5779`, the specification's form) is Jaeger's
///   gRPC `SamplingManager`; one with a path (`http://jaeger:5778/sampling`) is Jaeger's HTTP
///   API, asked `GET <endpoint>?service=<service.name>`.
/// - The strategies followed are Jaeger's: `PROBABILISTIC`, `RATE_LIMITING` (traces per
///   second) and per operation (a probability per root span name, with the lower bound of
///   traces per second that Jaeger's guaranteed-throughput sampler keeps, and the upper
///   bound).
/// - A failed fetch keeps the strategy in force; fetches and failures are counted.
///
/// ```
/// use std::time::Duration;
/// use octollm_telemetry::{JaegerRemote, Sampler};
///
/// let remote = JaegerRemote::new("http://jaeger.monitoring:5779")
///     .polling_interval(Duration::from_secs(30))
///     .initial_sampling_rate(0.1);
/// let sampler = Sampler::ParentBasedJaegerRemote(remote);
/// assert_eq!(sampler.root_ratio(), 0.1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JaegerRemote {
    /// The sampling endpoint (default `http://localhost:14250`).
    pub endpoint: String,
    /// How often the strategy is fetched (default one minute).
    pub polling_interval: Duration,
    /// The probability of a new root until the first fetch succeeds (default 0.001).
    pub initial_sampling_rate: f64,
}

impl JaegerRemote {
    /// The remote sampler of `endpoint`, with the default interval and initial rate.
    #[must_use]
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            polling_interval: JAEGER_REMOTE_POLLING_INTERVAL_DEFAULT,
            initial_sampling_rate: JAEGER_REMOTE_INITIAL_RATE_DEFAULT,
        }
    }

    /// How often the strategy is fetched.
    #[must_use]
    pub fn polling_interval(mut self, interval: Duration) -> Self {
        self.polling_interval = interval;
        self
    }

    /// The probability of a new root until the first fetch succeeds.
    #[must_use]
    pub fn initial_sampling_rate(mut self, rate: f64) -> Self {
        self.initial_sampling_rate = rate;
        self
    }

    /// The transport the endpoint names: gRPC without a path, HTTP with one.
    pub(crate) fn uses_grpc(&self) -> bool {
        self.endpoint
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_owned()))
            .is_none_or(|path| path.is_empty() || path == "/")
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let accepted = "an http:// URL with a host and a port, no credentials";
        let uri = self
            .endpoint
            .parse::<http::Uri>()
            .map_err(|_| ConfigError::redacted(name, "the endpoint is not a URL", accepted))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(ConfigError::redacted(
                name,
                "the endpoint holds credentials",
                accepted,
            ));
        }
        if uri.scheme_str() != Some("http") || uri.host().is_none() || uri.port_u16().is_none() {
            return Err(ConfigError::new(name, self.endpoint.clone(), accepted));
        }
        if !(0.0..=1.0).contains(&self.initial_sampling_rate) {
            return Err(ConfigError::new(
                name,
                self.initial_sampling_rate.to_string(),
                "an initialSamplingRate from 0.0 to 1.0",
            ));
        }
        if self.polling_interval.is_zero() {
            return Err(ConfigError::new(
                name,
                "0",
                "a pollingIntervalMs of at least 1",
            ));
        }
        let feature = if self.uses_grpc() {
            "grpc"
        } else {
            "http-proto"
        };
        let grpc = self.uses_grpc();
        let transport_built =
            (grpc && cfg!(feature = "grpc")) || (!grpc && cfg!(feature = "http-proto"));
        let built = cfg!(feature = "jaeger-remote") && transport_built;
        if !built {
            return Err(ConfigError::new(
                name,
                self.endpoint.clone(),
                format!(
                    "another sampler: this build has no `jaeger-remote` and `{feature}` cargo \
                     features"
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for JaegerRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "endpoint={},pollingIntervalMs={},initialSamplingRate={}",
            self.endpoint,
            self.polling_interval.as_millis(),
            self.initial_sampling_rate
        )
    }
}

/// Default `endpoint` of a remote sampler (the OpenTelemetry SDKs').
pub(crate) const JAEGER_REMOTE_ENDPOINT_DEFAULT: &str = "http://localhost:14250";
/// Default `pollingIntervalMs` of a remote sampler.
pub(crate) const JAEGER_REMOTE_POLLING_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Default `initialSamplingRate` of a remote sampler.
pub(crate) const JAEGER_REMOTE_INITIAL_RATE_DEFAULT: f64 = 0.001;

impl Sampler {
    /// The ratio of new root traces that are kept.
    ///
    /// For a remote sampler, the initial rate (the rate in force until the first fetch).
    #[must_use]
    pub fn root_ratio(&self) -> f64 {
        match self {
            Sampler::AlwaysOn | Sampler::ParentBasedAlwaysOn => 1.0,
            Sampler::AlwaysOff | Sampler::ParentBasedAlwaysOff => 0.0,
            Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r) => *r,
            Sampler::JaegerRemote(remote) | Sampler::ParentBasedJaegerRemote(remote) => {
                remote.initial_sampling_rate
            }
        }
    }

    /// The remote sampler's settings, for `jaeger_remote` and `parentbased_jaeger_remote`.
    #[must_use]
    pub fn jaeger_remote(&self) -> Option<&JaegerRemote> {
        match self {
            Sampler::JaegerRemote(remote) | Sampler::ParentBasedJaegerRemote(remote) => {
                Some(remote)
            }
            _ => None,
        }
    }

    /// The name used by `OTEL_TRACES_SAMPLER`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.kind().word()
    }

    fn kind(&self) -> SamplerKind {
        match self {
            Sampler::AlwaysOn => SamplerKind::AlwaysOn,
            Sampler::AlwaysOff => SamplerKind::AlwaysOff,
            Sampler::TraceIdRatio(_) => SamplerKind::TraceIdRatio,
            Sampler::ParentBasedAlwaysOn => SamplerKind::ParentBasedAlwaysOn,
            Sampler::ParentBasedAlwaysOff => SamplerKind::ParentBasedAlwaysOff,
            Sampler::ParentBasedTraceIdRatio(_) => SamplerKind::ParentBasedTraceIdRatio,
            Sampler::JaegerRemote(_) => SamplerKind::JaegerRemote,
            Sampler::ParentBasedJaegerRemote(_) => SamplerKind::ParentBasedJaegerRemote,
        }
    }

    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        match *self {
            Sampler::JaegerRemote(ref remote) | Sampler::ParentBasedJaegerRemote(ref remote) => {
                remote.validate(name)
            }
            Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r)
                if !(0.0..=1.0).contains(&r) =>
            {
                Err(ConfigError::new(
                    name,
                    r.to_string(),
                    "a ratio from 0.0 to 1.0",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether this sampler drops every span whose parent is valid and not sampled: the
    /// parent-based ones (whose delegates for such a parent are `always_off`) and `always_off`.
    pub(crate) fn drops_unsampled_children(&self) -> bool {
        matches!(
            self,
            Self::AlwaysOff
                | Self::ParentBasedAlwaysOn
                | Self::ParentBasedAlwaysOff
                | Self::ParentBasedTraceIdRatio(_)
                | Self::ParentBasedJaegerRemote(_)
        )
    }

    /// The SDK's sampler for the fixed samplers; `None` for the remote ones, which the trace
    /// pipeline builds.
    pub(crate) fn to_sdk(&self) -> Option<SdkSampler> {
        let parent_based = |root: SdkSampler| SdkSampler::ParentBased(Box::new(root));
        Some(match *self {
            Sampler::AlwaysOn => SdkSampler::AlwaysOn,
            Sampler::AlwaysOff => SdkSampler::AlwaysOff,
            Sampler::TraceIdRatio(r) => SdkSampler::TraceIdRatioBased(r),
            Sampler::ParentBasedAlwaysOn => parent_based(SdkSampler::AlwaysOn),
            Sampler::ParentBasedAlwaysOff => parent_based(SdkSampler::AlwaysOff),
            Sampler::ParentBasedTraceIdRatio(r) => parent_based(SdkSampler::TraceIdRatioBased(r)),
            Sampler::JaegerRemote(_) | Sampler::ParentBasedJaegerRemote(_) => return None,
        })
    }

    /// The default for an environment: every trace in dev, 10% elsewhere, parent-based.
    pub(crate) fn default_for(environment: Environment) -> Self {
        match environment {
            Environment::Dev => Sampler::ParentBasedTraceIdRatio(OTEL_SAMPLING_RATE_DEFAULT_DEV),
            Environment::Staging | Environment::Prod => {
                Sampler::ParentBasedTraceIdRatio(OTEL_SAMPLING_RATE_DEFAULT)
            }
        }
    }
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r) => {
                write!(f, "{}({r})", self.name())
            }
            Sampler::JaegerRemote(remote) | Sampler::ParentBasedJaegerRemote(remote) => {
                write!(f, "{}({remote})", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// Where the effective sampler came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SamplerSource {
    Code,
    OtelTracesSampler,
    OtelSamplingRate,
    EnvironmentDefault,
}

impl SamplerSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SamplerSource::Code => "code",
            SamplerSource::OtelTracesSampler => OTEL_TRACES_SAMPLER,
            SamplerSource::OtelSamplingRate => OTEL_SAMPLING_RATE,
            SamplerSource::EnvironmentDefault => "environment default",
        }
    }
}

/// A sampler without its argument: the words of `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SamplerKind {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
    JaegerRemote,
    ParentBasedJaegerRemote,
}

impl Words for SamplerKind {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("always_on", Self::AlwaysOn),
        ("always_off", Self::AlwaysOff),
        ("traceidratio", Self::TraceIdRatio),
        ("parentbased_always_on", Self::ParentBasedAlwaysOn),
        ("parentbased_always_off", Self::ParentBasedAlwaysOff),
        ("parentbased_traceidratio", Self::ParentBasedTraceIdRatio),
        ("jaeger_remote", Self::JaegerRemote),
        ("parentbased_jaeger_remote", Self::ParentBasedJaegerRemote),
    ];
}

/// The list an unknown `OTEL_TRACES_SAMPLER` is told, as the tests expect it.
#[cfg(test)]
const SAMPLER_NAMES: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                             parentbased_always_off, parentbased_traceidratio, jaeger_remote, \
                             parentbased_jaeger_remote";

/// The keys of a remote sampler's `OTEL_TRACES_SAMPLER_ARG`.
const REMOTE_KEYS: &str = "endpoint=<URL>,pollingIntervalMs=<milliseconds>,\
                           initialSamplingRate=<0.0 to 1.0>, each at most once";

/// A remote sampler's argument: `endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`, each
/// key optional and given once, in any order.
fn remote_arg(arg: Option<&str>) -> Result<JaegerRemote, ConfigError> {
    let mut remote = JaegerRemote::new(JAEGER_REMOTE_ENDPOINT_DEFAULT);
    let Some(arg) = arg else {
        return Ok(remote);
    };
    let mut seen: Vec<&str> = Vec::new();
    for (position, member) in arg.split(',').enumerate() {
        let member = member.trim();
        let Some((key, value)) = member.split_once('=') else {
            return Err(ConfigError::redacted(
                OTEL_TRACES_SAMPLER_ARG,
                format_args!("member {} has no '='", position + 1),
                REMOTE_KEYS,
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if seen.contains(&key) {
            return Err(ConfigError::new(
                OTEL_TRACES_SAMPLER_ARG,
                key,
                format!("each key once: {REMOTE_KEYS}"),
            ));
        }
        match key {
            "endpoint" => value.clone_into(&mut remote.endpoint),
            "pollingIntervalMs" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => remote.polling_interval = Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::new(
                        OTEL_TRACES_SAMPLER_ARG,
                        format!("pollingIntervalMs={value}"),
                        "a pollingIntervalMs of a whole number of milliseconds, at least 1",
                    ))
                }
            },
            "initialSamplingRate" => {
                remote.initial_sampling_rate = parse::ratio(OTEL_TRACES_SAMPLER_ARG, value)
                    .map_err(|_| {
                        ConfigError::new(
                            OTEL_TRACES_SAMPLER_ARG,
                            format!("initialSamplingRate={value}"),
                            "an initialSamplingRate from 0.0 to 1.0",
                        )
                    })?;
            }
            _ => {
                return Err(ConfigError::new(
                    OTEL_TRACES_SAMPLER_ARG,
                    key,
                    format!("only the keys {REMOTE_KEYS}"),
                ))
            }
        }
        seen.push(key);
    }
    remote.validate(OTEL_TRACES_SAMPLER_ARG)?;
    Ok(remote)
}

/// Reads the sampler from the environment: `OTEL_TRACES_SAMPLER` (+ `_ARG`), else
/// `OTEL_SAMPLING_RATE`, else `None` (the caller applies the environment default).
pub(crate) fn from_vars(vars: &Vars<'_>) -> Result<Option<(Sampler, SamplerSource)>, ConfigError> {
    let arg = vars.get(OTEL_TRACES_SAMPLER_ARG)?;
    if let Some(name) = vars.get(OTEL_TRACES_SAMPLER)? {
        let ratio = |arg: Option<String>| match arg {
            // The spec's default argument for the ratio samplers is 1.0.
            None => Ok(OTEL_TRACES_SAMPLER_ARG_DEFAULT),
            Some(a) => parse::ratio(OTEL_TRACES_SAMPLER_ARG, &a),
        };
        let no_arg = |sampler: Sampler, arg: Option<String>| match arg {
            None => Ok(sampler),
            Some(a) => Err(ConfigError::new(
                OTEL_TRACES_SAMPLER_ARG,
                a,
                format!(
                    "no argument: {OTEL_TRACES_SAMPLER}={} takes none",
                    sampler.name()
                ),
            )),
        };
        let sampler = match parse::word::<SamplerKind>(OTEL_TRACES_SAMPLER, &name)? {
            SamplerKind::AlwaysOn => no_arg(Sampler::AlwaysOn, arg)?,
            SamplerKind::AlwaysOff => no_arg(Sampler::AlwaysOff, arg)?,
            SamplerKind::ParentBasedAlwaysOn => no_arg(Sampler::ParentBasedAlwaysOn, arg)?,
            SamplerKind::ParentBasedAlwaysOff => no_arg(Sampler::ParentBasedAlwaysOff, arg)?,
            SamplerKind::TraceIdRatio => Sampler::TraceIdRatio(ratio(arg)?),
            SamplerKind::ParentBasedTraceIdRatio => Sampler::ParentBasedTraceIdRatio(ratio(arg)?),
            SamplerKind::JaegerRemote => Sampler::JaegerRemote(remote_arg(arg.as_deref())?),
            SamplerKind::ParentBasedJaegerRemote => {
                Sampler::ParentBasedJaegerRemote(remote_arg(arg.as_deref())?)
            }
        };
        return Ok(Some((sampler, SamplerSource::OtelTracesSampler)));
    }
    if let Some(a) = arg {
        return Err(ConfigError::new(
            OTEL_TRACES_SAMPLER_ARG,
            a,
            format!("to be unset unless {OTEL_TRACES_SAMPLER} is set"),
        ));
    }
    if let Some(rate) = vars.get(OTEL_SAMPLING_RATE)? {
        let r = parse::ratio(OTEL_SAMPLING_RATE, &rate)?;
        return Ok(Some((
            Sampler::ParentBasedTraceIdRatio(r),
            SamplerSource::OtelSamplingRate,
        )));
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<(Sampler, SamplerSource)>, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_vars(&Vars::new(move |n| map.get(n).cloned().map(Ok)))
    }

    #[rustfmt::skip]
    #[test]
    fn valid_sampler_settings() {
        use Sampler::*;
        use SamplerSource::*;
        let rows: &[(&[(&str, &str)], Option<(Sampler, SamplerSource)>)] = &[
            (&[], None),
            (&[("OTEL_TRACES_SAMPLER", "")], None),
            (&[("OTEL_TRACES_SAMPLER", "always_on")], Some((AlwaysOn, OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", " ALWAYS_OFF ")], Some((AlwaysOff, OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")], Some((ParentBasedAlwaysOn, OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")], Some((ParentBasedAlwaysOff, OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")], Some((TraceIdRatio(0.5), OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "traceidratio")], Some((TraceIdRatio(1.0), OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0")], Some((ParentBasedTraceIdRatio(0.0), OtelTracesSampler))),
            (&[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "")], Some((AlwaysOn, OtelTracesSampler))),
            // OTEL_TRACES_SAMPLER wins over OTEL_SAMPLING_RATE.
            (&[("OTEL_TRACES_SAMPLER", "always_off"), ("OTEL_SAMPLING_RATE", "0.3")], Some((AlwaysOff, OtelTracesSampler))),
            (&[("OTEL_SAMPLING_RATE", "0.3")], Some((ParentBasedTraceIdRatio(0.3), OtelSamplingRate))),
            (&[("OTEL_SAMPLING_RATE", "1")], Some((ParentBasedTraceIdRatio(1.0), OtelSamplingRate))),
            (&[("OTEL_SAMPLING_RATE", "  ")], None),
        ];
        for (vars, want) in rows {
            assert_eq!(parse(vars).unwrap(), *want, "vars {vars:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_sampler_settings_name_the_variable() {
        let rows: &[(&[(&str, &str)], &str, &str)] = &[
            (&[("OTEL_TRACES_SAMPLER", "jaeger"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")], "OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
            (&[("OTEL_TRACES_SAMPLER", "xray")], "OTEL_TRACES_SAMPLER", "always_on"),
            (&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "abc")], "OTEL_TRACES_SAMPLER_ARG", "0.0 to 1.0"),
            (&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "NaN")], "OTEL_TRACES_SAMPLER_ARG", "0.0 to 1.0"),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")], "OTEL_TRACES_SAMPLER_ARG", "0.0 to 1.0"),
            (&[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")], "OTEL_TRACES_SAMPLER_ARG", "takes none"),
            (&[("OTEL_TRACES_SAMPLER_ARG", "0.5")], "OTEL_TRACES_SAMPLER_ARG", "unless OTEL_TRACES_SAMPLER"),
            (&[("OTEL_SAMPLING_RATE", "-0.1")], "OTEL_SAMPLING_RATE", "0.0 to 1.0"),
            (&[("OTEL_SAMPLING_RATE", "1.5")], "OTEL_SAMPLING_RATE", "0.0 to 1.0"),
            (&[("OTEL_SAMPLING_RATE", "ten")], "OTEL_SAMPLING_RATE", "0.0 to 1.0"),
            (&[("OTEL_SAMPLING_RATE", "nan")], "OTEL_SAMPLING_RATE", "0.0 to 1.0"),
        ];
        for (vars, var, accepted) in rows {
            let err = parse(vars).unwrap_err();
            assert_eq!(err.name, *var, "vars {vars:?}");
            let msg = err.to_string();
            assert!(msg.contains(var) && msg.contains(accepted), "{msg}");
        }
    }

    #[cfg(all(feature = "jaeger-remote", feature = "grpc", feature = "http-proto"))]
    #[rustfmt::skip]
    #[test]
    fn remote_sampler_arguments() {
        let remote = |sampler: &str, arg: Option<&str>| {
            let mut vars = vec![("OTEL_TRACES_SAMPLER", sampler)];
            vars.extend(arg.map(|a| ("OTEL_TRACES_SAMPLER_ARG", a)));
            parse(&vars)
        };
        // The specification's defaults when no argument is given.
        let (sampler, _) = remote("parentbased_jaeger_remote", None).unwrap().unwrap();
        assert_eq!(sampler, Sampler::ParentBasedJaegerRemote(JaegerRemote::new("http://localhost:14250")));
        assert_eq!(sampler.root_ratio(), 0.001);
        let jaeger = sampler.jaeger_remote().unwrap();
        assert_eq!(jaeger.polling_interval, Duration::from_secs(60));
        assert!(jaeger.uses_grpc());
        // Every key, in any order, with spaces; a path means the HTTP API.
        let (sampler, _) = remote(
            "JAEGER_REMOTE",
            Some(" initialSamplingRate=0.25 , pollingIntervalMs=1500,endpoint=http://jaeger.monitoring:5778/sampling"),
        ).unwrap().unwrap();
        let want = JaegerRemote::new("http://jaeger.monitoring:5778/sampling")
            .polling_interval(Duration::from_millis(1500))
            .initial_sampling_rate(0.25);
        assert!(!want.uses_grpc());
        assert_eq!(sampler, Sampler::JaegerRemote(want.clone()));
        // The value reads back as an argument that parses to the same sampler.
        let (again, _) = remote("jaeger_remote", Some(&want.to_string())).unwrap().unwrap();
        assert_eq!(again, sampler);

        let bad: &[(&str, &str)] = &[
            ("endpoint", "no '='"),
            ("endpoint=http://j:5779,rate=0.1", "only the keys"),
            ("endpoint=http://j:5779,endpoint=http://k:5779", "each key once"),
            ("pollingIntervalMs=0", "at least 1"),
            ("pollingIntervalMs=1.5", "whole number of milliseconds"),
            ("pollingIntervalMs=-3", "whole number of milliseconds"),
            ("initialSamplingRate=1.5", "from 0.0 to 1.0"),
            ("initialSamplingRate=NaN", "from 0.0 to 1.0"),
            ("endpoint=https://j:5779", "an http:// URL"),
            ("endpoint=http://j", "with a host and a port"),
            ("endpoint=j:5779", "an http:// URL"),
        ];
        for (arg, accepted) in bad {
            let err = remote("parentbased_jaeger_remote", Some(arg)).unwrap_err();
            assert_eq!(err.name, "OTEL_TRACES_SAMPLER_ARG", "{arg}");
            let msg = err.to_string();
            assert!(msg.contains("OTEL_TRACES_SAMPLER_ARG") && msg.contains(accepted), "{arg}: {msg}");
        }
        // A member without '=' and an endpoint with credentials never print what they hold.
        for arg in ["endpoint=http://j:5779,sk-live-123", "endpoint=http://user:sk-live-123@j:5779"] {
            let msg = remote("jaeger_remote", Some(arg)).unwrap_err().to_string();
            assert!(!msg.contains("sk-live-123") && msg.contains("not shown"), "{msg}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_sampler_name_is_known_or_refused_by_name(name in "\\PC{0,40}|[a-zA-Z_ ]{0,30}") {
                match parse(&[("OTEL_TRACES_SAMPLER", &name)]) {
                    Ok(None) => prop_assert!(name.trim().is_empty()),
                    Ok(Some((sampler, source))) => {
                        prop_assert_eq!(source, SamplerSource::OtelTracesSampler);
                        prop_assert_eq!(sampler.name(), name.trim().to_ascii_lowercase());
                    }
                    Err(e) => {
                        prop_assert_eq!(e.name.as_str(), OTEL_TRACES_SAMPLER);
                        prop_assert!(e.to_string().contains(SAMPLER_NAMES));
                    }
                }
            }

            #[test]
            fn a_ratio_argument_is_in_the_unit_interval_or_refused(arg in "\\PC{0,12}|-?[0-9]{0,2}(\\.[0-9]{0,4})?([eE]-?[0-9])?") {
                let parsed = parse(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", &arg)]);
                let trimmed = arg.trim();
                match parsed {
                    Ok(Some((sampler, _))) => {
                        let want = if trimmed.is_empty() { 1.0 } else { trimmed.parse::<f64>().unwrap() };
                        prop_assert_eq!(sampler, Sampler::ParentBasedTraceIdRatio(want));
                        prop_assert!((0.0..=1.0).contains(&want));
                    }
                    Ok(None) => prop_assert!(false, "a sampler name was given"),
                    Err(e) => {
                        prop_assert_eq!(e.name.as_str(), OTEL_TRACES_SAMPLER_ARG);
                        prop_assert!(!matches!(trimmed.parse::<f64>(), Ok(x) if (0.0..=1.0).contains(&x)), "{} refused", arg);
                    }
                }
            }
        }
    }

    #[test]
    fn environment_defaults() {
        assert_eq!(Sampler::default_for(Environment::Dev).root_ratio(), 1.0);
        assert_eq!(Sampler::default_for(Environment::Staging).root_ratio(), 0.1);
        assert_eq!(
            Sampler::default_for(Environment::Prod),
            Sampler::ParentBasedTraceIdRatio(0.1)
        );
    }
}
