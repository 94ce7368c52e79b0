//! Head sampling: which new traces are recorded and exported (`OTEL_TRACES_SAMPLER`, `_ARG`,
//! `OTEL_SAMPLING_RATE`).

use std::fmt;

use opentelemetry_sdk::trace::Sampler as SdkSampler;

use super::parse::{self, Vars};
use super::values::Environment;
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
#[derive(Debug, Clone, Copy, PartialEq)]
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
}

impl Sampler {
    /// The ratio of new root traces that are kept.
    #[must_use]
    pub fn root_ratio(&self) -> f64 {
        match *self {
            Sampler::AlwaysOn | Sampler::ParentBasedAlwaysOn => 1.0,
            Sampler::AlwaysOff | Sampler::ParentBasedAlwaysOff => 0.0,
            Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r) => r,
        }
    }

    /// The name used by `OTEL_TRACES_SAMPLER`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::AlwaysOn => "always_on",
            Sampler::AlwaysOff => "always_off",
            Sampler::TraceIdRatio(_) => "traceidratio",
            Sampler::ParentBasedAlwaysOn => "parentbased_always_on",
            Sampler::ParentBasedAlwaysOff => "parentbased_always_off",
            Sampler::ParentBasedTraceIdRatio(_) => "parentbased_traceidratio",
        }
    }

    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        match *self {
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

    pub(crate) fn to_sdk(self) -> SdkSampler {
        let parent_based = |root: SdkSampler| SdkSampler::ParentBased(Box::new(root));
        match self {
            Sampler::AlwaysOn => SdkSampler::AlwaysOn,
            Sampler::AlwaysOff => SdkSampler::AlwaysOff,
            Sampler::TraceIdRatio(r) => SdkSampler::TraceIdRatioBased(r),
            Sampler::ParentBasedAlwaysOn => parent_based(SdkSampler::AlwaysOn),
            Sampler::ParentBasedAlwaysOff => parent_based(SdkSampler::AlwaysOff),
            Sampler::ParentBasedTraceIdRatio(r) => parent_based(SdkSampler::TraceIdRatioBased(r)),
        }
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

const SAMPLER_NAMES: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                             parentbased_always_off, parentbased_traceidratio";

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
        let sampler = match name.to_ascii_lowercase().as_str() {
            "always_on" => no_arg(Sampler::AlwaysOn, arg)?,
            "always_off" => no_arg(Sampler::AlwaysOff, arg)?,
            "parentbased_always_on" => no_arg(Sampler::ParentBasedAlwaysOn, arg)?,
            "parentbased_always_off" => no_arg(Sampler::ParentBasedAlwaysOff, arg)?,
            "traceidratio" => Sampler::TraceIdRatio(ratio(arg)?),
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio(arg)?),
            _ => {
                return Err(ConfigError::new(
                    OTEL_TRACES_SAMPLER,
                    name,
                    format!("one of {SAMPLER_NAMES}"),
                ))
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
            (&[("OTEL_TRACES_SAMPLER", "jaeger_remote")], "OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
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
