//! The binary checkpoint format of `checkpoint/state.bin`.
//!
//! Layout (little endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `NASACKPT` |
//! | 4 | format version (1) |
//! | 8 | body length in bytes |
//! | 4 | CRC-32 of the body |
//! | n | body: the value in bincode 1 (fixed-width little-endian numbers) |
//!
//! bincode writes an `f32` as its 4 bytes, so a controller of 50k
//! parameters with Adam state encodes in well under a millisecond. Like every
//! non-self-describing format it cannot decode `#[serde(untagged)]`,
//! internally tagged (`#[serde(tag = ..)]`) or `#[serde(flatten)]` types:
//! keep those (e.g. [`Architecture`](crate::space::Architecture)) out of a
//! checkpoint, or store their tokens instead.

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

/// Why bytes are not a checkpoint this build can read, or a value could not be encoded.
#[derive(Debug, Error)]
pub enum CheckpointFormatError {
    #[error("not a nas-actor checkpoint (bad magic bytes or too short)")]
    NotACheckpoint,
    #[error("checkpoint format version {found}, but this build reads version {VERSION}")]
    Version { found: u32 },
    #[error("the body has {found} bytes but the header says {header} (a torn or truncated file)")]
    Length { found: u64, header: u64 },
    #[error("checksum mismatch (header {header:08x}, content {content:08x}): the file was damaged or edited")]
    Checksum { header: u32, content: u32 },
    #[error("the content does not decode as this build's checkpoint ({0}); was it written by another version?")]
    Decode(#[source] bincode::Error),
    #[error("the value does not encode ({0})")]
    Encode(#[source] bincode::Error),
}

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"NASACKPT";
/// The layout version this build writes and reads.
const VERSION: u32 = 1;
/// Magic, version, length, checksum.
const HEADER: usize = 8 + 4 + 8 + 4;

/// Encode a value with header and checksum.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CheckpointFormatError> {
    let size = bincode::serialized_size(value).map_err(CheckpointFormatError::Encode)?;
    let mut out = Vec::with_capacity(HEADER + size as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    bincode::serialize_into(&mut out, value).map_err(CheckpointFormatError::Encode)?;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[HEADER - 4..HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Check header and checksum, then decode; the error says what is wrong.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CheckpointFormatError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(CheckpointFormatError::NotACheckpoint);
    }
    let version = u32::from_le_bytes(field(bytes, 8));
    if version != VERSION {
        return Err(CheckpointFormatError::Version { found: version });
    }
    let header = u64::from_le_bytes(field(bytes, 12));
    let body = &bytes[HEADER..];
    if body.len() as u64 != header {
        return Err(CheckpointFormatError::Length {
            found: body.len() as u64,
            header,
        });
    }
    let want = u32::from_le_bytes(field(bytes, 20));
    let got = crc32fast::hash(body);
    if want != got {
        return Err(CheckpointFormatError::Checksum {
            header: want,
            content: got,
        });
    }
    bincode::deserialize(body).map_err(CheckpointFormatError::Decode)
}

/// `N` bytes of `bytes` from `at` (the caller checked the length).
fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_floats_as_four_bytes_and_round_trips() {
        let value: (u64, Vec<f32>, Vec<f32>, Vec<f32>) = (
            7,
            (0..50_000).map(|i| i as f32 * 0.5).collect(),
            vec![1e-8; 50_000],
            vec![f32::NAN; 50_000],
        );
        let start = std::time::Instant::now();
        let bytes = encode(&value).unwrap();
        let encoded = start.elapsed();
        let back: (u64, Vec<f32>, Vec<f32>, Vec<f32>) = decode(&bytes).unwrap();
        eprintln!(
            "150k f32: encode {encoded:?}, decode {:?}",
            start.elapsed() - encoded
        );
        assert_eq!(bytes.len(), HEADER + 8 + 3 * (8 + 50_000 * 4));
        assert_eq!((back.0, &back.1, &back.2), (value.0, &value.1, &value.2));
        assert!(back.3.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn rejects_other_files_and_versions() {
        assert!(decode::<u32>(b"short")
            .unwrap_err()
            .to_string()
            .contains("not a nas-actor checkpoint"));
        let mut bytes = encode(&5u32).unwrap();
        bytes[8] = 2;
        assert!(decode::<u32>(&bytes)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
    }
}
