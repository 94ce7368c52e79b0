//! The few small items every layer uses, in a leaf module: the instrumentation scope name and
//! the hex encoder of trace and span ids.

/// The instrumentation scope of every span and instrument the crate creates.
pub(crate) const SCOPE: &str = "octollm-telemetry";

/// Writes `bytes` as lower-case hex into `out`, which holds exactly twice as many bytes.
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}
