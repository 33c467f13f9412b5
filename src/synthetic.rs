//! The synthetic child backend: the reward is a deterministic function of the
//! architecture, delivered after a configurable delay. For tests of the
//! orchestrator and for simulating the paper's scale (K=100, m=8, 800 slots)
//! on a small machine.
//!
//! The landscape: a hidden target token sequence drawn from the experiment
//! seed; the reward is `0.1 + 0.9 · f²` where `f` is the fraction of the
//! canonical architecture's tokens that match the target. It has a single
//! optimum and a smooth path to it, so a working REINFORCE clearly beats
//! random search on it.
//!
//! With `child.synthetic.epochs = N`, a child also has a learning curve: at
//! epoch e its validation metric is `0.1 + (r − 0.1)·(e/N)^a`, reaching its
//! reward r at epoch N, with a speed `a` in [0.5, 2] of its own (from its
//! architecture's hash): slow starters exist, so the median stopping rule
//! can be wrong, as it can with real children. Each epoch takes
//! `delay_ms / N`, is reported through [`Progress::on_epoch`], and a
//! cancelled child stops between epochs with the epochs it ran.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::child::{ChildError, ChildOutcome, ChildStatus, EpochMetrics, Progress, CANCELLED};
use crate::config::{Config, SyntheticFailure};
use crate::space::{Architecture, Schema, SearchSpace, Step};

/// The hidden target of the landscape for a schema.
pub fn target(schema: &Schema, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED7A_26E7_u64);
    let mut tokens = Vec::with_capacity(schema.num_tokens());
    for step in &schema.steps {
        match *step {
            Step::Choice { head } => tokens.push(rng.random_range(0..schema.heads[head].size)),
            Step::Anchor { layer } => tokens.extend((0..layer).map(|_| rng.random_range(0..2))),
        }
    }
    tokens
}

/// The landscape's reward of an architecture (no delay), in [0.1, 1].
pub fn reward(space: &SearchSpace, arch: &Architecture, seed: u64) -> f64 {
    let tokens = match space.encode(&arch.canonical()) {
        Ok(t) => t,
        Err(_) => return 0.0,
    };
    let Ok(schema) = space.schema_for_len(tokens.len()) else {
        return 0.0;
    };
    let target = target(&schema, seed);
    let hits = tokens.iter().zip(&target).filter(|(a, b)| a == b).count();
    let f = hits as f64 / tokens.len().max(1) as f64;
    0.1 + 0.9 * f * f
}

/// Evaluate one child: sleep `child.synthetic.delay_ms`, then the landscape's
/// reward; a `child.synthetic.failure_rate` share of children (chosen by id)
/// fail on purpose with the failure reward, as `child.synthetic.failure_kind`
/// says. With `failure_kind = "panic"` this function really panics: the
/// trainer's `catch_unwind` is what is under test.
pub fn evaluate(
    space: &SearchSpace,
    arch: &Architecture,
    config: &Config,
    id: u64,
    progress: &mut dyn Progress,
) -> ChildOutcome {
    let start = Instant::now();
    let syn = &config.child.synthetic;
    if syn.epochs > 0 {
        return with_curve(space, arch, config, id, progress);
    }
    let delay = delay_ms(arch, syn);
    if delay > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(delay / 1000.0));
    }
    if let Some(out) = injected(config, id, start) {
        return out;
    }
    let r = reward(space, arch, config.experiment.seed);
    let seconds = start.elapsed().as_secs_f64();
    ChildOutcome {
        status: ChildStatus::Ok,
        reward: r,
        metric: Some(r),
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: Some(1.0 - r),
            val_loss: Some(1.0 - r),
            val_metric: r,
            seconds,
        }],
        params: 0,
        seconds,
        message: None,
    }
}

/// How long a child of `arch` takes, in milliseconds:
/// `delay_ms · delay_spread^u` with u in [0, 1) drawn from the architecture's hash.
pub fn delay_ms(arch: &Architecture, syn: &crate::config::SyntheticConfig) -> f64 {
    if syn.delay_spread <= 1.0 {
        return syn.delay_ms;
    }
    let h = arch
        .hash()
        .ok()
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .unwrap_or(0);
    let u = (h.rotate_left(23) >> 11) as f64 / (1u64 << 53) as f64;
    syn.delay_ms * syn.delay_spread.powf(u)
}

