//! A built-in (tch) child stopped by the median rule: the runner's cancelled
//! outcome keeps the epochs it completed, and the trainer's conversion makes
//! it `stopped` with its reward from its best metric so far.

use std::sync::{Arc, Mutex};

use nas_actor::actors::trainer::EarlyStop;
use nas_actor::config::EarlyStopConfig;
use nas_actor::runner::pool::{Batch, Throttled};
use nas_actor::search::MedianRule;
use nas_actor::task::Metric;

use super::*;

#[test]
fn a_cnn_child_stopped_after_its_second_epoch_keeps_two_epochs_and_is_stopped() {
    let data = TaskData::Images(image_data(128, 64, 4, (3, 8, 8), 3));
    let mut config = test_config("cnn");
    config.child.cnn.epochs = 4;
    config.reward.accuracy_window = 1;
    let mut sink = |_: Batch| {};
    // A judge that stops the child once it has reported epoch 2.
    let mut judge = |m: &EpochMetrics| m.epoch >= 2;
    let mut progress = Throttled::new(&mut sink).judged_by(&mut judge);
    let out = child::train(&fixed_cnn(), &config, &data, Device::Cpu, 5, &mut progress);
    assert!(progress.judged_stop());
    assert_eq!(out.status, ChildStatus::Failed);
    assert_eq!(out.message.as_deref(), Some(child::CANCELLED));
    assert_eq!(out.epochs.len(), 2, "the completed epochs are kept");

    let early = EarlyStop {
        rule: Arc::new(Mutex::new(MedianRule::new(
            &EarlyStopConfig::default(),
            Metric::accuracy(),
        ))),
        metric: Metric::accuracy(),
        reward: config.reward.clone(),
    };
    let best = out.epochs.iter().map(|e| e.val_metric).fold(0.0, f64::max);
    let stopped = early.stopped(out.clone());
    assert_eq!(stopped.status, ChildStatus::Stopped);
    assert_eq!(stopped.epochs, out.epochs);
    assert_eq!(stopped.metric, Some(best));
    assert!((stopped.reward - best.powf(config.reward.accuracy_exponent)).abs() < 1e-12);
    // An outcome that was not cancelled stays what it was.
    let mut failed = out;
    failed.message = Some("torch error: boom".into());
    assert_eq!(early.stopped(failed.clone()), failed);
}
