//! The taped REINFORCE gradient (one backward pass over what sampling
//! recorded) against the reference: the teacher-forced, autograd gradient
//! of `Controller::reinforce_gradient`, for the same samples and advantages.

use nas_actor::controller::ControllerError;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::controller::{config, setup, CELL_8, CNN_FULL};

/// Taped and reference gradients and losses agree for `tables` in `space`.
fn assert_taped_matches_reference(space: &str, tables: &str) {
    let cfg = config(space, tables);
    let (_space, schema, controller) = setup(&cfg, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (sampled, tape) = controller
        .sample_taped(&schema, 6, &mut rng)
        .expect("taped sampling");
    assert_eq!(tape.len(), 6);
    let tokens: Vec<Vec<usize>> = sampled.iter().map(|s| s.tokens.clone()).collect();
    let advantages = [0.7, -0.4, 1.3, 0.0, -2.1, 0.25];
    let (reference, ref_loss) = controller
        .reinforce_gradient(&schema, &tokens, &advantages)
        .expect("reference gradient");
    let (taped, loss) = controller
        .reinforce_gradient_taped(&tape, &advantages)
        .expect("taped gradient");
    assert_eq!(taped.len(), reference.len());
    assert!((loss - ref_loss).abs() < 1e-5, "loss {loss} vs {ref_loss}");
    let scale = reference.iter().fold(0f32, |a, g| a.max(g.abs()));
    assert!(scale > 1e-4, "the reference gradient is not trivially zero");
    for (i, (a, b)) in taped.iter().zip(&reference).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale + 1e-6,
            "entry {i} ({}): taped {a}, reference {b}",
            owner(&controller, i)
        );
    }
}

/// The variable that flat entry `i` belongs to.
fn owner(c: &nas_actor::controller::Controller, i: usize) -> String {
    let mut start = 0;
    let vars = c.var_store().variables();
    for name in c.param_names() {
        let n = vars.get(&name).map_or(0, |t| t.numel());
        if i < start + n {
            return format!("{name}[{}]", i - start);
        }
        start += n;
    }
    "beyond the parameters".into()
}

#[test]
fn taped_gradient_matches_reference_for_cnn_with_skips_strides_pooling() {
    assert_taped_matches_reference("cnn", CNN_FULL);
}

#[test]
fn taped_gradient_matches_reference_for_base_8_cell() {
    assert_taped_matches_reference("cell", CELL_8);
}

#[test]
fn taped_gradient_matches_reference_with_entropy_temperature_and_tanh() {
    let tables = format!(
        "{CNN_FULL}\n[controller]\ntemperature = 1.7\ntanh_constant = 2.5\nentropy_weight = 0.3\n"
    );
    assert_taped_matches_reference("cnn", &tables);
    let tables = format!("{CELL_8}\n[controller]\nentropy_weight = 0.1\ntanh_constant = 1.5\n");
    assert_taped_matches_reference("cell", &tables);
}

#[test]
fn taped_gradient_matches_reference_for_a_skip_free_cnn() {
    assert_taped_matches_reference("cnn", "[space.cnn]\nlayers = 3\nskip_connections = false\n");
}

#[test]
fn taped_gradient_rejects_bad_advantages() {
    let cfg = config("cell", CELL_8);
    let (_space, schema, controller) = setup(&cfg, 1);
    let (_, tape) = controller
        .sample_taped(&schema, 2, &mut ChaCha8Rng::seed_from_u64(0))
        .expect("taped sampling");
    assert!(matches!(
        controller.reinforce_gradient_taped(&tape, &[1.0]),
        Err(ControllerError::BatchMismatch { .. })
    ));
    assert!(matches!(
        controller.reinforce_gradient_taped(&tape, &[1.0, f64::NAN]),
        Err(ControllerError::NonFinite { index: 1, .. })
    ));
}
