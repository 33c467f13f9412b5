//! A run directory as the post-search commands see it: its config, the
//! child records (a torn last line is dropped with a notice, as the store's
//! reader does), the controller updates and `final.json`, all read without
//! writing anything.

use std::path::{Path, PathBuf};

use super::final_json::{FinalReport, FINAL_FILE};
use super::PostError;
use crate::config::Config;
use crate::space::SearchSpace;
use crate::store::{top_records, ChildRecord, RunDir, CONFIG_FILE};
use crate::store::{UpdateRecord, UPDATES_FILE};

/// What a run directory holds, read once.
#[derive(Debug)]
pub struct RunView {
    /// The run directory.
    pub dir: PathBuf,
    /// The run's `config.toml`.
    pub config: Config,
    /// Every complete child record, in file order.
    pub records: Vec<ChildRecord>,
    /// Notices about what could not be read (a torn last line and the like).
    pub notices: Vec<String>,
    /// Controller updates (`updates.jsonl`; empty for random search or none yet).
    pub updates: Vec<UpdateRecord>,
    /// `final.json`, when `nas-actor retrain` has written it.
    pub final_report: Option<FinalReport>,
    /// A shared-weights run's ranking (`best.json`): the final candidates,
    /// each scored on the whole validation split under the shared weights.
    /// `None` for other runs, or before a shared run wrote it.
    pub shared_best: Option<Vec<ChildRecord>>,
}

impl RunView {
    /// Read the run in `dir`.
    pub fn open(dir: &Path) -> Result<RunView, PostError> {
        if !dir.join(CONFIG_FILE).is_file() {
            return Err(PostError::NotARun {
                path: dir.to_path_buf(),
            });
        }
        let config_path = dir.join(CONFIG_FILE);
        let config = Config::load(&config_path)?;
        let run = RunDir::open_read_only(dir)?;
        let log = run.read_children()?;
        let mut notices: Vec<String> = log.dropped_tail.into_iter().collect();
        let (updates, update_notice) = read_updates(&dir.join(UPDATES_FILE));
        notices.extend(update_notice);
        let final_report = FinalReport::read(&dir.join(FINAL_FILE))?;
        let shared_best = (config.search.weights == crate::config::Weights::Shared)
            .then(|| read_best(&dir.join(crate::store::BEST_FILE), &mut notices))
            .flatten();
        Ok(RunView {
            dir: dir.to_path_buf(),
            config,
            records: log.records,
            notices,
            updates,
            final_report,
            shared_best,
        })
    }

    /// The configured search space of the run.
    pub fn space(&self) -> Result<SearchSpace, PostError> {
        SearchSpace::from_config(&self.config).map_err(PostError::from)
    }

    /// The best distinct architectures (status ok or cached), best first.
    /// For a shared-weights run, those of `best.json` (ranked on the whole
    /// validation split, not on the few batches each child was scored on).
    pub fn top(&self, n: usize) -> Vec<&ChildRecord> {
        match &self.shared_best {
            Some(best) if !best.is_empty() => top_records(best, n),
            _ => top_records(&self.records, n),
        }
    }

    /// The `rank`-th best architecture (1 = the best); errors say how many there are.
    pub fn ranked(&self, rank: usize) -> Result<&ChildRecord, PostError> {
        let top = self.top(rank.max(1));
        if rank == 0 || top.len() < rank {
            return Err(PostError::NoArchitecture {
                path: self.dir.join(crate::store::CHILDREN_FILE),
                message: format!(
                    "asked for the architecture ranked {rank}, but the run has {} distinct architecture(s) with status ok; use a rank from 1 to {}",
                    top.len(),
                    top.len().max(1)
                ),
            });
        }
        Ok(top[rank - 1])
    }
}

/// A shared-weights run's `best.json`; `None` (with a notice when it is
/// there but does not read) otherwise.
fn read_best(path: &Path, notices: &mut Vec<String>) -> Option<Vec<ChildRecord>> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(list) => Some(list),
        Err(e) => {
            notices.push(format!(
                "{}: not a list of child records ({e}); ranking by the child log instead",
                path.display()
            ));
            None
        }
    }
}

/// Read `updates.jsonl` leniently: it is a log for pictures only, so a torn
/// last line or an unreadable line (and what follows it) is skipped with a notice.
fn read_updates(path: &Path) -> (Vec<UpdateRecord>, Option<String>) {
    let Ok(read) = crate::store::jsonl::read::<UpdateRecord>(path) else {
        return (Vec::new(), None);
    };
    let notice = match (&read.bad, &read.torn) {
        (Some(bad), _) => Some(format!(
            "{}:{}: not an update record ({}); this line and the ones after it are skipped",
            path.display(),
            bad.line,
            bad.message
        )),
        (None, Some(torn)) => Some(torn.notice(path, "the plots leave it out")),
        (None, None) => None,
    };
    (read.values, notice)
}
