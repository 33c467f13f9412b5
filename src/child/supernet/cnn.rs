//! The supernet of a shared-weights search in the CNN space: every child of
//! `[space.cnn]`'s layer count shares one set of weights ω.
//!
//! What is shared, and why. A CNN child's layer convolves the depth
//! concatenation of its inputs (the image, or earlier layers' outputs). A
//! convolution over a concatenation is the sum of the convolutions over each
//! input's channel group, so ω keeps one kernel per (layer, input, filter
//! shape), `[max filters, the input's channels at most, height, width]`,
//! and a child's kernel is the concatenation, along the input channels, of
//! the slices `[..its filters, ..the input's filters]` of its inputs'
//! kernels. The child under ω is then exactly a child of its own with those
//! weights (tested). Each layer's batch-norm scale and shift are kept at the
//! largest filter count and sliced the same way, and the classifier keeps
//! one block of columns per layer, of which a child uses those of its
//! outputs. Strides and pooling have no weights. This is ENAS's "one kernel
//! per layer and filter shape, sliced to the filter count" (its macro
//! space), with skip inputs given kernels of their own instead of ENAS's
//! sum after the convolution, because the child this tool retrains
//! concatenates them: scores under ω are then of the very network that is
//! retrained.
//!
//! The price is memory: Σ over layers i of (channels + i · F) · F · Σ fh·fw
//! kernel values with skip connections (F the largest filter count); the
//! paper's 15 layers of 64 filters and 4 × 4 shapes are 110 M values (440 MB,
//! twice that with the momentum buffers), for a GPU; a plain chain has one
//! input per layer.
//!
//! Batch norms under ω always use the batch's own statistics, in training
//! and when a child is scored (as ENAS scores its children): running
//! statistics would mix every architecture's.
//!
//! ω trains by SGD with `[child.cnn]`'s momentum, Nesterov and weight decay,
//! at `search.shared.learning_rate`, its gradient norm clipped at
//! `search.shared.grad_clip`, on shuffled batches of the training images
//! (augmented when `child.cnn.augment`), one architecture per batch. Only
//! the weights the batch's architecture used are updated (their momentum
//! and decay included), as PyTorch's SGD skips parameters without a
//! gradient. The batch order of ω epoch e and the augmentation of step s
//! come from the seed, e and s alone, so a resumed run repeats them.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Reduction, Tensor};

use super::{clip_grad_norm, read_weights, sorted, to_vec, write_flat, write_weights};
use super::{Scored, SupernetState};
use crate::child::cnn::LayerWeights;
use crate::child::train::{image_tensors, score_batch};
use crate::child::{images, init_cnn_params, ChildError, CnnChild};
use crate::config::Config;
use crate::data::ImageData;
use crate::space::CnnArch;

/// What the CNN supernet is built from: `[space.cnn]`'s choices,
/// `[child.cnn]`'s batches, optimizer and batch norm, `[search.shared]`'s
/// learning rate and clip.
#[derive(Debug, Clone, PartialEq)]
pub struct CnnSupernetConfig {
    pub layers: usize,
    pub filter_heights: Vec<usize>,
    pub filter_widths: Vec<usize>,
    /// The largest of `space.cnn.num_filters`.
    pub max_filters: usize,
    pub skip_connections: bool,
    pub pool_size: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub bn_eps: f64,
    pub augment: bool,
}

impl CnnSupernetConfig {
    /// The settings `config` gives.
    pub fn of(config: &Config) -> CnnSupernetConfig {
        let space = &config.space.cnn;
        let cnn = &config.child.cnn;
        CnnSupernetConfig {
            layers: space.layers,
            filter_heights: space.filter_heights.clone(),
            filter_widths: space.filter_widths.clone(),
            max_filters: space.num_filters.iter().copied().max().unwrap_or(0),
            skip_connections: space.skip_connections,
            pool_size: space.pool_size,
            batch_size: cnn.batch_size,
            learning_rate: config.search.shared.learning_rate,
            momentum: cnn.momentum,
            nesterov: cnn.nesterov,
            weight_decay: cnn.weight_decay,
            grad_clip: config.search.shared.grad_clip,
            bn_eps: cnn.bn_eps,
            augment: cnn.augment,
        }
    }
}

/// A layer's input in ω: the image, or an earlier layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Image,
    Layer(usize),
}

impl Source {
    fn name(self) -> String {
        match self {
            Source::Image => "from_image".into(),
            Source::Layer(j) => format!("from_layer{j}"),
        }
    }
}

