//! The CNN training loop: SGD (Nesterov momentum, weight decay) with the
//! configured learning-rate schedule, shuffled and augmented training batches,
//! accuracy on the validation images after every epoch.

use std::f64::consts::PI;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use super::{ChildError, Finished, Run};
use crate::child::trained::TrainedModel;
use crate::child::{images, init_cnn_params, reward, CnnChild};
use crate::config::{CnnChildConfig, LrSchedule};
use crate::data::{ImageData, ImageSet};
use crate::space::CnnArch;

/// The learning rate of 1-based `epoch` under `cfg.lr_schedule`.
pub(super) fn learning_rate(cfg: &CnnChildConfig, epoch: usize) -> f64 {
    let lr = cfg.learning_rate;
    match cfg.lr_schedule {
        LrSchedule::Constant => lr,
        LrSchedule::Cosine => {
            let progress = (epoch.saturating_sub(1)) as f64 / cfg.epochs.max(1) as f64;
            0.5 * lr * (1.0 + (PI * progress).cos())
        }
        LrSchedule::Step => {
            let steps = epoch.saturating_sub(1) / cfg.lr_decay_every.max(1);
            lr * cfg.lr_decay.powi(steps as i32)
        }
    }
}

/// Why an architecture cannot be built.
fn check_arch(arch: &CnnArch) -> Result<(), ChildError> {
    for (i, l) in arch.layers.iter().enumerate() {
        if let Some(j) = l.inputs.iter().find(|&&j| j >= i) {
            return Err(ChildError::Invalid(format!(
                "layer {i} takes input from layer {j}; inputs must be earlier layers"
            )));
        }
        if l.filter_height == 0
            || l.filter_width == 0
            || l.num_filters == 0
            || l.stride_height == 0
            || l.stride_width == 0
        {
            return Err(ChildError::Invalid(format!(
                "layer {i} has a zero filter size, stride or filter count"
            )));
        }
    }
    Ok(())
}

/// Images `indices` of `set` as tensors on the run's device: `[n, C, H, W]` and labels `[n]`.
/// One batch of `set` as tensors on `device`: images `[B, C, H, W]`, labels `[B]`.
pub(crate) fn image_tensors(
    data: &ImageData,
    set: &ImageSet,
    indices: &[usize],
    augment: Option<&mut ChaCha8Rng>,
    device: Device,
) -> Result<(Tensor, Tensor), ChildError> {
    let (x, y) = images::batch(set, indices, &data.mean, &data.std, augment);
    let shape = [
        indices.len() as i64,
        set.channels as i64,
        set.height as i64,
        set.width as i64,
    ];
    let x = Tensor::f_from_slice(&x)?
        .f_view(shape)?
        .f_to_device(device)?;
    let y = Tensor::f_from_slice(&y)?.f_to_device(device)?;
    Ok((x, y))
}

/// Mean loss and accuracy on (the first `child.val_batches` batches of) the validation images.
fn evaluate(run: &Run, model: &CnnChild, data: &ImageData) -> Result<(f64, f64), ChildError> {
    let bs = run.config.child.cnn.batch_size.max(1);
    let n = data.valid.labels.len();
    let all = n.div_ceil(bs);
    let batches = run.config.child.val_batches.map_or(all, |b| b.min(all));
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0.0, 0usize);
    for b in 0..batches {
        run.clock.check(&*run.progress)?;
        let indices: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
        let (x, y) = image_tensors(data, &data.valid, &indices, None, run.device)?;
        let (loss, hits) = score_batch(model, &x, &y)?;
        loss_sum += loss;
        correct += hits;
        seen += indices.len();
    }
    let seen = seen.max(1) as f64;
    Ok((loss_sum / seen, correct / seen))
}

