//! `nas-actor compare RUN_DIR…`: which strategy is ahead at this budget, on
//! the user's own problem. For every run, the best validation metric so far
//! (in the metric's direction) against children recorded and against compute
//! spent (child-epochs when every run's children report epochs, else child
//! seconds); runs form groups ([`GroupBy`]: by default, runs whose configs
//! differ only in per-run values — seed, name, output directory, paths in
//! the trial's environment), each drawn as its mean with a min–max band.
//! The legend has one entry per group, at most [`picture::LEGEND_MAX`]
//! (the table lists every group); the y-axis spans where the curves are
//! after the first [`picture::Y_FROM`] of the horizontal axis.
//! Writes `compare_children.{png,svg}`, `compare_compute.{png,svg}` and
//! `compare.md` (mean ± sample standard deviation of each group at 25, 50
//! and 100 % of the budget) into the output directory.

mod curves;
mod picture;
mod table;

use std::path::{Path, PathBuf};

pub use curves::{best_so_far, label as strategy_label, Axis, Curve, Group, GroupBy};
pub use picture::{ComparePicture, LEGEND_MAX, Y_FROM};

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
    /// The groups formed, one line each (label, runs, directories).
    pub groups: Vec<String>,
    /// Entries in the legend of each picture (children, compute).
    pub legend_entries: Vec<usize>,
}

/// Read the runs in `dirs` and write the comparison into `out`.
pub fn compare(dirs: &[PathBuf], out: &Path, by: &GroupBy) -> Result<CompareSummary, PostError> {
    if dirs.is_empty() {
        return Err(PostError::Compare(
            "give at least one run directory to compare".into(),
        ));
    }
    let mut views = Vec::with_capacity(dirs.len());
    for d in dirs {
        views.push(RunView::open(d)?);
    }
    let groups = curves::groups(&views, by)?;
    std::fs::create_dir_all(out).map_err(|e| PostError::write(out, e))?;
    let metric = crate::task::Metric::of(&views[0].config);
    let mut files = Vec::new();
    let mut legend_entries = Vec::new();
    for axis in [Axis::Children, curves::compute_axis(&views)] {
        let pic = picture::ComparePicture::new(&groups, axis, &metric);
        legend_entries.push(pic.legend_entries());
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
    let mut formed = vec![format!(
        "{} group(s) of {} run(s), grouped by {}:",
        groups.len(),
        dirs.len(),
        by.describe()
    )];
    for (i, g) in groups.iter().enumerate() {
        let dirs: Vec<String> = g.runs.iter().map(|r| r.dir.display().to_string()).collect();
        let shown = if dirs.len() > 3 {
            format!("{}, … ({} more)", dirs[..3].join(", "), dirs.len() - 3)
        } else {
            dirs.join(", ")
        };
        formed.push(format!(
            "  {}. {} — {} run(s): {shown}",
            i + 1,
            g.label,
            g.runs.len()
        ));
    }
    if groups.len() > LEGEND_MAX {
        formed.push(format!(
            "the plots' legends name the first {LEGEND_MAX} groups; compare.md lists all {}",
            groups.len()
        ));
    }
    Ok(CompareSummary {
        files,
        table,
        groups: formed,
        legend_entries,
    })
}