/// ω of the CNN space, its momentum buffers, and the images it trains and is scored on.
pub struct CnnSupernet {
    vs: nn::VarStore,
    cfg: CnnSupernetConfig,
    /// Every variable, in the order of their sorted names.
    params: Vec<Tensor>,
    /// The momentum buffer of each of `params`.
    momentum: Vec<Tensor>,
    /// Index into `params` of each (layer, input, filter height, filter width) kernel.
    kernels: HashMap<(usize, Source, usize, usize), usize>,
    /// Index into `params` of each layer's batch-norm scale and shift.
    norms: Vec<(usize, usize)>,
    /// Index into `params` of the classifier's weight `[classes, layers · F]` and bias.
    classifier: (usize, usize),
    data: ImageData,
    device: Device,
    /// The training order of ω epoch `.0`.
    order: (u64, Vec<usize>),
    steps: u64,
    seed: u64,
    skipped: u64,
}

impl CnnSupernet {
    /// A fresh ω for `cfg` over `data` on `device`, initialised from `seed`
    /// (convolutions Kaiming-uniform over one input's fan-in, batch norms 1
    /// and 0, the classifier uniform).
    pub fn new(
        cfg: &CnnSupernetConfig,
        data: ImageData,
        device: Device,
        seed: u64,
    ) -> Result<CnnSupernet, ChildError> {
        images::check(&data)?;
        if cfg.layers == 0 || cfg.max_filters == 0 {
            return Err(ChildError::Invalid(
                "the CNN supernet needs at least one layer and one filter".into(),
            ));
        }
        if data.train.labels.len() < 2 || data.valid.labels.len() < 2 {
            return Err(ChildError::Invalid(
                "the CNN supernet needs at least 2 training and 2 validation images (batch statistics)".into(),
            ));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let f = cfg.max_filters as i64;
        let channels = data.train.channels as i64;
        let zero = nn::Init::Const(0.0);
        for i in 0..cfg.layers {
            let layer = &root / format!("layer{i}");
            for source in sources(cfg, i) {
                let width = match source {
                    Source::Image => channels,
                    Source::Layer(_) => f,
                };
                for &fh in &cfg.filter_heights {
                    for &fw in &cfg.filter_widths {
                        let p = &layer / source.name() / format!("k{fh}x{fw}") / "conv";
                        let _ = p.var("weight", &[f, width, fh as i64, fw as i64], zero);
                    }
                }
            }
            let _ = (&layer / "bn").var("weight", &[f], zero);
            let _ = (&layer / "bn").var("bias", &[f], zero);
        }
        let classes = data.classes as i64;
        let _ = (&root / "classifier").var("weight", &[classes, cfg.layers as i64 * f], zero);
        let _ = (&root / "classifier").var("bias", &[classes], zero);
        init_cnn_params(&vs, seed)?;

        let named = sorted(&vs);
        let at: HashMap<&str, usize> = named
            .iter()
            .enumerate()
            .map(|(k, (name, _))| (name.as_str(), k))
            .collect();
        let find = |name: &str| {
            at.get(name)
                .copied()
                .ok_or_else(|| ChildError::Invalid(format!("the supernet has no variable {name}")))
        };
        let mut kernels = HashMap::new();
        let mut norms = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            for source in sources(cfg, i) {
                for &fh in &cfg.filter_heights {
                    for &fw in &cfg.filter_widths {
                        let name = format!("layer{i}.{}.k{fh}x{fw}.conv.weight", source.name());
                        kernels.insert((i, source, fh, fw), find(&name)?);
                    }
                }
            }
            norms.push((
                find(&format!("layer{i}.bn.weight"))?,
                find(&format!("layer{i}.bn.bias"))?,
            ));
        }
        let classifier = (find("classifier.weight")?, find("classifier.bias")?);
        let params: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        let momentum = params
            .iter()
            .map(|p| p.f_zeros_like())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CnnSupernet {
            vs,
            cfg: cfg.clone(),
            params,
            momentum,
            kernels,
            norms,
            classifier,
            data,
            device,
            order: (u64::MAX, Vec::new()),
            steps: 0,
            seed,
            skipped: 0,
        })
    }

    /// ω's variables.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// ω steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// ω steps that made no update (their loss or gradient was not finite).
    pub fn skipped_steps(&self) -> u64 {
        self.skipped
    }

    /// Batches in one pass over the training images (an ω epoch; a last
    /// partial batch is left out).
    pub fn train_batches(&self) -> usize {
        let n = self.data.train.labels.len();
        (n / self.batch()).max(1)
    }

    /// Validation batches (a last partial batch counts when it holds 2 images or more).
    pub fn valid_batches(&self) -> usize {
        let n = self.data.valid.labels.len();
        n / self.batch() + usize::from(n % self.batch() >= 2)
    }

    /// 1-based ω epoch and 1-based batch within it of the next step.
    pub fn position(&self) -> (u64, usize) {
        let n = self.train_batches() as u64;
        (self.steps / n + 1, (self.steps % n) as usize + 1)
    }

    /// Trainable parameters of `arch` as a child of its own.
    pub fn param_count(&self, arch: &CnnArch) -> usize {
        crate::child::cnn::param_count(arch, self.data.train.channels, self.data.classes)
    }

    fn batch(&self) -> usize {
        self.cfg.batch_size.max(1)
    }

    /// `arch` as a network over ω's tensors, and the indices of the
    /// variables it uses.
    pub fn child(&self, arch: &CnnArch) -> Result<(CnnChild, Vec<usize>), ChildError> {
        let cfg = &self.cfg;
        if arch.layers.len() != cfg.layers {
            return Err(ChildError::Invalid(format!(
                "the architecture has {} layers, the supernet {} (space.cnn.layers)",
                arch.layers.len(),
                cfg.layers
            )));
        }
        let channels = self.data.train.channels as i64;
        let mut used = Vec::new();
        let mut layers = Vec::with_capacity(arch.layers.len());
        for (i, l) in arch.layers.iter().enumerate() {
            if l.num_filters == 0 || l.num_filters > cfg.max_filters {
                return Err(ChildError::Invalid(format!(
                    "layer {i} has {} filters; the supernet has 1 to {}",
                    l.num_filters, cfg.max_filters
                )));
            }
            let filters = l.num_filters as i64;
            let inputs: Vec<Source> = if l.inputs.is_empty() {
                vec![Source::Image]
            } else {
                l.inputs.iter().map(|&j| Source::Layer(j)).collect()
            };
            let mut parts = Vec::with_capacity(inputs.len());
            for source in inputs {
                let key = (i, source, l.filter_height, l.filter_width);
                let &k = self.kernels.get(&key).ok_or_else(|| {
                    ChildError::Invalid(format!(
                        "layer {i}: no shared kernel for a {}x{} filter over {:?}; it is not in the space",
                        l.filter_height, l.filter_width, source
                    ))
                })?;
                let width = match source {
                    Source::Image => channels,
                    Source::Layer(j) => arch.layers[j].num_filters as i64,
                };
                used.push(k);
                parts.push(
                    self.params[k]
                        .f_narrow(0, 0, filters)?
                        .f_narrow(1, 0, width)?,
                );
            }
            let conv = if parts.len() == 1 {
                parts.remove(0)
            } else {
                Tensor::f_cat(&parts, 1)?
            };
            let (w, b) = self.norms[i];
            used.extend([w, b]);
            layers.push(LayerWeights {
                conv,
                bn_weight: self.params[w].f_narrow(0, 0, filters)?,
                bn_bias: self.params[b].f_narrow(0, 0, filters)?,
            });
        }
        let (cw, cb) = self.classifier;
        used.extend([cw, cb]);
        let f = cfg.max_filters as i64;
        let blocks = arch
            .outputs()
            .into_iter()
            .map(|j| self.params[cw].f_narrow(1, j as i64 * f, arch.layers[j].num_filters as i64))
            .collect::<Result<Vec<_>, _>>()?;
        let classifier = nn::Linear {
            ws: Tensor::f_cat(&blocks, 1)?,
            bs: Some(self.params[cb].shallow_clone()),
        };
        let child = CnnChild::from_weights(arch, layers, classifier, cfg.pool_size, cfg.bn_eps);
        Ok((child, used))
    }

    /// The training images of step `step`.
    fn train_indices(&mut self, step: u64) -> Vec<usize> {
        let per_epoch = self.train_batches() as u64;
        let epoch = step / per_epoch;
        if self.order.0 != epoch {
            let mut order: Vec<usize> = (0..self.data.train.labels.len()).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::child(self.seed, epoch));
            rng.set_stream(2);
            order.shuffle(&mut rng);
            self.order = (epoch, order);
        }
        let bs = self.batch();
        let b = (step % per_epoch) as usize;
        let order = &self.order.1;
        order[(b * bs).min(order.len())..((b + 1) * bs).min(order.len())].to_vec()
    }

    /// One ω step: `arch` on the next training batch; the batch's mean
    /// loss (before the step). A loss or gradient that is not finite makes
    /// no update (counted in [`CnnSupernet::skipped_steps`]).
    pub fn train_step(&mut self, arch: &CnnArch) -> Result<f64, ChildError> {
        let (child, used) = self.child(arch)?;
        let indices = self.train_indices(self.steps);
        let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::child(self.seed, self.steps));
        rng.set_stream(3);
        let augment = self.cfg.augment.then_some(&mut rng);
        let (x, y) = image_tensors(&self.data, &self.data.train, &indices, augment, self.device)?;
        for &k in &used {
            self.params[k].zero_grad();
        }
        let logits = child.forward_t(&x, true)?;
        let loss = logits.f_cross_entropy_loss(&y, None::<Tensor>, Reduction::Mean, -100, 0.0)?;
        let value = loss.f_double_value(&[])?;
        let stepped = value.is_finite() && {
            loss.f_backward()?;
            self.sgd_step(&used)?
        };
        self.steps += 1;
        if !stepped {
            self.skipped += 1;
        }
        Ok(value)
    }

    /// Clip the used variables' gradient norm and take one SGD step on
    /// them; false (no step) when the norm is not finite.
    fn sgd_step(&mut self, used: &[usize]) -> Result<bool, ChildError> {
        let mut used = used.to_vec();
        used.sort_unstable();
        used.dedup();
        let grads: Vec<(usize, Tensor)> = used
            .iter()
            .map(|&k| (k, self.params[k].grad()))
            .filter(|(_, g)| g.defined())
            .collect();
        let only: Vec<Tensor> = grads.iter().map(|(_, g)| g.shallow_clone()).collect();
        if clip_grad_norm(&only, self.cfg.grad_clip)?.is_none() {
            return Ok(false);
        }
        let cfg = &self.cfg;
        tch::no_grad(|| -> Result<(), ChildError> {
            for (k, g) in &grads {
                let p = &self.params[*k];
                let d = if cfg.weight_decay > 0.0 {
                    g.f_add(&p.f_mul_scalar(cfg.weight_decay)?)?
                } else {
                    g.shallow_clone()
                };
                let update = if cfg.momentum > 0.0 {
                    let mut buf = self.momentum[*k].shallow_clone();
                    let _ = buf.f_mul_scalar_(cfg.momentum)?.f_add_(&d)?;
                    if cfg.nesterov {
                        d.f_add(&buf.f_mul_scalar(cfg.momentum)?)?
                    } else {
                        buf
                    }
                } else {
                    d
                };
                let mut p = p.shallow_clone();
                let _ = p.f_sub_(&update.f_mul_scalar(cfg.learning_rate)?)?;
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// `arch` under ω on `count` consecutive validation batches from batch
    /// `first` (wrapping around): mean loss and accuracy.
    pub fn score(
        &mut self,
        arch: &CnnArch,
        first: u64,
        count: usize,
    ) -> Result<Scored, ChildError> {
        let n = self.valid_batches() as u64;
        let batches: Vec<usize> = (0..count as u64)
            .map(|k| ((first + k) % n) as usize)
            .collect();
        self.scored_on(arch, &batches)
    }

    /// `arch` under ω on the whole validation split.
    pub fn evaluate(&mut self, arch: &CnnArch) -> Result<Scored, ChildError> {
        let batches: Vec<usize> = (0..self.valid_batches()).collect();
        self.scored_on(arch, &batches)
    }

    fn scored_on(&self, arch: &CnnArch, batches: &[usize]) -> Result<Scored, ChildError> {
        let (child, _) = self.child(arch)?;
        let bs = self.batch();
        let n = self.data.valid.labels.len();
        let (mut loss, mut hits, mut seen) = (0.0, 0.0, 0usize);
        for &b in batches {
            let indices: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
            let (x, y) = image_tensors(&self.data, &self.data.valid, &indices, None, self.device)?;
            let (l, h) = score_batch(&child, &x, &y)?;
            loss += l;
            hits += h;
            seen += indices.len();
        }
        let seen = seen.max(1) as f64;
        Ok(Scored {
            loss: loss / seen,
            metric: hits / seen,
        })
    }

    /// ω's weights, momentum buffers and step count (for a checkpoint).
    pub fn save(&self) -> Result<SupernetState, ChildError> {
        let mut carried = Vec::new();
        for m in &self.momentum {
            carried.extend(to_vec(m)?);
        }
        Ok(SupernetState {
            weights: read_weights(&self.vs)?,
            carried,
            steps: self.steps,
        })
    }

    /// Restore what [`CnnSupernet::save`] returned (from a supernet of the same shape).
    pub fn restore(&mut self, saved: &SupernetState) -> Result<(), ChildError> {
        let section = "[space.cnn] or [child.cnn]";
        write_weights(&self.vs, &saved.weights, section)?;
        write_flat(&self.momentum, &saved.carried, section)?;
        self.steps = saved.steps;
        Ok(())
    }
}

/// The inputs layer `i` can take in the space `cfg` describes: the image
/// or any earlier layer with skip connections, else the previous layer (the
/// image for the first).
fn sources(cfg: &CnnSupernetConfig, i: usize) -> Vec<Source> {
    if cfg.skip_connections {
        std::iter::once(Source::Image)
            .chain((0..i).map(Source::Layer))
            .collect()
    } else if i == 0 {
        vec![Source::Image]
    } else {
        vec![Source::Layer(i - 1)]
    }
}
