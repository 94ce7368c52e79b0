//! Rebuild when the embedded monitoring stack changes: `include_dir!` tracks the files it read
//! but not the folder listing, so an added or removed file would otherwise be missed.
fn main() {
    println!("cargo:rerun-if-changed=monitoring");
}
