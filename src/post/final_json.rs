//! `final.json`: what `nas-actor retrain` found — every grid result, the
//! model chosen by validation metric, and the list of test-set evaluations
//! (one, unless `--force` asked for more; each with its time and whether it
//! was forced).
//!
//! Floats that may be NaN or infinite (a diverged retraining) are written as
//! `null`, so the file always reads back.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::PostError;
use crate::child::final_eval::TestMetrics;
use crate::child::ChildStatus;
use crate::config::{ChildModel, Dataset, RetrainData, SpaceKind};
use crate::space::Architecture;

/// The file in the run directory.
pub const FINAL_FILE: &str = "final.json";
/// The chosen model's weights (safetensors), in the run directory.
pub const WEIGHTS_FILE: &str = "final.safetensors";
/// The LSTM baseline's weights (PTB runs), in the run directory.
pub const BASELINE_WEIGHTS_FILE: &str = "final_lstm.safetensors";

/// One point of the retraining grid, resolved: the values training used.
/// Fields that do not apply to the space are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    /// `child.cnn.learning_rate` or `child.lm.learning_rate`.
    pub learning_rate: f64,
    /// `child.cnn.weight_decay` (CNN only).
    pub weight_decay: Option<f64>,
    /// `child.cnn.bn_eps` (CNN only).
    pub bn_eps: Option<f64>,
    /// CNN: `child.cnn.lr_decay_every` of a step schedule (None: no step
    /// schedule); LM: `child.lm.decay_start_epoch`.
    pub decay_epoch: Option<usize>,
    /// Training epochs.
    pub epochs: usize,
}

/// One retraining: an architecture (or the LSTM baseline) at one grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridResult {
    /// 1-based rank of the architecture in the search (0 for the LSTM baseline).
    pub rank: usize,
    /// The search's child id of the architecture (None for the baseline).
    pub child_id: Option<u64>,
    /// `searched` or `lstm`.
    pub model: ChildModel,
    pub hash: String,
    pub description: String,
    /// Index into the grid (the same grid for every architecture).
    pub grid_index: usize,
    pub grid: GridPoint,
    pub status: ChildStatus,
    /// Validation metric (accuracy or perplexity) that chooses the model; None when it failed.
    pub validation: Option<f64>,
    /// Validation metric after each epoch (None where not finite).
    pub validation_history: Vec<Option<f64>>,
    /// The seed it trained with ([`crate::seed::retrain`]; 0 in files written before it was recorded).
    #[serde(default)]
    pub seed: u64,
    pub params: usize,
    pub seconds: f64,
    /// Why it diverged or failed.
    pub message: Option<String>,
}

/// A model chosen by validation metric, with its weights file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalModel {
    pub rank: usize,
    pub child_id: Option<u64>,
    pub model: ChildModel,
    pub architecture: Architecture,
    pub hash: String,
    pub description: String,
    pub grid_index: usize,
    pub grid: GridPoint,
    pub validation: f64,
    pub params: usize,
    /// The safetensors file in the run directory.
    pub weights: String,
}

/// One evaluation on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEvaluation {
    /// Unix seconds.
    pub timestamp: f64,
    /// The same time, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// True when an earlier evaluation existed and `--force` was given.
    pub forced: bool,
    /// Hash of the model evaluated.
    pub hash: String,
    pub grid: GridPoint,
    pub test: TestMetrics,
    /// The LSTM baseline's test result (PTB runs).
    pub baseline_test: Option<TestMetrics>,
}

/// How images were standardised for training: per channel,
/// `x = (pixel / 255 − mean) / std`, with the training split's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// Mean of the training pixels per channel, in [0, 1] units.
    pub mean: Vec<f32>,
    /// Standard deviation of the training pixels per channel, in [0, 1] units.
    pub std: Vec<f32>,
}

/// The content of `final.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalReport {
    /// `experiment.name`.
    pub run: String,
    pub space: SpaceKind,
    pub dataset: Dataset,
    /// `accuracy` (higher is better) or `perplexity` (lower is better).
    pub metric: String,
    /// The config the retraining used.
    pub config: String,
    /// Image runs: the standardisation the models were trained with (what
    /// the exported module's `preprocess` applies). `None` for text, and in
    /// files written before it was recorded.
    #[serde(default)]
    pub normalisation: Option<Normalisation>,
    /// Architectures retrained.
    pub top: usize,
    /// `retrain.data`: the search's slices or the full splits.
    #[serde(default)]
    pub data: RetrainData,
    /// Training images (or tokens) each retraining's epochs drew from.
    #[serde(default)]
    pub train_examples: Option<usize>,
    /// The chosen architecture and grid point.
    pub selected: FinalModel,
    /// The chosen LSTM baseline (PTB runs).
    pub baseline: Option<FinalModel>,
    /// Every retraining, in job order.
    pub grid_results: Vec<GridResult>,
    /// The latest test result of `selected`.
    pub test: TestMetrics,
    /// The latest test result of `baseline`.
    pub baseline_test: Option<TestMetrics>,
    /// Every test-set evaluation of this run, oldest first.
    pub test_evaluations: Vec<TestEvaluation>,
}

impl FinalReport {
    /// Read `path`; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<FinalReport>, PostError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(PostError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("cannot read: {e}"),
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PostError::Corrupt {
                path: path.to_path_buf(),
                message: format!(
                    "not a final.json of nas-actor retrain ({e}); restore it or move it away"
                ),
            })
    }
}

/// `Some(x)` when `x` is finite.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Now, as unix seconds and as UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now() -> (f64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (secs, utc_time(secs as i64))
}

/// Unix seconds as UTC `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
pub fn utc_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 → civil date, counting in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_time;

    #[test]
    fn utc_time_matches_known_dates() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_time(-1), "1969-12-31T23:59:59Z");
    }
}
