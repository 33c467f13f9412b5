//! Tests of `data`: PTB (real when present, generated), CIFAR-10 binary batches
//! and IDX files (generated, and real Fashion-MNIST when present), the seeded
//! split, the generators' learnability, and an error naming file and problem
//! for every kind of bad data.

use std::path::{Path, PathBuf};

use nas_actor::config::{DataConfig, Dataset};
use nas_actor::data::synthetic::{write_cifar_batches, write_idx, write_text_corpus};
use nas_actor::data::{
    load, load_images, load_images_test, load_ptb, load_ptb_test, DataError, ImageSet, TaskData,
    EOS,
};

use crate::common::{require_fashion_mnist, require_ptb};

mod cifar;
mod idx;
mod text;

fn cfg(dataset: Dataset, dir: &Path, val_size: usize) -> DataConfig {
    DataConfig {
        dataset,
        dir: dir.to_path_buf(),
        val_size,
        train_limit: None,
        val_limit: None,
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The error's message, asserting it contains every one of `parts`.
fn assert_message<T: std::fmt::Debug>(result: Result<T, DataError>, parts: &[&str]) -> String {
    let message = result.expect_err("bad data must be an error").to_string();
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
    message
}

fn path_str(p: PathBuf) -> String {
    p.display().to_string()
}
