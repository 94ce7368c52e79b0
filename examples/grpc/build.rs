//! Generates the `Plans` service from `proto/plans.proto` with tonic's build tooling, using
//! the vendored `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // The build script is the only code that reads this variable.
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure().compile_protos(&["proto/plans.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/plans.proto");
    Ok(())
}
