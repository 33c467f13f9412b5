//! Training children: learning on generated data, determinism, divergence, timeouts, cancellation and bad inputs.

use super::*;

#[test]
fn cnn_learns_generated_images() {
    let data = TaskData::Images(image_data(256, 96, 4, (3, 8, 8), 3));
    let mut config = test_config("cnn");
    config.child.cnn.epochs = 3;
    let arch = fixed_cnn();
    let out = child::train(&arch, &config, &data, Device::Cpu, 5, &mut NoProgress);
    assert_eq!(out.status, ChildStatus::Ok, "{:?}", out.message);
    assert_eq!(out.epochs.len(), 3);
    let metric = out.metric.expect("metric");
    assert!(
        metric > 0.7,
        "validation accuracy {metric} (chance 0.25): {:?}",
        out.epochs
    );
    let best = out.epochs[1..]
        .iter()
        .map(|e| e.val_metric)
        .fold(0.0, f64::max);
    assert_eq!(metric, best);
    assert!((out.reward - metric.powi(3)).abs() < 1e-12);
    assert_eq!(out.params, child::param_count(&arch, &config, &data));
    let again = child::train(&arch, &config, &data, Device::Cpu, 5, &mut NoProgress);
    assert_eq!(
        again.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        out.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        "same seed, same child"
    );
}

#[test]
fn language_models_learn_generated_text() {
    let corpus = corpus(500, 80, 4);
    let unigram = unigram_perplexity(&corpus.valid);
    let data = TaskData::Text(corpus);
    // n0 = tanh(add), n1 = relu(add), inject tanh(mul) → n0, n2 = sigmoid(mul), c_t = pre(n1).
    let cell = full_cell_space(2)
        .decode(&[0, 1, 0, 3, 1, 1, 1, 2, 0, 1])
        .expect("decode");
    let cell = Architecture::Cell(cell);
    for model in [ChildModel::Lstm, ChildModel::Searched] {
        let mut config = test_config("cell");
        config.child.model = model;
        let lm = &mut config.child.lm;
        // A tiny model needs a larger init and a smaller step than the PTB defaults.
        (
            lm.epochs,
            lm.bptt,
            lm.learning_rate,
            lm.grad_clip,
            lm.init_range,
        ) = (4, 10, 0.5, 1.0, 0.5);
        let out = child::train(&cell, &config, &data, Device::Cpu, 1, &mut NoProgress);
        assert_eq!(out.status, ChildStatus::Ok, "{model:?}: {:?}", out.message);
        let ppl = out.metric.expect("metric");
        assert!(
            ppl < 0.6 * unigram,
            "{model:?} ({}): perplexity {ppl} vs unigram {unigram}: {:?}",
            cell.describe(),
            out.epochs
        );
        assert!((out.reward - 80.0 / (ppl * ppl)).abs() < 1e-9);
        assert_eq!(out.epochs.last().map(|e| e.val_metric), Some(ppl));
    }
}

/// Counts batches and epochs seen; cancels after `cancel_after` batches.
#[derive(Default)]
struct Recorder {
    batches: Vec<(usize, usize, f64)>,
    epochs: Vec<EpochMetrics>,
    cancel_after: Option<usize>,
}

impl Progress for Recorder {
    fn on_batch(&mut self, epoch: usize, batch: usize, _batches: usize, loss: f64) {
        self.batches.push((epoch, batch, loss));
    }
    fn on_epoch(&mut self, metrics: &EpochMetrics) {
        self.epochs.push(metrics.clone());
    }
    fn cancelled(&self) -> bool {
        self.cancel_after.is_some_and(|n| self.batches.len() >= n)
    }
}

