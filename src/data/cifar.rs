//! CIFAR-10, binary version: `data_batch_1.bin` … `data_batch_5.bin` (training)
//! and `test_batch.bin`. Each record is 1 label byte (0–9) then 3072 pixel
//! bytes: the 32×32 red plane, then green, then blue (row-major). The real
//! files hold 10,000 records each; any whole, non-zero number is accepted.

use std::path::Path;

use super::error::{read_file, require_dir, CIFAR_HINT};
use super::{DataError, ImageSet};

/// The training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";
/// Channels, height and width of a CIFAR-10 image.
pub const SHAPE: (usize, usize, usize) = (3, 32, 32);
/// Bytes of one image (3 × 32 × 32).
pub const IMAGE_BYTES: usize = SHAPE.0 * SHAPE.1 * SHAPE.2;
/// Bytes of one record: the label byte and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of classes.
pub const CLASSES: usize = 10;

/// All training records of `dir` (the five batches, in file order).
pub fn read_train(dir: &Path) -> Result<ImageSet, DataError> {
    read_files(dir, &TRAIN_FILES)
}

/// The test records of `dir`.
pub fn read_test(dir: &Path) -> Result<ImageSet, DataError> {
    read_files(dir, &[TEST_FILE])
}

/// The records of `files` in `dir`, concatenated.
fn read_files(dir: &Path, files: &[&str]) -> Result<ImageSet, DataError> {
    require_dir(dir, CIFAR_HINT)?;
    let (channels, height, width) = SHAPE;
    let mut set = ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        channels,
        height,
        width,
    };
    for name in files {
        let path = dir.join(name);
        let bytes = read_file(&path, CIFAR_HINT)?;
        append_records(&path, &bytes, &mut set)?;
    }
    Ok(set)
}

/// Check `bytes` (the contents of `path`) and append its records to `set`.
fn append_records(path: &Path, bytes: &[u8], set: &mut ImageSet) -> Result<(), DataError> {
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            size: bytes.len(),
            record: RECORD_BYTES,
        });
    }
    let n = bytes.len() / RECORD_BYTES;
    set.pixels.reserve(n * IMAGE_BYTES);
    set.labels.reserve(n);
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if usize::from(label) >= CLASSES {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                record,
                label,
                classes: CLASSES,
            });
        }
        set.labels.push(i64::from(label));
        set.pixels.extend_from_slice(&chunk[1..]);
    }
    Ok(())
}
