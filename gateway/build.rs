//! Compiles the vendored `google.rpc` error contracts (status and error details) into a
//! descriptor set, so the gateway can render `grpc-status-details-bin` as proto3 JSON. They are
//! not imported by any AstroBookings contract, so the main descriptor set lacks them.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let files = ["google/rpc/status.proto", "google/rpc/error_details.proto"];
    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_imports(true);
    for file in files {
        compiler.open_file(file)?;
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("google_rpc_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    Ok(())
}
