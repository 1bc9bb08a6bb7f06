//! Topic name hashes: murmur3 x64 128-bit (seed 0) of the name, as 16 bytes (h1 then h2,
//! both big-endian), shown on the wire as unpadded base64url. Also used for consumer
//! group ids derived from a name.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The 16-byte murmur3 hash of a topic name.
pub fn topic_name_hash(name: &str) -> [u8; 16] {
    let v = murmur3::murmur3_x64_128(&mut name.as_bytes(), 0).expect("reading a slice cannot fail");
    // The crate packs h2 into the high and h1 into the low 64 bits.
    let h1 = v as u64;
    let h2 = (v >> 64) as u64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_be_bytes());
    out[8..].copy_from_slice(&h2.to_be_bytes());
    out
}

/// The hash in its wire form: 22 characters of unpadded base64url.
pub fn topic_name_hash_str(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(topic_name_hash(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sdk_vectors() {
        assert_eq!(
            topic_name_hash_str("testing.topics.topica"),
            "IdTcxHgZmlLM8oBj_YytLw"
        );
        assert_eq!(
            topic_name_hash_str("testing.topics.topicb"),
            "F7x4fhbO4EhHVNDmBjMRIQ"
        );
        assert_eq!(
            topic_name_hash_str("testing.topics.topicc"),
            "YuxuzM--ndLwlQX0kqnOBw"
        );
    }
}