/// Train a CNN child; its reward is the best validation accuracy of the last
/// `reward.accuracy_window` epochs raised to `reward.accuracy_exponent`.
pub(super) fn train(
    run: &mut Run,
    arch: &CnnArch,
    data: &ImageData,
) -> Result<Finished, ChildError> {
    images::check(data)?;
    check_arch(arch)?;
    let config = run.config;
    let cfg = &config.child.cnn;
    let vs = nn::VarStore::new(run.device);
    let model = CnnChild::new(
        &vs.root(),
        arch,
        data.train.channels,
        data.classes,
        config.space.cnn.pool_size,
        cfg.bn_eps,
    );
    init_cnn_params(&vs, run.seed)?;
    let sgd = nn::Sgd {
        momentum: cfg.momentum,
        dampening: 0.0,
        wd: cfg.weight_decay,
        nesterov: cfg.nesterov,
    };
    let mut opt = sgd.build(&vs, cfg.learning_rate)?;
    // Stream 1: batch order and augmentation, independent of the initialisation's draws.
    let mut rng = ChaCha8Rng::seed_from_u64(run.seed);
    rng.set_stream(1);
    let bs = cfg.batch_size.max(1);
    let n = data.train.labels.len();
    let batches = config
        .child
        .train_batches
        .map_or(n.div_ceil(bs), |b| b.min(n.div_ceil(bs)));
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        opt.set_lr(learning_rate(cfg, epoch));
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for b in 0..batches {
            run.clock.check(&*run.progress)?;
            let indices = &order[b * bs..((b + 1) * bs).min(n)];
            let (x, y) = image_tensors(
                data,
                &data.train,
                indices,
                cfg.augment.then_some(&mut rng),
                run.device,
            )?;
            let loss = model.forward_t(&x, true)?.f_cross_entropy_loss(
                &y,
                None::<Tensor>,
                Reduction::Mean,
                -100,
                0.0,
            )?;
            let value = loss.f_double_value(&[])?;
            Run::check_loss(epoch, b + 1, value)?;
            opt.zero_grad();
            loss.f_backward()?;
            opt.step();
            loss_sum += value;
            run.progress.on_batch(epoch, b + 1, batches, value);
        }
        let (val_loss, accuracy) = evaluate(run, &model, data)?;
        let train_loss = loss_sum / batches.max(1) as f64;
        run.finish_epoch(epoch, train_loss, val_loss, accuracy, started)?;
    }
    let (metric, reward) = reward::accuracy_reward(&run.epochs, &config.reward)
        .ok_or_else(|| ChildError::Invalid("child.cnn.epochs is 0: nothing was trained".into()))?;
    Ok(Finished {
        metric,
        reward,
        model: TrainedModel::Cnn { vs, model },
    })
}

/// Summed cross-entropy and number of correct predictions of one evaluation batch.
pub(crate) fn score_batch(
    model: &CnnChild,
    x: &Tensor,
    y: &Tensor,
) -> Result<(f64, f64), ChildError> {
    tch::no_grad(|| {
        let logits = model.forward_t(x, false)?;
        let loss = logits.f_cross_entropy_loss(y, None::<Tensor>, Reduction::Sum, -100, 0.0)?;
        let hits = logits
            .f_argmax(-1, false)?
            .f_eq_tensor(y)?
            .f_sum(Kind::Float)?;
        Ok((loss.f_double_value(&[])?, hits.f_double_value(&[])?))
    })
}

#[cfg(test)]
mod tests {
    use super::learning_rate;
    use crate::config::{CnnChildConfig, LrSchedule};

    #[test]
    fn schedules_start_at_the_learning_rate_and_decay() {
        let mut cfg = CnnChildConfig {
            epochs: 10,
            learning_rate: 0.1,
            lr_decay: 0.5,
            lr_decay_every: 3,
            ..Default::default()
        };
        assert_eq!(learning_rate(&cfg, 7), 0.1);
        cfg.lr_schedule = LrSchedule::Step;
        assert_eq!(learning_rate(&cfg, 3), 0.1);
        assert!((learning_rate(&cfg, 4) - 0.05).abs() < 1e-12);
        assert!((learning_rate(&cfg, 7) - 0.025).abs() < 1e-12);
        cfg.lr_schedule = LrSchedule::Cosine;
        assert!((learning_rate(&cfg, 1) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&cfg, 6) - 0.05).abs() < 1e-12);
        assert!(learning_rate(&cfg, 10) < 0.01);
    }
}