/// The curve's speed `a` of an architecture, in [0.5, 2].
pub fn curve_speed(arch: &Architecture) -> f64 {
    let h = arch
        .hash()
        .ok()
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .unwrap_or(0);
    0.5 + 1.5 * ((h >> 11) as f64 / (1u64 << 53) as f64)
}

/// The validation metric at 1-based `epoch` of `epochs`, for a child of reward `r`.
pub fn curve_value(r: f64, speed: f64, epoch: usize, epochs: usize) -> f64 {
    let t = epoch as f64 / epochs.max(1) as f64;
    0.1 + (r - 0.1) * t.powf(speed)
}

/// The failed outcome of child `id` when `child.synthetic.failure_rate`
/// picks it (by a draw from its id), else None.
fn injected(config: &Config, id: u64, start: Instant) -> Option<ChildOutcome> {
    let syn = &config.child.synthetic;
    let mut rng = ChaCha8Rng::seed_from_u64(config.experiment.seed.wrapping_mul(0x9E37_79B9) ^ id);
    if syn.failure_rate > 0.0 && rng.random::<f64>() < syn.failure_rate {
        let (status, message) = injected_failure(syn.failure_kind, id);
        let mut out = ChildOutcome::failure(status, config.reward.failure, message);
        out.seconds = start.elapsed().as_secs_f64();
        return Some(out);
    }
    None
}

/// [`evaluate`] with a learning curve of `child.synthetic.epochs` epochs.
fn with_curve(
    space: &SearchSpace,
    arch: &Architecture,
    config: &Config,
    id: u64,
    progress: &mut dyn Progress,
) -> ChildOutcome {
    let start = Instant::now();
    let syn = &config.child.synthetic;
    if let Some(out) = injected(config, id, start) {
        return out;
    }
    let r = reward(space, arch, config.experiment.seed);
    let speed = curve_speed(arch);
    let delay = delay_ms(arch, syn);
    let n = syn.epochs;
    let mut epochs = Vec::with_capacity(n);
    for e in 1..=n {
        if progress.cancelled() {
            let mut out =
                ChildOutcome::failure(ChildStatus::Failed, config.reward.failure, CANCELLED);
            out.epochs = epochs;
            out.seconds = start.elapsed().as_secs_f64();
            return out;
        }
        let t0 = Instant::now();
        if delay > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(delay / 1000.0 / n as f64));
        }
        let v = curve_value(r, speed, e, n);
        let m = EpochMetrics {
            epoch: e,
            train_loss: Some(1.0 - v),
            val_loss: Some(1.0 - v),
            val_metric: v,
            seconds: t0.elapsed().as_secs_f64(),
        };
        progress.on_epoch(&m);
        epochs.push(m);
    }
    ChildOutcome {
        status: ChildStatus::Ok,
        reward: r,
        metric: Some(r),
        epochs,
        params: 0,
        seconds: start.elapsed().as_secs_f64(),
        message: None,
    }
}

/// What libtorch reports when a CUDA allocation fails (PyTorch 2.x wording),
/// up to the C++ backtrace.
pub const CUDA_OOM_MESSAGE: &str = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total \
capacity of 79.25 GiB of which 1.06 GiB is free. Including non-PyTorch memory, this process has 78.18 GiB \
memory in use. Of the allocated memory 76.90 GiB is allocated by PyTorch, and 0.78 GiB is reserved by \
PyTorch but unallocated. If reserved but unallocated memory is large try setting \
PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory \
Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)";

/// The status and message of an injected failure of child `id`; panics for
/// [`SyntheticFailure::Panic`].
fn injected_failure(kind: SyntheticFailure, id: u64) -> (ChildStatus, String) {
    match kind {
        SyntheticFailure::Failed => (
            ChildStatus::Failed,
            "synthetic failure (child.synthetic.failure_rate)".into(),
        ),
        SyntheticFailure::Panic => {
            panic!("synthetic panic in child {id} (child.synthetic.failure_kind = \"panic\")")
        }
        SyntheticFailure::Diverged => {
            let e = ChildError::Diverged {
                epoch: 1,
                batch: 1,
                loss: f64::NAN,
            };
            (ChildStatus::Diverged, e.to_string())
        }
        SyntheticFailure::Oom => {
            let torch = tch::TchError::Torch(format!(
                "{CUDA_OOM_MESSAGE}\nException raised from malloc at /pytorch/c10/cuda/CUDACachingAllocator.cpp:1369 \
                 (most recent call first):\nframe #0: c10::Error::Error(...)"
            ));
            (ChildStatus::Failed, ChildError::from(torch).to_string())
        }
    }
}
