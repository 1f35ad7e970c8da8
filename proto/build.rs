//! Compiles every contract under `astrobookings/` with protox (pure Rust, so no protoc install step)
//! into Rust code and an encoded descriptor set that reflection and the gateway read.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut contracts = Vec::new();
    collect_protos(&proto_root.join("astrobookings"), &mut contracts)?;
    contracts.sort();

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true);
    for contract in &contracts {
        let relative = contract.strip_prefix(&proto_root)?;
        compiler.open_file(relative)?;
        println!("cargo:rerun-if-changed={}", contract.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("google").display()
    );

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("astrobookings_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        // An RPC that no issue has built yet answers UNIMPLEMENTED instead of failing the build.
        .generate_default_stubs(true)
        .include_file("astrobookings_includes.rs")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

fn collect_protos(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
    Ok(())
}
