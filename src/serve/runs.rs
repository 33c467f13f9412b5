//! A served run directory, kept in memory and brought up to date from its
//! files when asked (at most every [`REFRESH`]): new lines of
//! `children.jsonl` and `updates.jsonl`, and `summary.json` and `slots.json`
//! read again when they changed. Nothing is ever written.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::guard::{open_inside, read_inside};
use super::tail::Tail;
use super::tally::Tally;
use crate::config::Config;
use crate::store::UPDATES_FILE;
use crate::store::{ChildRecord, SlotsFile, CHILDREN_FILE, CONFIG_FILE, SLOTS_FILE};
use crate::task::Metric;

/// How stale the in-memory copy may be before a request reads the files again.
pub const REFRESH: Duration = Duration::from_millis(250);
/// The largest config, summary or slot file read.
const MAX_SMALL_FILE: u64 = 16 << 20;
/// Notices kept (the oldest go first).
const MAX_NOTICES: usize = 20;

/// The fields of one `updates.jsonl` line the dashboard shows.
#[derive(Debug, Clone, Deserialize)]
pub struct UpdateLine {
    pub version: u64,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub loss: Option<f64>,
}

/// The fields of `summary.json` the dashboard shows (written when a run ends).
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryLine {
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default)]
    pub wall_seconds: Option<f64>,
    #[serde(default)]
    pub slot_utilisation: Option<f64>,
    #[serde(default)]
    pub forced_end: Option<String>,
}

/// One run directory as the dashboard holds it.
#[derive(Debug)]
pub struct Run {
    /// The directory's real path (every file read must lie under it).
    pub root: PathBuf,
    /// The directory as the user named it.
    pub shown: PathBuf,
    /// The run's config, once `config.toml` is there.
    pub config: Option<Config>,
    /// Every child record read so far, in log order.
    pub records: Vec<ChildRecord>,
    /// Every controller update read so far.
    pub updates: Vec<UpdateLine>,
    /// `summary.json`, and whether it is newer than the child log (the run ended).
    pub summary: Option<(SummaryLine, bool)>,
    /// `slots.json`, when the run writes it.
    pub slots: Option<SlotsFile>,
    /// Counts, the best child and table rows over `records`.
    pub tally: Tally,
    /// What could not be read.
    pub notices: Vec<String>,
    /// Bumped whenever the records were read again from the start, so
    /// clients holding a copy drop it.
    pub generation: u64,
    children: Tail,
    updates_tail: Tail,
    summary_seen: Option<SystemTime>,
    slots_seen: Option<SystemTime>,
    refreshed: Option<Instant>,
}

impl Run {
    /// The run in `dir` (its real path `root`), read at the first refresh.
    pub fn new(shown: &Path, root: &Path) -> Run {
        Run {
            root: root.to_path_buf(),
            shown: shown.to_path_buf(),
            config: None,
            records: Vec::new(),
            updates: Vec::new(),
            summary: None,
            slots: None,
            tally: Tally::default(),
            notices: Vec::new(),
            generation: 0,
            children: Tail::new(root, CHILDREN_FILE),
            updates_tail: Tail::new(root, UPDATES_FILE),
            summary_seen: None,
            slots_seen: None,
            refreshed: None,
        }
    }

    /// The run's name: its config's `experiment.name`, else the directory's name.
    pub fn name(&self) -> String {
        match &self.config {
            Some(c) => c.experiment.name.clone(),
            None => self.shown.file_name().map_or_else(
                || self.shown.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }

    /// The metric the run's children report (the synthetic one until the config is read).
    pub fn metric(&self) -> Metric {
        self.config
            .as_ref()
            .map_or_else(Metric::synthetic, Metric::of)
    }

    /// Read what changed on disk, unless that was done less than [`REFRESH`] ago.
    pub fn refresh(&mut self) {
        if self.refreshed.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.refreshed = Some(Instant::now());
        if self.config.is_none() {
            self.read_config();
            if self.config.is_some() {
                self.retally();
            }
        }
        let grown = self.children.read::<ChildRecord>();
        if grown.restarted {
            self.records.clear();
            self.generation += 1;
            self.retally();
        }
        for r in grown.values {
            self.records.push(r);
            self.tally.add(&self.records, self.records.len() - 1);
        }
        for (line, why) in grown.bad {
            self.notice(format!(
                "{CHILDREN_FILE}:{line}: not a child record ({why}); skipped"
            ));
        }
        let grown = self.updates_tail.read::<UpdateLine>();
        if grown.restarted {
            self.updates.clear();
        }
        self.updates.extend(grown.values);
        for (line, why) in grown.bad {
            self.notice(format!(
                "{UPDATES_FILE}:{line}: not an update record ({why}); skipped"
            ));
        }
        if let Some(s) = self.reread::<SummaryLine>(SUMMARY_FILE, Which::Summary) {
            self.summary = Some((s, false));
        }
        if let Some((_, ended)) = &mut self.summary {
            // A summary older than the last child is the end of an earlier
            // part of a resumed run.
            *ended = match (self.summary_seen, modified(&self.root, CHILDREN_FILE)) {
                (Some(s), Some(c)) => s >= c,
                _ => true,
            };
        }
        if let Some(s) = self.reread::<SlotsFile>(SLOTS_FILE, Which::Slots) {
            self.slots = Some(s);
        }
    }

    /// Count every record again (the epochs per child became known, or the log restarted).
    fn retally(&mut self) {
        self.tally = Tally::new(self.config.as_ref().and_then(|c| c.child_epochs()));
        for i in 0..self.records.len() {
            self.tally.add(&self.records, i);
        }
    }

    fn read_config(&mut self) {
        let Ok(bytes) = read_inside(&self.root, Path::new(CONFIG_FILE), MAX_SMALL_FILE) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        match Config::from_toml(&text, &self.shown.join(CONFIG_FILE)) {
            Ok(c) => self.config = Some(c),
            Err(e) => self.notice(format!("{CONFIG_FILE} does not load: {e}")),
        }
    }

    /// `name` parsed again when its modification time changed.
    fn reread<T: serde::de::DeserializeOwned>(&mut self, name: &str, which: Which) -> Option<T> {
        let time = modified(&self.root, name)?;
        let seen = match which {
            Which::Summary => &mut self.summary_seen,
            Which::Slots => &mut self.slots_seen,
        };
        if *seen == Some(time) {
            return None;
        }
        let bytes = read_inside(&self.root, Path::new(name), MAX_SMALL_FILE).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => {
                *seen = Some(time);
                Some(v)
            }
            // Written atomically, so a bad file is not a partial write: say so once.
            Err(e) => {
                if seen.is_none() {
                    *seen = Some(time);
                    self.notice(format!("{name} does not parse ({e})"));
                }
                None
            }
        }
    }

    fn notice(&mut self, line: String) {
        if self.notices.len() >= MAX_NOTICES {
            self.notices.remove(0);
        }
        self.notices.push(line);
    }
}

/// The summary a finished run writes.
pub const SUMMARY_FILE: &str = "summary.json";

enum Which {
    Summary,
    Slots,
}

/// When `name` inside `root` was last modified (None when it is not there).
fn modified(root: &Path, name: &str) -> Option<SystemTime> {
    open_inside(root, Path::new(name))
        .ok()?
        .metadata()
        .ok()?
        .modified()
        .ok()
}
