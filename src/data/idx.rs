//! MNIST-format IDX files (MNIST, Fashion-MNIST), each plain or gzipped
//! (`<name>.gz`; the plain file wins when both exist).
//!
//! An IDX file is a big-endian header, the magic number `0x0000_08_NN`
//! (unsigned bytes, `NN` dimensions), then `NN` 32-bit sizes, then the
//! payload. Images are `0x00000803` (count × rows × cols), labels
//! `0x00000801` (count). Labels must lie in 0..10 (the ten-class sets).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{read_file, require_dir, IDX_HINT};
use super::{DataError, ImageSet};

/// Training images.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// Magic number of an image file.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a label file.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Number of classes.
pub const CLASSES: usize = 10;

/// The training images and labels of `dir`.
pub fn read_train(dir: &Path) -> Result<ImageSet, DataError> {
    read_pair(dir, TRAIN_IMAGES, TRAIN_LABELS)
}

/// The test images and labels of `dir`.
pub fn read_test(dir: &Path) -> Result<ImageSet, DataError> {
    read_pair(dir, TEST_IMAGES, TEST_LABELS)
}

/// An image file and its label file, checked against each other.
fn read_pair(dir: &Path, images: &str, labels: &str) -> Result<ImageSet, DataError> {
    require_dir(dir, IDX_HINT)?;
    let images_path = locate(dir, images)?;
    let labels_path = locate(dir, labels)?;
    let (dims, pixels) = read_idx(&images_path, IMAGES_MAGIC, "images")?;
    let (_, label_bytes) = read_idx(&labels_path, LABELS_MAGIC, "labels")?;
    let (n_images, height, width) = (dims[0], dims[1], dims[2]);
    if n_images == 0 || height == 0 || width == 0 {
        return Err(DataError::BadIdx {
            path: images_path,
            problem: format!("no images: dimensions are {n_images}×{height}×{width}"),
        });
    }
    if n_images != label_bytes.len() {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images,
            n_labels: label_bytes.len(),
        });
    }
    let labels = label_bytes
        .iter()
        .enumerate()
        .map(|(record, &label)| {
            if usize::from(label) < CLASSES {
                Ok(i64::from(label))
            } else {
                Err(DataError::BadLabel {
                    path: labels_path.clone(),
                    record,
                    label,
                    classes: CLASSES,
                })
            }
        })
        .collect::<Result<Vec<i64>, DataError>>()?;
    Ok(ImageSet {
        pixels,
        labels,
        channels: 1,
        height,
        width,
    })
}

/// `dir/name` if it exists, else `dir/name.gz`, else a missing-file error.
fn locate(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        path: plain,
        hint: IDX_HINT,
    })
}

/// Read the IDX file `path` (gunzipping a `.gz`), check its magic number and
/// that the payload matches the header; return the dimensions and payload.
fn read_idx(
    path: &Path,
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let raw = read_file(path, IDX_HINT)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path, &raw)?
    } else {
        raw
    };
    let bad = |problem: String| DataError::BadIdx {
        path: path.to_path_buf(),
        problem,
    };
    let found = be_u32(&bytes, 0).ok_or_else(|| {
        bad(format!(
            "{} bytes, shorter than the 4-byte magic number",
            bytes.len()
        ))
    })?;
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    let dims = (0..ndims)
        .map(|d| be_u32(&bytes, 4 + 4 * d).map(|v| v as usize))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            bad(format!(
                "header truncated: {} bytes, the header alone needs {header}",
                bytes.len()
            ))
        })?;
    let shape = dims
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×");
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {shape} overflow")))?;
    let actual = bytes.len() - header;
    if actual != expected {
        return Err(bad(format!(
            "payload is {actual} bytes but the header's dimensions {shape} need {expected} \
             (file truncated or corrupt)"
        )));
    }
    let mut payload = bytes;
    payload.drain(..header);
    Ok((dims, payload))
}

/// The big-endian u32 at `offset`, if the bytes are there.
fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Decompress the gzip bytes `raw` read from `path`.
fn gunzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}
