//! Seeded parameter initialisation: every trainable variable of a VarStore is
//! overwritten with draws from a `ChaCha8Rng`, in the order of the variables' names,
//! so the same seed gives the same network in any thread (tch's RNG is process-global).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, TchError, Tensor};

/// How one variable is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ParamInit {
    /// Every element is this value.
    Const(f64),
    /// Uniform in [-bound, bound].
    Uniform(f64),
}

/// Overwrite every trainable variable of `vs` (sorted by name) as `rule(name, shape)` says.
fn seeded_init(
    vs: &nn::VarStore,
    seed: u64,
    rule: impl Fn(&str, &[i64]) -> ParamInit,
) -> Result<(), TchError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, var) in &mut vars {
            let shape = var.size();
            let n = shape.iter().product::<i64>().max(0) as usize;
            let values: Vec<f32> = match rule(name, &shape) {
                ParamInit::Const(v) => vec![v as f32; n],
                ParamInit::Uniform(bound) => (0..n)
                    .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                    .collect(),
            };
            let src = Tensor::f_from_slice(&values)?
                .f_view(shape.as_slice())?
                .f_to_device(var.device())?;
            var.f_copy_(&src)?;
        }
        Ok(())
    })
}

/// Initialise a [`CnnChild`](super::CnnChild)'s variables: convolutions Kaiming-uniform
/// (bound √(6 / fan_in)), batch-norm scale 1 and shift 0, classifier weights uniform
/// ±1/√fan_in and bias 0.
pub fn init_cnn_params(vs: &nn::VarStore, seed: u64) -> Result<(), TchError> {
    seeded_init(vs, seed, |name, shape| {
        let fan_in = shape.iter().skip(1).product::<i64>().max(1) as f64;
        if name.ends_with(".bn.weight") {
            ParamInit::Const(1.0)
        } else if name.ends_with("bias") {
            ParamInit::Const(0.0)
        } else if name.ends_with(".conv.weight") {
            ParamInit::Uniform((6.0 / fan_in).sqrt())
        } else {
            ParamInit::Uniform(1.0 / fan_in.sqrt())
        }
    })
}

/// Initialise a [`WordLm`](super::WordLm)'s variables: all uniform in ±`init_range`
/// (Zaremba et al.'s scheme, `child.lm.init_range`).
pub fn init_lm_params(vs: &nn::VarStore, init_range: f64, seed: u64) -> Result<(), TchError> {
    seeded_init(vs, seed, |_, _| ParamInit::Uniform(init_range))
}
