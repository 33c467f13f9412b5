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
        Ok(RunView {
            dir: dir.to_path_buf(),
            config,
            records: log.records,
            notices,
            updates,
            final_report,
        })
    }

    /// The configured search space of the run.
    pub fn space(&self) -> Result<SearchSpace, PostError> {
        SearchSpace::from_config(&self.config).map_err(PostError::from)
    }

    /// The best distinct architectures (status ok or cached), best first.
    pub fn top(&self, n: usize) -> Vec<&ChildRecord> {
        top_records(&self.records, n)
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
