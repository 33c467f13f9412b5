//! The checkpoint of a shared-weights search: the controller, its Adam and
//! learner state, the sampling RNG and the counters in `checkpoint/state.bin`
//! (written after every controller update and every `checkpoint_every` ω
//! steps), and ω in `checkpoint/omega-STEPS.bin` (written only when ω has
//! changed). `state.bin` names the ω file it goes with; ω is written first,
//! so a kill between the two writes leaves the previous pair intact, and ω
//! files that no `state.bin` names are removed once a newer pair is in place.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::child::supernet::SupernetState;
use crate::controller::{Adam, LearnerState};
use crate::store::{write_checkpoint_at, RunDir, StoreError};

/// `checkpoint/state.bin` of a shared-weights run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SharedCheckpoint {
    /// Format version of this structure.
    pub format: u32,
    /// θ, flat.
    pub controller: Vec<f32>,
    pub adam: Adam,
    pub learner: LearnerState,
    /// The RNG every architecture of the search is drawn with.
    pub rng: ChaCha8Rng,
    /// The counters and the probe.
    pub progress: Counters,
}

/// Where the search is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Rounds (ω phase, then controller phase) finished.
    pub round: u64,
    /// ω steps taken in the current round.
    pub omega_in_round: u64,
    /// ω steps taken in all (names the ω file).
    pub omega_steps: u64,
    /// Children scored (the next child's id).
    pub children: u64,
    /// Controller updates applied (θ's version).
    pub updates: u64,
    /// The next validation segment a child is scored on.
    pub valid_cursor: u64,
    /// The mean ω training loss of the last `checkpoint_every` steps.
    pub omega_loss: f64,
    /// Tokens of a fixed architecture and its per-token loss on the first
    /// validation batch under the checkpoint's ω: a resumed run scores it
    /// again and must find the same loss.
    pub probe: Option<(Vec<usize>, f64)>,
}

impl SharedCheckpoint {
    pub const FORMAT: u32 = 1;
}

/// The ω file of `steps` ω steps.
pub fn omega_path(run_dir: &RunDir, steps: u64) -> PathBuf {
    run_dir
        .file(crate::store::CHECKPOINT_DIR)
        .join(format!("omega-{steps}.bin"))
}

/// Write ω (when `omega` is given: it changed since the last write), then
/// the state that names it, then remove ω files of other steps.
pub fn write(
    run_dir: &RunDir,
    state: &SharedCheckpoint,
    omega: Option<&SupernetState>,
) -> Result<(), StoreError> {
    let steps = state.progress.omega_steps;
    if let Some(o) = omega {
        write_checkpoint_at(&omega_path(run_dir, steps), o)?;
    }
    run_dir.write_checkpoint(state)?;
    remove_other_omegas(&run_dir.file(crate::store::CHECKPOINT_DIR), steps);
    Ok(())
}

/// Read ω of `steps` steps.
pub fn read_omega(run_dir: &RunDir, steps: u64) -> Result<SupernetState, StoreError> {
    let path = omega_path(run_dir, steps);
    let bytes = std::fs::read(&path).map_err(|e| StoreError::Read {
        path: path.clone(),
        source: e,
    })?;
    crate::store::checkpoint::decode(&bytes)
        .map_err(|source| StoreError::CorruptCheckpoint { path, source })
}

/// Best effort: a file left behind is removed by the next checkpoint.
fn remove_other_omegas(dir: &Path, keep: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep = format!("omega-{keep}.bin");
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("omega-") && name.ends_with(".bin") && name != keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
