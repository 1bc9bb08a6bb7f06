//! RLIDs: the 10-byte, time-ordered event ids that Ensign assigns (48-bit Unix ms,
//! 32-bit sequence, both big-endian) and their 16-character lowercase Crockford form.
//! Pure functions; shared by the client and the local server.

use std::fmt;

/// Lowercase Crockford base32, as the Go server and pyensign print RLIDs.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A 10-byte RLID. Byte order is also sort order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rlid(pub [u8; 10]);

impl Rlid {
    /// Builds an RLID from milliseconds since the Unix epoch and a sequence number.
    pub fn new(ms: u64, seq: u32) -> Self {
        let mut b = [0u8; 10];
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        b[6..].copy_from_slice(&seq.to_be_bytes());
        Rlid(b)
    }

    /// Parses the raw 10 bytes; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 10]>::try_from(b).ok().map(Rlid)
    }

    /// Milliseconds since the Unix epoch.
    pub fn ms(&self) -> u64 {
        let mut t = [0u8; 8];
        t[2..].copy_from_slice(&self.0[..6]);
        u64::from_be_bytes(t)
    }

    /// The sequence number.
    pub fn seq(&self) -> u32 {
        u32::from_be_bytes([self.0[6], self.0[7], self.0[8], self.0[9]])
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }

    /// Parses the 16-character string form (case-insensitive).
    pub fn parse_str(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 16 {
            return None;
        }
        let mut acc: u128 = 0;
        for &c in s {
            let c = c.to_ascii_lowercase();
            let v = ALPHABET.iter().position(|&a| a == c)? as u128;
            acc = (acc << 5) | v;
        }
        let mut b = [0u8; 10];
        b.copy_from_slice(&acc.to_be_bytes()[6..]);
        Some(Rlid(b))
    }
}

impl fmt::Display for Rlid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 80 bits are exactly 16 groups of 5 bits.
        let mut acc = [0u8; 16];
        acc[6..].copy_from_slice(&self.0);
        let v = u128::from_be_bytes(acc);
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = ALPHABET[((v >> (5 * (15 - i))) & 0x1f) as usize];
        }
        f.write_str(std::str::from_utf8(&out).expect("alphabet is ascii"))
    }
}

impl fmt::Debug for Rlid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rlid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        let r = Rlid::new(1_700_000_000_000, 1);
        assert_eq!(
            r.0,
            [0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x00, 0x01]
        );
        assert_eq!(r.to_string(), "065wzsb800000001");
        assert_eq!(Rlid::parse_str("065wzsb800000001"), Some(r));
        assert_eq!(Rlid::parse_str("065WZSB800000001"), Some(r));
        assert_eq!(r.ms(), 1_700_000_000_000);
        assert_eq!(r.seq(), 1);
    }

    #[test]
    fn ordering_follows_time_then_sequence() {
        assert!(Rlid::new(5, 9) < Rlid::new(6, 0));
        assert!(Rlid::new(5, 1) < Rlid::new(5, 2));
        assert!(Rlid::from_slice(&[0u8; 9]).is_none());
        assert!(Rlid::parse_str("065wzsb80000000u").is_none());
    }
}
