//! Generates the V1 protobuf types with prost. `protox` parses the .proto in pure Rust, so building
//! loong-rs never needs a system `protoc`.

fn main() {
    let proto = "proto/sls_logs.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"]).expect("parse sls_logs.proto");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("generate sls_logs types");
}
