//! Compiles `protos/` into prost messages and tonic stubs without a system `protoc`:
//! protox parses the files into a descriptor set, tonic-prost-build generates the code.
//! The encoded descriptor set is kept too, so Python can build its message classes.

use prost::Message;
use std::path::PathBuf;

const FILES: &[&str] = &[
    "mimetype/v1beta1/mimetype.proto",
    "region/v1beta1/region.proto",
    "api/v1beta1/event.proto",
    "api/v1beta1/topic.proto",
    "api/v1beta1/query.proto",
    "api/v1beta1/groups.proto",
    "api/v1beta1/ensign.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../../protos");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for f in FILES {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(FILES, [&root])?;
    std::fs::write(out.join("ensign_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // NOTE: payloads and ids become `bytes::Bytes`, so events move between the
        // network buffers, the ack tracker and storage without copying.
        .bytes(".")
        // NOTE: the server moves each decoded event through tonic's stream, its batch
        // and the broker; inline, every move copied the ~400-byte wrapper (a sixth of
        // the server's CPU per event). Boxed, a move is one pointer.
        .boxed(".ensign.v1beta1.PublisherRequest.embed.event")
        .build_transport(false)
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
