//! The content hash that says whether two results replayed the same trace: 64-bit FNV-1a over
//! the trace file's bytes (as stored: a `.csv.gz` is hashed compressed). Not cryptographic; it
//! tells traces apart, it does not defend against someone forging one.

use std::io::Read;
use std::path::Path;

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running FNV-1a hash.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET_BASIS)
    }
}

impl Fnv1a {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        self.0 = h;
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// `fnv1a64:` and the 16 hex digits of the hash of `bytes`.
pub fn label(hash: u64) -> String {
    format!("fnv1a64:{hash:016x}")
}

/// The labelled hash of the file at `path`, read in 1 MiB pieces.
pub fn of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Fnv1a::default();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash.update(&buffer[..n]);
    }
    Ok(label(hash.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        let of = |s: &str| {
            let mut h = Fnv1a::default();
            h.update(s.as_bytes());
            h.finish()
        };
        assert_eq!(of(""), 0xcbf29ce484222325);
        assert_eq!(of("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(of("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn hashing_in_pieces_is_hashing_at_once() {
        let mut a = Fnv1a::default();
        a.update(b"hello, ");
        a.update(b"world");
        let mut b = Fnv1a::default();
        b.update(b"hello, world");
        assert_eq!(a.finish(), b.finish());
    }
}
