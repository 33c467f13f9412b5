//! Opening the run directory for [`run`](super::run): take the run lock
//! first (a live run is refused before anything is read or written), then
//! create the directory or, with `--resume`, read and check the child log and
//! the checkpoint before writing anything: a refused resume leaves the
//! directory as it was. Only then is a torn last log line cut off, are
//! updates newer than the checkpoint dropped from `updates.jsonl` (θ's
//! versions then continue without a repeat), and is the new config saved.

use std::collections::HashSet;
use std::path::Path;

use super::RunError;
use crate::config::Config;
use crate::search::Checkpoint;
use crate::space::SearchSpace;
use crate::store::{atomic_write, ChildRecord, RunDir, RunLock, StoreError};
use crate::store::{UpdateRecord, UPDATES_FILE};

/// An opened (and locked) run directory and what a resumed run continues from.
pub(super) struct Opened<C = Checkpoint> {
    pub run_dir: RunDir,
    pub lock: RunLock,
    /// The recorded children (empty for a new run).
    pub records: Vec<ChildRecord>,
    pub checkpoint: Option<C>,
    /// The baseline of the last controller update kept in `updates.jsonl`
    /// (what the status line shows until the next update).
    pub baseline: Option<f64>,
    /// One-line notices for the user (torn tail dropped, updates dropped, ...).
    pub notices: Vec<String>,
}

fn input(e: StoreError) -> RunError {
    RunError::RunDir(e)
}

/// Lock and open `config.experiment.output_dir`: a new run, or (with `resume`)
/// the run in it; `params` is the size of this config's controller.
pub(super) fn open(
    config: &Config,
    space: &SearchSpace,
    resume: bool,
    params: usize,
) -> Result<Opened, RunError> {
    open_with(config, space, resume, |run_dir| {
        let checkpoint: Option<Checkpoint> = run_dir.read_checkpoint().map_err(input)?;
        if let Some(c) = &checkpoint {
            if c.weights.len() != params {
                return Err(RunError::Input(format!(
                    "{}: the checkpoint holds {} controller parameters, this config's controller has {params}; resume with the run's own config",
                    run_dir.checkpoint_path().display(),
                    c.weights.len(),
                )));
            }
        }
        let version = checkpoint.as_ref().map_or(0, |c| c.version);
        Ok((checkpoint, version))
    })
}

/// [`open`] for a run whose checkpoint `read` reads and checks, returning
/// it and its θ version (the updates it holds).
pub(super) fn open_with<C>(
    config: &Config,
    space: &SearchSpace,
    resume: bool,
    read: impl FnOnce(&RunDir) -> Result<(Option<C>, u64), RunError>,
) -> Result<Opened<C>, RunError> {
    let out = &config.experiment.output_dir;
    let early = RunDir::lock_existing(out).map_err(input)?;
    let fresh = |early: Option<RunLock>, notices: Vec<String>| {
        let run_dir = RunDir::create(out, config).map_err(input)?;
        let lock = match early {
            Some(l) => l,
            None => run_dir.lock().map_err(input)?,
        };
        Ok(Opened {
            run_dir,
            lock,
            records: Vec::new(),
            checkpoint: None,
            baseline: None,
            notices,
        })
    };
    if !resume {
        return fresh(early, Vec::new());
    }
    let mut run_dir = match RunDir::open_existing(out, config) {
        Ok(d) => d,
        Err(StoreError::NotARun { .. }) if RunDir::holds_no_run(out) => {
            let notice = format!(
                "resume: {} holds no run yet (a start stopped before it wrote its config): starting a new run",
                out.display()
            );
            return fresh(early, vec![notice]);
        }
        Err(e) => return Err(input(e)),
    };
    let lock = match early {
        Some(l) => l,
        None => run_dir.lock().map_err(input)?,
    };
    let log = run_dir.read_children().map_err(input)?;
    check_records(&log.records, &log.lines, space, run_dir.path())?;
    let (checkpoint, version) = read(&run_dir)?;
    let updates_path = run_dir.file(UPDATES_FILE);
    let (kept, baseline) = updates_until(&updates_path, version)?;

    // Everything is checked: now repair and save.
    let mut notices = Vec::new();
    if let Some(tail) = log.dropped_tail {
        notices.push(format!(
            "resume: dropped a last log line cut short by the stop: {tail}"
        ));
        run_dir.repair_tail().map_err(input)?;
    }
    if let Some((bytes, dropped)) = kept {
        atomic_write(&updates_path, &bytes).map_err(input)?;
        if dropped > 0 {
            notices.push(format!(
                "resume: dropped {dropped} update(s) from {} newer than the checkpoint (θ version {version}); they are made anew",
                updates_path.display()
            ));
        }
    }
    run_dir.write_config(config).map_err(input)?;
    Ok(Opened {
        run_dir,
        lock,
        records: log.records,
        checkpoint,
        baseline,
        notices,
    })
}

