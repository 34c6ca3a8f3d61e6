//! The content hash that says whether two results replayed the same trace, over the trace
//! file's bytes as stored (a `.csv.gz` is hashed compressed). Not cryptographic: it tells traces
//! apart, it does not defend against someone forging one.
//!
//! A result says which hash it holds by the string's prefix:
//! - `crc32:<8 hex digits>:<length in bytes>`, written since the hash became CRC-32 (IEEE, as
//!   zlib and gzip compute it; crc32fast, which uses the CPU's carry-less multiply where there
//!   is one). The length is part of it because 32 bits alone tell apart too few files.
//! - `fnv1a64:<16 hex digits>`, 64-bit FNV-1a, written by earlier versions. It hashes a byte at
//!   a time (see `benches/README.md`, "Content hash", for both speeds), so it is no longer
//!   written, but it can still be computed ([`Algorithm::Fnv1a64`]) to check a result against
//!   an old baseline ([`algorithm_of`] says which hash a string is).

use std::io::{self, Read};
use std::path::Path;

/// A hash of a file's bytes, named by the prefix of the string [`of_file`] makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// `crc32:<8 hex digits>:<byte length>`: what every result holds now.
    #[default]
    Crc32,
    /// `fnv1a64:<16 hex digits>`: what results held before; kept to check old baselines.
    Fnv1a64,
}

impl Algorithm {
    /// The prefix of the hash string, before its first `:`.
    pub const fn prefix(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "crc32",
            Algorithm::Fnv1a64 => "fnv1a64",
        }
    }
}

/// Which hash `hash` (a result's `trace.content_hash`) is, by its prefix; `None` for a string
/// of no hash this version knows.
pub fn algorithm_of(hash: &str) -> Option<Algorithm> {
    let (prefix, _) = hash.split_once(':')?;
    [Algorithm::Crc32, Algorithm::Fnv1a64].into_iter().find(|a| a.prefix() == prefix)
}

/// The file is read in pieces of this size: memory stays small whatever the trace's size, and a
/// piece is large enough that the reads cost little beside the hashing.
const CHUNK: usize = 1 << 20;

/// The hash string of the file at `path` (see the module docs), streamed in [`CHUNK`]s.
pub fn of_file(path: &Path, algorithm: Algorithm) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; CHUNK];
    let mut crc = crc32fast::Hasher::new();
    let mut fnv = Fnv1a::default();
    let mut length: u64 = 0;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match algorithm {
            Algorithm::Crc32 => crc.update(&buffer[..n]),
            Algorithm::Fnv1a64 => fnv.update(&buffer[..n]),
        }
        length += n as u64;
    }
    Ok(match algorithm {
        Algorithm::Crc32 => format!("crc32:{:08x}:{length}", crc.finalize()),
        Algorithm::Fnv1a64 => format!("fnv1a64:{:016x}", fnv.0),
    })
}

/// A running 64-bit FNV-1a hash.
#[derive(Clone, Copy, Debug)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn update(&mut self, bytes: &[u8]) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_bytes(bytes: &[u8], algorithm: Algorithm) -> String {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        of_file(file.path(), algorithm).unwrap()
    }

    #[test]
    fn crc32_matches_the_published_check_value_and_names_the_length() {
        assert_eq!(of_bytes(b"123456789", Algorithm::Crc32), "crc32:cbf43926:9");
        assert_eq!(of_bytes(b"", Algorithm::Crc32), "crc32:00000000:0");
    }

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(of_bytes(b"", Algorithm::Fnv1a64), "fnv1a64:cbf29ce484222325");
        assert_eq!(of_bytes(b"a", Algorithm::Fnv1a64), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(of_bytes(b"foobar", Algorithm::Fnv1a64), "fnv1a64:85944171f73967e8");
    }

    #[test]
    fn a_file_longer_than_a_chunk_hashes_as_its_bytes_at_once() {
        let bytes: Vec<u8> = (0..CHUNK as u64 * 2 + 3).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut fnv = Fnv1a::default();
        fnv.update(&bytes);
        assert_eq!(of_bytes(&bytes, Algorithm::Fnv1a64), format!("fnv1a64:{:016x}", fnv.0));
        let crc = crc32fast::hash(&bytes);
        assert_eq!(of_bytes(&bytes, Algorithm::Crc32), format!("crc32:{crc:08x}:{}", bytes.len()));
    }

    #[test]
    fn the_algorithm_of_a_hash_is_read_from_its_prefix() {
        assert_eq!(algorithm_of("crc32:cbf43926:9"), Some(Algorithm::Crc32));
        assert_eq!(algorithm_of("fnv1a64:b46492f9724a124e"), Some(Algorithm::Fnv1a64));
        assert_eq!(algorithm_of("sha256:00"), None);
        assert_eq!(algorithm_of("crc32"), None);
        assert_eq!(Algorithm::default(), Algorithm::Crc32);
    }
}
