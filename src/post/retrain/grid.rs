//! The retraining grid: the cartesian product of the `[retrain]` lists
//! (an empty list is the child's own value), and a config with one grid
//! point applied to its child-training settings.
//!
//! What each list sets:
//! - `learning_rates`: `child.cnn.learning_rate` / `child.lm.learning_rate`;
//! - `weight_decays`: `child.cnn.weight_decay` (CNN only: the language model has none);
//! - `bn_eps`: `child.cnn.bn_eps` (CNN only);
//! - `decay_epochs`: CNN: a step schedule (`lr_schedule = "step"`) with
//!   `lr_decay_every` = the value, so the first decay comes after that many
//!   epochs; LM: `child.lm.decay_start_epoch`;
//! - `epochs` (a single value): the epochs of every retraining.
//!
//! Before the grid, [`prepare`] applies `retrain.data` and
//! `retrain.lr_schedule` to the config every retraining starts from.

use crate::config::{Config, LrSchedule, RetrainData, SpaceKind};
use crate::post::final_json::GridPoint;
use crate::post::PostError;

/// The config the retrainings start from: `config` with `retrain.data =
/// "full"` (no data limits, every batch) and `retrain.lr_schedule` applied.
pub fn prepare(config: &Config) -> Result<Config, PostError> {
    let r = &config.retrain;
    let mut c = config.clone();
    if r.data == RetrainData::Full {
        c.data.train_limit = None;
        c.data.val_limit = None;
        c.child.train_batches = None;
        c.child.val_batches = None;
    }
    if let Some(schedule) = r.lr_schedule {
        if config.search.space != SpaceKind::Cnn {
            return Err(PostError::Grid {
                key: "retrain.lr_schedule".into(),
                message: "applies to CNN children only (the language model has its own decay: retrain.decay_epochs); leave it out for a cell search".into(),
            });
        }
        if !r.decay_epochs.is_empty() {
            return Err(PostError::Grid {
                key: "retrain.lr_schedule".into(),
                message: "retrain.decay_epochs already sets a step schedule; give one of the two"
                    .into(),
            });
        }
        c.child.cnn.lr_schedule = schedule;
    }
    Ok(c)
}

/// Every grid point of `config.retrain` for the run's space, in a fixed order
/// (learning rate slowest, then weight decay, bn ε, decay epoch).
pub fn grid(config: &Config) -> Result<Vec<GridPoint>, PostError> {
    let r = &config.retrain;
    let space = config.search.space;
    if space == SpaceKind::Custom {
        return Err(PostError::Config(
            "retrain trains the built-in CNN and cell models; a declared space (search.space = \"custom\") has none to retrain".into(),
        ));
    }
    if space == SpaceKind::Cell {
        for (key, empty) in [
            ("retrain.weight_decays", r.weight_decays.is_empty()),
            ("retrain.bn_eps", r.bn_eps.is_empty()),
        ] {
            if !empty {
                return Err(PostError::Grid {
                    key: key.into(),
                    message: "applies to CNN children only (the language model has no weight decay and no batch norm); leave it empty for a cell search".into(),
                });
            }
        }
    }
    check_positive("retrain.learning_rates", &r.learning_rates)?;
    check_positive("retrain.bn_eps", &r.bn_eps)?;
    if let Some(w) = r
        .weight_decays
        .iter()
        .find(|w| !(w.is_finite() && **w >= 0.0))
    {
        return Err(PostError::Grid {
            key: "retrain.weight_decays".into(),
            message: format!("{w} is not a weight decay ≥ 0"),
        });
    }
    if r.decay_epochs.contains(&0) {
        return Err(PostError::Grid {
            key: "retrain.decay_epochs".into(),
            message: "0 is not an epoch; epochs count from 1".into(),
        });
    }
    if r.epochs == Some(0) {
        return Err(PostError::Grid {
            key: "retrain.epochs".into(),
            message: "must be at least 1".into(),
        });
    }
    let (cnn, lm) = (&config.child.cnn, &config.child.lm);
    let own = |list: &[f64], value: f64| -> Vec<f64> {
        if list.is_empty() {
            vec![value]
        } else {
            list.to_vec()
        }
    };
    let (lrs, wds, eps, decays, epochs) = match space {
        SpaceKind::Cnn => (
            own(&r.learning_rates, cnn.learning_rate),
            own(&r.weight_decays, cnn.weight_decay)
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>(),
            own(&r.bn_eps, cnn.bn_eps)
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>(),
            if r.decay_epochs.is_empty() {
                vec![(cnn.lr_schedule == LrSchedule::Step).then_some(cnn.lr_decay_every)]
            } else {
                r.decay_epochs.iter().map(|&d| Some(d)).collect()
            },
            r.epochs.unwrap_or(cnn.epochs),
        ),
        // Refused above; here as the cell's settings so the match is whole.
        SpaceKind::Cell | SpaceKind::Custom => (
            own(&r.learning_rates, lm.learning_rate),
            vec![None],
            vec![None],
            if r.decay_epochs.is_empty() {
                vec![Some(lm.decay_start_epoch)]
            } else {
                r.decay_epochs.iter().map(|&d| Some(d)).collect()
            },
            r.epochs.unwrap_or(lm.epochs),
        ),
    };
    let mut points = Vec::new();
    for &learning_rate in &lrs {
        for &weight_decay in &wds {
            for &bn_eps in &eps {
                for &decay_epoch in &decays {
                    points.push(GridPoint {
                        learning_rate,
                        weight_decay,
                        bn_eps,
                        decay_epoch,
                        epochs,
                    });
                }
            }
        }
    }
    Ok(points)
}

fn check_positive(key: &str, values: &[f64]) -> Result<(), PostError> {
    match values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        Some(v) => Err(PostError::Grid {
            key: key.into(),
            message: format!("{v} is not a positive number"),
        }),
        None => Ok(()),
    }
}

/// `config` with `point` applied to the child-training settings of its space
/// (and the CNN reward window cut to the epochs, as `nas-actor train --epochs` does).
pub fn apply(config: &Config, point: &GridPoint) -> Config {
    let mut c = config.clone();
    match c.search.space {
        SpaceKind::Cnn => {
            let cnn = &mut c.child.cnn;
            cnn.learning_rate = point.learning_rate;
            if let Some(w) = point.weight_decay {
                cnn.weight_decay = w;
            }
            if let Some(e) = point.bn_eps {
                cnn.bn_eps = e;
            }
            if let Some(d) = point.decay_epoch {
                cnn.lr_schedule = LrSchedule::Step;
                cnn.lr_decay_every = d;
            }
            cnn.epochs = point.epochs;
            c.reward.accuracy_window = c.reward.accuracy_window.clamp(1, point.epochs.max(1));
        }
        SpaceKind::Cell => {
            let lm = &mut c.child.lm;
            lm.learning_rate = point.learning_rate;
            if let Some(d) = point.decay_epoch {
                lm.decay_start_epoch = d;
            }
            lm.epochs = point.epochs;
        }
        // A declared space has no built-in child settings to change.
        SpaceKind::Custom => {}
    }
    c
}
