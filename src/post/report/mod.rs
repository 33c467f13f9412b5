//! `nas-actor report`: pictures and a Markdown report of a run, written into
//! `RUN_DIR/report/`:
//!
//! | file | what |
//! |---|---|
//! | `rewards.png`, `rewards.svg` | reward per child (colour = replica), moving average, best so far |
//! | `choices.png`, `choices.svg` | share of each option per decision type over the run |
//! | `best_arch.png`, `best_arch.svg`, `best_arch.dot` | the best architecture drawn (CNN layer graph or cell tree) |
//! | `report.md` | the pictures, the top architectures, and the final results against the paper's |
//!
//! Works on a run still going: it reads what is there (a torn last log
//! line is dropped with a notice) and writes only into `report/`.

mod choices;
pub mod drawing;
mod markdown;
pub(crate) mod picture;
mod rewards;

use std::path::PathBuf;

pub use choices::{ChoicePicture, Panel};
pub use picture::Picture;
pub use rewards::{moving_window, RewardPicture};

use super::{PostError, RunView};
use crate::child::ChildStatus;
use crate::store::atomic_write;

/// The report directory inside a run directory.
pub const REPORT_DIR: &str = "report";
/// Architectures listed in the report's table.
pub const TABLE_ROWS: usize = 10;

/// What `report` wrote and what it says in short.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// `RUN_DIR/report`.
    pub dir: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// A few lines for the terminal.
    pub lines: Vec<String>,
}

/// Children per status: (ok, cached, failed, diverged); stopped ones are in [`compute_line`].
pub fn status_counts(view: &RunView) -> (usize, usize, usize, usize) {
    let count = |s: ChildStatus| view.records.iter().filter(|r| r.status == s).count();
    (
        count(ChildStatus::Ok),
        count(ChildStatus::Cached),
        count(ChildStatus::Failed),
        count(ChildStatus::Diverged),
    )
}

/// The compute line: child-epochs run against what the budget would have
/// cost without early stopping (child seconds when children have no epochs).
pub fn compute_line(view: &RunView) -> String {
    let epochs = view.config.child_epochs();
    let c = crate::search::Compute::of(&view.records, epochs);
    match epochs {
        Some(_) => format!(
            "- compute: {} child-epochs run for {} trained children, of {} without early stopping ({} stopped, {:.1} % saved); {:.0} child seconds",
            c.child_epochs,
            c.trained,
            c.child_epochs_full,
            c.stopped,
            100.0 * c.saved_share(),
            c.child_seconds
        ),
        None => format!(
            "- compute: {:.1} child seconds for {} trained children (they report no epochs)",
            c.child_seconds, c.trained
        ),
    }
}

/// Write the report of `view` (see the module doc).
pub fn report(view: &RunView) -> Result<ReportSummary, PostError> {
    let dir = view.dir.join(REPORT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| PostError::write(&dir, e))?;
    let mut files = Vec::new();
    files.extend(picture::save(
        &RewardPicture::new(&view.records),
        &dir,
        "rewards",
    )?);
    files.extend(picture::save(
        &ChoicePicture::new(&view.records, &view.config),
        &dir,
        "choices",
    )?);
    let best = view.top(1).first().copied();
    if let Some(b) = best {
        let title = format!(
            "Best architecture: child {}, reward {}",
            b.spec.id,
            crate::format::reward(b.reward)
        );
        let (scene, dot) = drawing::draw(&b.spec.arch, &title);
        files.extend(picture::save(&scene, &dir, "best_arch")?);
        let dot_path = dir.join("best_arch.dot");
        atomic_write(&dot_path, dot.as_bytes())?;
        files.push(dot_path);
    }
    let md_path = dir.join("report.md");
    atomic_write(&md_path, markdown::render(view).as_bytes())?;
    files.push(md_path.clone());

    let (ok, cached, failed, diverged) = status_counts(view);
    let mut lines = vec![format!(
        "{}: {} children recorded ({ok} ok, {cached} cached, {failed} failed, {diverged} diverged) of a budget of {}",
        view.config.experiment.name,
        view.records.len(),
        view.config.experiment.budget
    )];
    lines.push(compute_line(view).trim_start_matches("- ").to_string());
    lines.extend(view.notices.iter().map(|n| format!("note: {n}")));
    match best {
        Some(b) => lines.push(b.best_line(&crate::task::Metric::of(&view.config))),
        None => lines.push("no architecture with status ok yet".into()),
    }
    if let Some(f) = &view.final_report {
        lines.push(format!(
            "final: test {} {:.4} ({} parameters){}",
            f.metric,
            f.test.metric,
            f.selected.params,
            f.baseline_test
                .map(|t| format!("; LSTM baseline {:.4}", t.metric))
                .unwrap_or_default()
        ));
    }
    lines.push(format!("report: {}", md_path.display()));
    Ok(ReportSummary { dir, files, lines })
}