#[test]
fn nan_loss_is_diverged_within_one_batch() {
    // Images standardised with a NaN mean: the very first loss is NaN.
    let mut images = image_data(64, 16, 4, (3, 8, 8), 0);
    images.mean[1] = f32::NAN;
    let mut config = test_config("cnn");
    config.reward.failure = -1.0;
    let mut rec = Recorder::default();
    let out = child::train(
        &fixed_cnn(),
        &config,
        &TaskData::Images(images),
        Device::Cpu,
        0,
        &mut rec,
    );
    assert_eq!(out.status, ChildStatus::Diverged, "{:?}", out.message);
    assert_eq!(out.reward, -1.0);
    assert!(rec.batches.is_empty() && out.epochs.is_empty());
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("epoch 1, batch 1"),
        "{:?}",
        out.message
    );
    // A huge learning rate: batch 1 is finite, its update makes batch 2's loss non-finite.
    let text = TaskData::Text(corpus(200, 20, 0));
    let arch = Architecture::Cell(
        full_cell_space(2)
            .decode(&[0, 1, 0, 3, 1, 1, 1, 2, 0, 1])
            .expect("decode"),
    );
    let mut config = test_config("cell");
    (config.child.lm.learning_rate, config.child.lm.grad_clip) = (1e38, 1e38);
    let mut rec = Recorder::default();
    let out = child::train(&arch, &config, &text, Device::Cpu, 0, &mut rec);
    assert_eq!(out.status, ChildStatus::Diverged, "{:?}", out.message);
    assert_eq!(rec.batches.len(), 1, "{:?}", rec.batches);
    assert!(rec.batches[0].2.is_finite());
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("epoch 1, batch 2"),
        "{:?}",
        out.message
    );
    assert!(out.epochs.is_empty() && out.metric.is_none());
}

#[test]
fn timeouts_cancellation_and_bad_inputs_fail_with_a_message() {
    let images = TaskData::Images(image_data(64, 16, 4, (3, 8, 8), 0));
    let text = TaskData::Text(corpus(50, 10, 0));
    let mut config = test_config("cnn");
    config.child.timeout_s = Some(1e-9);
    let out = child::train(
        &fixed_cnn(),
        &config,
        &images,
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("timed out after"),
        "{:?}",
        out.message
    );
    config.child.timeout_s = None;
    let mut rec = Recorder {
        cancel_after: Some(2),
        ..Default::default()
    };
    let out = child::train(&fixed_cnn(), &config, &images, Device::Cpu, 0, &mut rec);
    assert_eq!(
        (out.status, out.message.as_deref()),
        (ChildStatus::Failed, Some("cancelled"))
    );
    assert_eq!(rec.batches.len(), 2);
    let out = child::train(
        &fixed_cnn(),
        &config,
        &text,
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("cannot train on text"),
        "{:?}",
        out.message
    );
    assert_eq!(out.reward, config.reward.failure);
    let mut bad = image_data(8, 4, 4, (3, 8, 8), 0);
    bad.valid.labels[0] = 9;
    let out = child::train(
        &fixed_cnn(),
        &config,
        &TaskData::Images(bad),
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message.as_deref().unwrap_or("").contains("label is 9"),
        "{:?}",
        out.message
    );
    let cell = Architecture::Cell(full_cell_space(2).decode(&[0; 10]).expect("decode"));
    let out = child::train(&cell, &config, &images, Device::Cpu, 0, &mut NoProgress);
    assert!(out.status == ChildStatus::Failed && out.message.is_some());
}

#[test]
fn budget_knobs_limit_batches_per_epoch() {
    let text = TaskData::Text(corpus(100, 20, 0));
    let cell = Architecture::Cell(full_cell_space(2).decode(&[0; 10]).expect("decode"));
    let mut config = test_config("cell");
    (config.child.train_batches, config.child.val_batches) = (Some(3), Some(1));
    let mut rec = Recorder::default();
    let out = child::train(&cell, &config, &text, Device::Cpu, 0, &mut rec);
    assert_eq!(out.status, ChildStatus::Ok, "{:?}", out.message);
    let seen: Vec<(usize, usize)> = rec.batches.iter().map(|b| (b.0, b.1)).collect();
    assert_eq!(seen, vec![(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]);
    assert_eq!(rec.epochs, out.epochs);
    let images = TaskData::Images(image_data(64, 16, 4, (3, 8, 8), 0));
    let mut config = test_config("cnn");
    config.child.train_batches = Some(2);
    let mut rec = Recorder::default();
    let out = child::train(&fixed_cnn(), &config, &images, Device::Cpu, 0, &mut rec);
    assert_eq!(out.status, ChildStatus::Ok, "{:?}", out.message);
    assert_eq!(rec.batches.len(), 2 * config.child.cnn.epochs);
    assert_eq!(out.epochs.len(), config.child.cnn.epochs);
}
