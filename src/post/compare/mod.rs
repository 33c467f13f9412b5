//! `nas-actor compare RUN_DIR…`: which strategy is ahead at this budget, on
//! the user's own problem. For every run, the best validation metric so far
//! (in the metric's direction) against children recorded and against compute
//! spent (child-epochs when every run's children report epochs, else child
//! seconds); runs of the same strategy and config (up to seed, name and
//! output directory) form a group, drawn as its mean with a min–max band.
//! Writes `compare_children.{png,svg}`, `compare_compute.{png,svg}` and
//! `compare.md` (mean ± sample standard deviation of each group at 25, 50
//! and 100 % of the budget) into the output directory.

mod curves;
mod picture;
mod table;

use std::path::{Path, PathBuf};

pub use curves::{best_so_far, label as strategy_label, Axis, Curve, Group};

use super::report::picture::save;
use super::{PostError, RunView};
use crate::store::atomic_write;

/// The budget fractions of the table.
pub const FRACTIONS: [f64; 3] = [0.25, 0.5, 1.0];

/// What `compare` wrote and says.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareSummary {
    pub files: Vec<PathBuf>,
    /// The table, also the body of `compare.md`.
    pub table: String,
}

/// Read the runs in `dirs` and write the comparison into `out`.
pub fn compare(dirs: &[PathBuf], out: &Path) -> Result<CompareSummary, PostError> {
    if dirs.is_empty() {
        return Err(PostError::Compare(
            "give at least one run directory to compare".into(),
        ));
    }
    let mut views = Vec::with_capacity(dirs.len());
    for d in dirs {
        views.push(RunView::open(d)?);
    }
    let groups = curves::groups(&views)?;
    std::fs::create_dir_all(out).map_err(|e| PostError::write(out, e))?;
    let metric = crate::task::Metric::of(&views[0].config);
    let mut files = Vec::new();
    for axis in [Axis::Children, curves::compute_axis(&views)] {
        let pic = picture::ComparePicture::new(&groups, axis, &metric);
        let stem = match axis {
            Axis::Children => "compare_children",
            _ => "compare_compute",
        };
        files.extend(save(&pic, out, stem)?);
    }
    let table = table::render(&groups, &metric);
    let md = out.join("compare.md");
    let text = format!(
        "# Compare: best validation {} so far\n\n{table}\n![against children](compare_children.png)\n\n![against compute](compare_compute.png)\n",
        metric.name
    );
    atomic_write(&md, text.as_bytes())?;
    files.push(md);
    Ok(CompareSummary { files, table })
}
