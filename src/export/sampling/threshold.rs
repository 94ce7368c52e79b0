//! Probabilities as the rejection thresholds of OpenTelemetry's probability sampling
//! (`trace/tracestate-probability-sampling.md`): a trace is kept when the 56 random bits of
//! its id (or the `rv` its caller gave) are at least the threshold `T = (1 − p) · 2^56`, and a
//! kept span says so in the `tracestate` entry `ot=th:<T>`, so that a collector can sample
//! again consistently and count what each span stands for.
//!
//! The threshold is rounded to [`PRECISION`] significant hexadecimal digits as the
//! specification's reference algorithm does (more digits for probabilities near zero), and
//! the decision compares against exactly the threshold written, so that what is kept and what
//! `th` says agree.

/// 2^56: the threshold that keeps nothing.
pub(crate) const NEVER: u64 = 1 << 56;
/// The hexadecimal digits of precision: 1% is written `th:fd70a4`.
pub(crate) const PRECISION: u32 = 5;

/// A probability as a threshold: the 56-bit value compared with and its `th` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Threshold {
    /// Keep when the randomness is at least this.
    pub(crate) value: u64,
    /// The `th` value (`0` for 100%); empty for a probability of zero, which writes none.
    pub(crate) th: String,
}

impl Threshold {
    /// The threshold of `probability` (clamped to [0, 1]), rounded to `precision` digits.
    pub(crate) fn of(probability: f64, precision: u32) -> Self {
        if probability.is_nan() || probability <= 0.0 {
            return Self {
                value: NEVER,
                th: String::new(),
            };
        }
        if probability >= 1.0 {
            return Self {
                value: 0,
                th: "0".into(),
            };
        }
        // frexp: probability = m · 2^exp with m in [0.5, 1); more digits the more leading
        // `f` digits the threshold has.
        let exp = binary_exponent(probability);
        let extra = (-exp).div_euclid(4);
        let digits = (i64::from(precision) + extra).clamp(1, 12);
        // 2 − p in [1, 2), plus half of the last kept digit so that truncation rounds.
        let rejection =
            2.0 - probability + 0.5 * 2f64.powi(-4 * i32::try_from(digits).unwrap_or(12));
        let kept = u32::try_from(digits).unwrap_or(12);
        let prefix = if rejection >= 2.0 {
            (1u64 << (4 * kept)) - 1
        } else {
            let mantissa = rejection.to_bits() & ((1u64 << 52) - 1);
            mantissa >> (4 * (13 - kept))
        };
        let value = prefix << (4 * (14 - kept));
        let mut th = format!("{prefix:0width$x}", width = kept as usize);
        while th.len() > 1 && th.ends_with('0') {
            th.pop();
        }
        if value == 0 {
            th = "0".into();
        }
        Self { value, th }
    }

    /// The probability this threshold keeps (exactly, to a double's precision).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn probability(&self) -> f64 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "2^56 and below, as the spec computes it"
        )]
        let kept = (NEVER - self.value) as f64 / NEVER as f64;
        kept
    }
}

/// The exponent of `x` as C's `frexp` gives it (`x = m · 2^exp`, `m` in [0.5, 1)), for a
/// positive normal or subnormal `x`.
fn binary_exponent(x: f64) -> i64 {
    let bits = x.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        return binary_exponent(x * 2f64.powi(64)) - 64;
    }
    biased - 1022
}

/// The randomness of a trace: the `rv` sub-key of the `ot` entry of its `tracestate` when its
/// caller gave one, else the 56 low bits of its id.
pub(crate) fn randomness(trace_id: u128, ot_value: Option<&str>) -> u64 {
    if let Some(rv) = ot_value.and_then(|ot| sub_key(ot, "rv")) {
        if rv.len() == 14 {
            if let Ok(r) = u64::from_str_radix(rv, 16) {
                return r;
            }
        }
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the 56 low bits are wanted"
    )]
    let low = trace_id as u64;
    low & (NEVER - 1)
}

/// The value of `key` in an `ot` entry (`k1:v1;k2:v2`).
pub(crate) fn sub_key<'a>(ot: &'a str, key: &str) -> Option<&'a str> {
    ot.split(';').find_map(|member| {
        let (k, v) = member.split_once(':')?;
        (k == key).then_some(v)
    })
}

