//! Helpers shared by the test modules.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether this is a CI run (`CI=true` or `CI=1`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether a test's prerequisite (data, the `.venv`, Fashion-MNIST) is there.
///
/// When it is not: under `CI=true` the test fails with `reason`; elsewhere it
/// prints `SKIPPED: <reason>` straight to stderr (past the test harness's
/// capture, so `cargo test` shows it) and the caller returns.
#[track_caller]
pub fn require(present: bool, reason: &str) -> bool {
    if present {
        return true;
    }
    if in_ci() {
        panic!("missing prerequisite (CI=true, nothing may be skipped): {reason}");
    }
    let caller = std::panic::Location::caller();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {reason} ({}:{})",
        caller.file(),
        caller.line()
    );
    false
}

/// Say that a test skips a check for a property of the machine that no
/// set-up changes (running as root, no `/dev/full`): `SKIPPED: <reason>`
/// straight to stderr, also under CI.
#[track_caller]
pub fn skip(reason: &str) {
    let caller = std::panic::Location::caller();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {reason} ({}:{})",
        caller.file(),
        caller.line()
    );
}

/// The real Penn Treebank directory, when `make setup` has written it (no message).
pub fn ptb_dir() -> Option<PathBuf> {
    let d = root().join("data/ptb");
    d.join("ptb.train.txt").exists().then_some(d)
}

/// Whether the real Penn Treebank is there for the PTB part of a test that
/// checks more than PTB; see [`require`].
#[track_caller]
pub fn require_ptb_part(what: &str) -> bool {
    require(
        ptb_dir().is_some(),
        &format!("data/ptb is missing (run `make setup`); {what} not checked"),
    )
}

/// The real Penn Treebank directory, when `make setup` has written it; see [`require`].
#[track_caller]
pub fn require_ptb() -> Option<PathBuf> {
    let d = ptb_dir();
    require(d.is_some(), "data/ptb is missing (run `make setup`)");
    d
}

/// Where the Debian package `dataset-fashion-mnist` puts Fashion-MNIST.
pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The Fashion-MNIST directory, when installed; see [`require`].
#[track_caller]
pub fn require_fashion_mnist() -> Option<PathBuf> {
    let d = Path::new(FASHION_MNIST);
    require(
        d.join("train-images-idx3-ubyte.gz").exists(),
        "Fashion-MNIST is missing (apt-get install dataset-fashion-mnist)",
    )
    .then(|| d.to_path_buf())
}

/// The `.venv` Python with torch, when it is there; see [`require`].
#[track_caller]
pub fn require_python() -> Option<PathBuf> {
    let p = root().join(".venv/bin/python");
    require(
        p.exists(),
        &format!("{} is missing (run scripts/setup.sh)", p.display()),
    )
    .then_some(p)
}
