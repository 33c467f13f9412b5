//! Inputs no hand-written case covers, tried by property tests: a trial's
//! stdout (arbitrary bytes, huge lines, invalid UTF-8, deeply nested JSON,
//! numbers beyond f64, no final newline, a million progress lines), the child
//! and update logs edited by hand or cut anywhere before `--resume`, every
//! key of `[space.custom]` with arbitrary TOML values, and the architecture
//! JSON of `train --arch` and `nas-actor child FILE`. None may panic; an
//! error names the place (file, line, key); when the input is a file, nothing
//! of the run is lost. Each test writes how many inputs it tried to its
//! figures (RELIABILITY.md).

mod arch;
mod logs;
mod space;
mod stdout;

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};

use super::*;

/// Check `property` on `cases` inputs drawn from `strategy` (shrinking a
/// failure to a small input, which is then shown); returns how many inputs
/// were tried. `PROPTEST_CASES` in the environment overrides `cases` (a
/// longer hunt: `PROPTEST_CASES=2000 cargo test --test suite reliability::inputs`).
pub(super) fn tried<S>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> usize
where
    S: Strategy,
    S::Value: Debug,
{
    let count = AtomicUsize::new(0);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let result = runner.run(&strategy, |v| {
        count.fetch_add(1, Ordering::Relaxed);
        property(v)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    count.into_inner()
}

/// An error and its causes, one line (what `nas-actor` prints).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s += &format!(": {c}");
        source = c.source();
    }
    s
}
