//! Rebuild when the embedded monitoring stack changes (`manifests` feature): `include_dir!`
//! tracks the files it read but not the folder listing, so an added or removed file would
//! otherwise be missed. Without the feature nothing is embedded, and a change under
//! `monitoring/` rebuilds nothing.
fn main() {
    if std::env::var_os("CARGO_FEATURE_MANIFESTS").is_some() {
        println!("cargo:rerun-if-changed=monitoring");
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