/// What [`updates_until`] keeps: the bytes and dropped count when anything
/// must be cut, and the baseline of the last update kept.
type Kept = (Option<(Vec<u8>, usize)>, Option<f64>);

/// The lines of `updates.jsonl` up to θ `version`, when anything must be cut:
/// the bytes to keep and how many complete updates were dropped; and the
/// baseline of the last update kept. Updates
/// past the checkpoint were applied by a run killed before it wrote its
/// checkpoint; a torn last line is dropped too. A line before the last that
/// does not parse is an error (edited by hand).
fn updates_until(path: &Path, version: u64) -> Result<Kept, RunError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(e) => {
            return Err(input(StoreError::Read {
                path: path.to_path_buf(),
                source: e,
            }))
        }
    };
    let read = crate::store::jsonl::parse::<UpdateRecord>(&bytes);
    if let Some(bad) = read.bad {
        return Err(RunError::Input(format!(
            "{}:{}: not an update record ({}); edited by hand? fix or delete that line, then resume",
            path.display(),
            bad.line,
            bad.message
        )));
    }
    // Keep the updates up to θ `version`; a torn last line is dropped too.
    let within = read
        .values
        .iter()
        .take_while(|u| u.version <= version)
        .count();
    let keep = if within == 0 {
        0
    } else {
        read.ends[within - 1] as usize
    };
    let dropped = read.values.len() - within;
    let baseline = within.checked_sub(1).map(|i| read.values[i].baseline);
    Ok((
        (keep < bytes.len()).then(|| (bytes[..keep].to_vec(), dropped)),
        baseline,
    ))
}

/// Child ids are below this (2^48): no budget comes near it, and ids after
/// it cannot run out.
const MAX_CHILD_ID: u64 = 1 << 48;

/// The records of a resumed run must have unique ids and finite rewards,
/// fit the space, and have the tokens of their architecture; what does not
/// is refused with its line number (`lines[i]` is record `i`'s).
fn check_records(
    records: &[ChildRecord],
    lines: &[usize],
    space: &SearchSpace,
    dir: &Path,
) -> Result<(), RunError> {
    let mut seen = HashSet::new();
    let log = dir.join(crate::store::CHILDREN_FILE);
    for (i, r) in records.iter().enumerate() {
        let at = format!(
            "{}:{}",
            log.display(),
            lines.get(i).copied().unwrap_or(i + 1)
        );
        if r.spec.id >= MAX_CHILD_ID {
            return Err(RunError::Input(format!(
                "{at}: child id {} is beyond any budget (ids count from 0); the log was edited by hand — fix or delete that line, then resume",
                r.spec.id
            )));
        }
        if !seen.insert(r.spec.id) {
            return Err(RunError::Input(format!(
                "{at}: child id {} appears twice; the log was edited by hand — restore it or start a new run",
                r.spec.id
            )));
        }
        // The tool records a failure's reward, never a non-finite one; the
        // controller's update would refuse it as a broken reward function.
        if !r.reward.is_finite() {
            return Err(RunError::Input(format!(
                "{at}: child {}: reward {} is not a finite number; the log was edited by hand — fix or delete that line, then resume",
                r.spec.id,
                crate::format::reward(r.reward)
            )));
        }
        if let Err(e) = space.check(&r.spec.arch) {
            return Err(RunError::Input(format!(
                "{at}: child {}: {e}; the log does not belong to this config's space",
                r.spec.id
            )));
        }
        if space.encode(&r.spec.arch).ok().as_ref() != Some(&r.spec.tokens) {
            return Err(RunError::Input(format!(
                "{at}: child {}: its tokens are not its architecture's; the log was edited by hand — fix or delete that line, then resume",
                r.spec.id
            )));
        }
    }
    Ok(())
}

/// Ids below `next_id` and below `budget` that no record has: children a
/// stopped run had reserved but not recorded. A resumed run hands them out first.
pub(super) fn unused_ids(records: &[ChildRecord], budget: usize) -> Vec<u64> {
    let used: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    let next_id = records
        .iter()
        .map(|r| r.spec.id.saturating_add(1))
        .max()
        .unwrap_or(0);
    (0..next_id.min(budget as u64))
        .filter(|id| !used.contains(id))
        .collect()
}
