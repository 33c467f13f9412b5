//! `slots.json`: where every trainer slot is now (idle, or which child at
//! which epoch), rewritten atomically by the run every few seconds. It is
//! the only part of a run's state that no log holds; readers (the
//! dashboard) take it from here and never ask the running process.

use serde::{Deserialize, Serialize};

/// The slot-state file in a run directory.
pub const SLOTS_FILE: &str = "slots.json";

/// What one trainer slot is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// The slot's label, e.g. `cuda:0#1` or `cpu#0`.
    pub label: String,
    /// `idle`, `running` or `retired`.
    pub state: String,
    /// The child it trains, when running.
    #[serde(default)]
    pub child: Option<u64>,
    /// The last epoch it started or finished (1-based), when known.
    #[serde(default)]
    pub epoch: Option<usize>,
    /// The line the terminal shows for it.
    #[serde(default)]
    pub text: String,
}

/// The content of `slots.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotsFile {
    /// When it was written, in unix seconds.
    pub written: f64,
    /// Children recorded when it was written (this process's count).
    pub done: usize,
    pub budget: usize,
    /// Epochs a child trains when nothing stops it, when known.
    #[serde(default)]
    pub child_epochs: Option<usize>,
    /// Whether the run had ended (finished or stopped) when it was written.
    #[serde(default)]
    pub ended: bool,
    pub slots: Vec<SlotStatus>,
}
