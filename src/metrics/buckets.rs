//! The bucket boundaries of the duration histograms.

/// The duration histogram's bucket boundaries in seconds (the semantic conventions' advice).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