/// The `ot` entry with `th` set to `th` (or removed when `th` is `None`), the other sub-keys
/// kept in their order; `None` when nothing is left.
pub(crate) fn with_th(ot: Option<&str>, th: Option<&str>) -> Option<String> {
    // One allocation: this runs for every sampled root.
    let mut value = String::with_capacity(ot.map_or(0, str::len) + th.map_or(0, |t| t.len() + 3));
    if let Some(th) = th {
        value.push_str("th:");
        value.push_str(th);
    }
    let others = ot
        .into_iter()
        .flat_map(|ot| ot.split(';'))
        .filter(|m| !m.is_empty() && !m.starts_with("th:"));
    for member in others {
        if !value.is_empty() {
            value.push(';');
        }
        value.push_str(member);
    }
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of `tracestate-probability-sampling.md` ("Converting floating-point
    /// probability to threshold value"): probability, then the `th` at precision 3, 4 and 5,
    /// then the probability each keeps.
    #[rustfmt::skip]
    const SPEC_TABLE: &[(f64, [&str; 3], [f64; 3])] = &[
        (1.0, ["0", "0", "0"], [1.0, 1.0, 1.0]),
        (0.5, ["8", "8", "8"], [0.5, 0.5, 0.5]),
        (1.0 / 3.0, ["aab", "aaab", "aaaab"], [0.333_251_953_125, 0.333_328_247_070_312_5, 0.333_333_015_441_894_53]),
        (0.25, ["c", "c", "c"], [0.25, 0.25, 0.25]),
        (0.2, ["ccd", "cccd", "ccccd"], [0.199_951_171_875, 0.199_996_948_242_187_5, 0.199_999_809_265_136_72]),
        (0.125, ["e", "e", "e"], [0.125, 0.125, 0.125]),
        (0.1, ["e66", "e666", "e6666"], [0.100_097_656_25, 0.100_006_103_515_625, 0.100_000_381_469_726_56]),
        (0.0625, ["f", "f", "f"], [0.0625, 0.0625, 0.0625]),
        (0.01, ["fd71", "fd70a", "fd70a4"], [0.009_994_506_835_937_5, 0.010_000_228_881_835_938, 0.009_999_990_463_256_836]),
        (0.001, ["ffbe7", "ffbe77", "ffbe76d"], [0.001_000_404_357_910_156_2, 0.000_999_987_125_396_728_5, 0.000_999_998_301_267_624]),
        (0.0001, ["fff972", "fff9724", "fff97247"], [0.000_100_016_593_933_105_47, 0.000_100_001_692_771_911_62, 0.000_100_000_062_957_406_04]),
        (0.00001, ["ffff584", "ffff583a", "ffff583a5"], [9.998_679_161_071_777e-6, 1.000_007_614_493_37e-5, 1.000_000_338_535_755_9e-5]),
        (0.000_001, ["ffffef4", "ffffef39", "ffffef391"], [9.983_777_999_877_93e-7, 1.000_007_614_493_37e-6, 9.999_930_625_781_417e-7]),
    ];

    #[test]
    fn thresholds_are_the_specifications_examples() {
        for (p, ths, kept) in SPEC_TABLE {
            for (i, precision) in [3u32, 4, 5].into_iter().enumerate() {
                let t = Threshold::of(*p, precision);
                assert_eq!(t.th, ths[i], "p {p} precision {precision}");
                let rel = (t.probability() - kept[i]).abs() / kept[i];
                assert!(
                    rel < 1e-12,
                    "p {p} precision {precision}: {} vs {}",
                    t.probability(),
                    kept[i]
                );
            }
        }
        assert_eq!(Threshold::of(0.01, PRECISION).th, "fd70a4");
        assert_eq!(Threshold::of(1.0, PRECISION).th, "0");
    }

    #[test]
    fn zero_keeps_nothing_and_writes_no_threshold() {
        let t = Threshold::of(0.0, PRECISION);
        assert_eq!((t.value, t.th.as_str()), (NEVER, ""));
        assert!(randomness(u128::MAX, None) < t.value);
    }

    #[test]
    fn randomness_is_the_low_56_bits_unless_rv_is_given() {
        let id = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        assert_eq!(randomness(id, None), 0x00dc_ba98_7654_3210);
        assert_eq!(randomness(id, Some("th:8;rv:00000000000001")), 1);
        assert_eq!(randomness(id, Some("rv:xyz")), 0x00dc_ba98_7654_3210);
    }

    #[test]
    fn th_replaces_only_itself() {
        assert_eq!(with_th(None, Some("c")).as_deref(), Some("th:c"));
        assert_eq!(
            with_th(Some("th:8;rv:00000000000001"), Some("c")).as_deref(),
            Some("th:c;rv:00000000000001")
        );
        assert_eq!(with_th(Some("th:8"), None), None);
        assert_eq!(
            with_th(Some("rv:00000000000001;th:8"), None).as_deref(),
            Some("rv:00000000000001")
        );
    }
}
