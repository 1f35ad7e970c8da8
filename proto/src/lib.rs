//! Generated code for every AstroBookings contract, one module per protobuf package
//! (`astrobookings::booking::v1`, ...), and the encoded descriptor set of all of them.

#![allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/astrobookings_includes.rs"));

/// Every contract and its imports as an encoded `FileDescriptorSet`, with source info (comments),
/// for gRPC reflection and for the gateway's transcoding.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/astrobookings_descriptor.bin"));
