//! [`DataError`]: every way the data on disk can be missing or wrong, each
//! message naming the file (or directory) and, where it helps, the fix.

use std::path::PathBuf;

/// How to get Penn Treebank onto this machine.
pub const PTB_HINT: &str = "run `make setup` (writes data/ptb from the `treebank` Python package)";
/// How to get Fashion-MNIST onto this machine.
pub const IDX_HINT: &str = "apt-get install dataset-fashion-mnist (IDX files under \
     /usr/share/datasets/fashion-mnist), or point data.dir at a folder of MNIST-format IDX \
     files (plain or .gz)";
/// How to get CIFAR-10 onto this machine.
pub const CIFAR_HINT: &str = "download the CIFAR-10 binary version and point data.dir at the \
     folder with data_batch_1.bin";

/// Data that is missing, unreadable or malformed. Every variant names the file
/// (or directory, or config key) it is about.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data directory does not exist.
    #[error("data directory {path} not found; to get the data, {hint}")]
    MissingDir { path: PathBuf, hint: &'static str },

    /// A file the data set needs is not in the data directory.
    #[error("data file {path} not found; to get the data, {hint}")]
    MissingFile { path: PathBuf, hint: &'static str },

    /// A file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `.gz` file is not valid gzip (corrupt or truncated).
    #[error("{path}: not a valid gzip file ({source}); re-download or unpack it")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A text file is not valid UTF-8.
    #[error("{path}: not UTF-8 text (byte {offset}); expected a Penn Treebank text file")]
    NotText { path: PathBuf, offset: usize },

    /// A text file holds no words.
    #[error("{path}: the file holds no words; {PTB_HINT}")]
    EmptyText { path: PathBuf },

    /// A validation or test word that the training vocabulary lacks.
    #[error(
        "{path}, line {line}: word `{word}` is not in the training vocabulary \
         (Penn Treebank maps rare words to <unk>; is this the right file?)"
    )]
    UnknownWord {
        path: PathBuf,
        line: usize,
        word: String,
    },

    /// A file that holds no records at all.
    #[error("{path}: the file is empty (0 bytes); re-download it")]
    EmptyFile { path: PathBuf },

    /// A CIFAR-10 file whose size is not a whole number of records.
    #[error(
        "{path}: size {size} bytes is not a multiple of the {record}-byte CIFAR-10 record \
         (1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch"
    )]
    RecordSize {
        path: PathBuf,
        size: usize,
        record: usize,
    },

    /// A label outside `0..classes`.
    #[error("{path}, record {record} (0-based): label {label} is out of range 0..{classes}")]
    BadLabel {
        path: PathBuf,
        record: usize,
        label: u8,
        classes: usize,
    },

    /// An IDX file whose magic number is not the expected one.
    #[error(
        "{path}: bad IDX magic number {found:#010x}, expected {expected:#010x} ({what}); \
         the file is not an MNIST-format {what} file"
    )]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },

    /// An IDX file whose header or payload size is inconsistent.
    #[error("{path}: malformed IDX file: {problem}")]
    BadIdx { path: PathBuf, problem: String },

    /// Image and label files that disagree on the number of examples.
    #[error(
        "{images} holds {n_images} images but {labels} holds {n_labels} labels; \
         the two files must come from the same set"
    )]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },

    /// `data.val_size` leaves no training images.
    #[error(
        "data.val_size = {val_size} but {dir} holds only {available} training images; \
         set data.val_size below {available}"
    )]
    ValSize {
        dir: PathBuf,
        val_size: usize,
        available: usize,
    },

    /// `data.val_size` is zero for an image data set (no validation images).
    #[error("data.val_size = 0 leaves no validation images for {dir}; set it to at least 1")]
    NoValidation { dir: PathBuf },

    /// An image loader was asked for a text data set.
    #[error("data.dataset = \"ptb\" is text, not images (data.dir = {dir})")]
    NotImages { dir: PathBuf },
}

impl DataError {
    /// An [`DataError::Io`] for `path`, or [`DataError::MissingFile`] when it does not exist.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error, hint: &'static str) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::MissingFile {
                path: path.to_path_buf(),
                hint,
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// `Ok(())` when `dir` is a directory, else [`DataError::MissingDir`] with `hint`.
pub(crate) fn require_dir(dir: &std::path::Path, hint: &'static str) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::MissingDir {
            path: dir.to_path_buf(),
            hint,
        })
    }
}

/// Read a whole file; a missing file becomes [`DataError::MissingFile`] with `hint`.
pub(crate) fn read_file(path: &std::path::Path, hint: &'static str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(path, e, hint))
}
