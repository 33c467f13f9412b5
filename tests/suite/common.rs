//! Helpers shared by the test modules.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real Penn Treebank directory, when `make setup` has written it.
pub fn ptb_dir() -> Option<PathBuf> {
    let d = root().join("data/ptb");
    d.join("ptb.train.txt").exists().then_some(d)
}
