//! `[child.command]`: children that are the user's own program (a trial
//! command), run once per sampled architecture, or as one long-lived
//! process per slot that serves a child per request (`persistent`), by
//! [`crate::runner::CommandRunner`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which way the trial's metric is better.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Higher is better (accuracy, F1, ...).
    #[default]
    Maximize,
    /// Lower is better (loss, perplexity, error, ...).
    Minimize,
}

/// How a trial's final metric becomes the reward when the trial reports
/// no `"reward"` of its own.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CommandReward {
    /// The metric itself (the default for `goal = "maximize"`).
    Metric,
    /// 1 / metric, for a positive metric (the default for `goal = "minimize"`;
    /// a failed child's reward 0 stays below every trained one's).
    Inverse,
    /// Minus the metric (needs a `reward.failure` below every -metric).
    Negated,
    /// metric^`reward.accuracy_exponent` (the paper's CNN reward, for an accuracy in [0, 1]).
    AccuracyPower,
    /// `reward.perplexity_c` / metric^`reward.perplexity_exponent` (the paper's language-model reward).
    InversePerplexityPower,
}

/// `[child.command]`: the program run for each child and how to read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CommandConfig {
    /// The program and its arguments, e.g. `["python3", "train.py", "--epochs", "5"]`.
    /// A bare name is looked up on `PATH`; a relative path is relative to `workdir`.
    pub argv: Vec<String>,
    /// The trial's working directory (relative to where nas-actor runs); default: that directory.
    pub workdir: Option<PathBuf>,
    /// Extra environment variables of the trial, on top of nas-actor's own.
    pub env: BTreeMap<String, String>,
    /// The name of the metric the trial reports (shown and written as such). Default `"metric"`.
    pub metric: String,
    /// `"maximize"` (default) or `"minimize"`.
    pub goal: Goal,
    /// How the metric becomes the reward when the trial reports none:
    /// `"metric"`, `"inverse"`, `"negated"`, `"accuracy_power"` or `"inverse_perplexity_power"`.
    /// Default: `"metric"` when maximising, `"inverse"` when minimising.
    pub reward: Option<CommandReward>,
    /// Epochs the trial reports, if known (progress and time estimates only).
    pub epochs: Option<usize>,
    /// Seconds between SIGTERM and SIGKILL when a trial is stopped. Default 10.
    pub kill_grace_s: f64,
    /// One long-lived trial process per slot instead of one per child: it
    /// is started on the slot's first child, reads one request per child as
    /// a JSON line on stdin and answers with the usual report lines, each
    /// tagged with the child's id (`nas_trial.requests()`). Default false.
    /// Not with `launcher.kind = "slurm"`.
    pub persistent: bool,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            argv: Vec::new(),
            workdir: None,
            env: BTreeMap::new(),
            metric: "metric".into(),
            goal: Goal::Maximize,
            reward: None,
            epochs: None,
            kill_grace_s: 10.0,
            persistent: false,
        }
    }
}

impl CommandConfig {
    /// The reward rule in effect: the configured one, else the goal's default.
    pub fn reward_rule(&self) -> CommandReward {
        self.reward.unwrap_or(match self.goal {
            Goal::Maximize => CommandReward::Metric,
            Goal::Minimize => CommandReward::Inverse,
        })
    }
}
