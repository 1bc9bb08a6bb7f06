//! The Ensign wire protocol: generated prost/tonic types by package, plus the small
//! wire-level helpers (RLIDs, topic name hashes) that client and server share.

pub mod rlid;
pub mod topic_hash;

#[allow(clippy::all, missing_docs)]
mod generated {

    pub mod mimetype {
        pub mod v1beta1 {
            include!(concat!(env!("OUT_DIR"), "/mimetype.v1beta1.rs"));
        }
    }

    pub mod region {
        pub mod v1beta1 {
            include!(concat!(env!("OUT_DIR"), "/region.v1beta1.rs"));
        }
    }

    pub mod ensign {
        pub mod v1beta1 {
            include!(concat!(env!("OUT_DIR"), "/ensign.v1beta1.rs"));
        }
    }
}

pub use ensign::v1beta1 as api;
pub use generated::{ensign, mimetype, region};
pub use prost_types::{Duration, Timestamp};

/// The encoded `FileDescriptorSet` of every `.proto` file (well-known imports included).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ensign_descriptor.bin"));
