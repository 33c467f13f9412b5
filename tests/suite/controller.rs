//! Tests of `controller`: sampling agrees with teacher-forced scoring, the
//! REINFORCE gradient against finite differences, determinism, Adam, the
//! baseline, gradient clipping, errors, and learning a toy target in both spaces.

use std::path::Path;

use nas_actor::config::{Config, ControllerConfig};
use nas_actor::controller::{
    clip_global_norm, Adam, Baseline, Controller, ControllerError, Reinforce,
};
use nas_actor::space::{sample_uniform, Schema, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A validated config for `space` ("cnn" or "cell") with extra TOML tables.
pub(crate) fn config(space: &str, tables: &str) -> Config {
    let dataset = if space == "cnn" { "cifar10" } else { "ptb" };
    let text = format!(
        "[experiment]\nname = \"t\"\noutput_dir = \"runs/t\"\nbudget = 1\n\n\
         [search]\nspace = \"{space}\"\n\n[data]\ndataset = \"{dataset}\"\ndir = \"data\"\n\n{tables}"
    );
    match Config::from_toml(&text, Path::new("test.toml")) {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e}\n{text}"),
    }
}

/// The space, its schema, and a controller for it.
pub(crate) fn setup(config: &Config, seed: u64) -> (SearchSpace, Schema, Controller) {
    let space = SearchSpace::from_config(config).expect("space");
    let schema = space.schema(0);
    let controller = Controller::new(&space.heads(), &config.controller, seed);
    (space, schema, controller)
}

pub(crate) const CNN_FULL: &str =
    "[space.cnn]\nlayers = 15\npredict_strides = true\npredict_pooling = true\n";
pub(crate) const CELL_8: &str = "[space.cell]\nbase = 8\n";

fn assert_sample_matches_log_prob(config: &Config) {
    let (space, schema, controller) = setup(config, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let sampled = controller.sample(&schema, 16, &mut rng);
    let tokens: Vec<Vec<usize>> = sampled.iter().map(|s| s.tokens.clone()).collect();
    for t in &tokens {
        assert!(space.decode(t).is_ok(), "sampled tokens must decode");
    }
    let lp = Vec::<f64>::try_from(controller.log_prob(&schema, &tokens)).expect("[n] tensor");
    let ent = Vec::<f64>::try_from(controller.entropy(&schema, &tokens).expect("entropy"))
        .expect("[n] tensor");
    for (k, s) in sampled.iter().enumerate() {
        assert!(s.log_prob < 0.0 && s.entropy > 0.0);
        assert!(
            (s.log_prob - lp[k]).abs() < 1e-5,
            "sequence {k}: sample says {}, log_prob says {}",
            s.log_prob,
            lp[k]
        );
        assert!((s.entropy - ent[k]).abs() < 1e-5, "sequence {k}: entropy");
    }
}

#[test]
fn log_prob_matches_sample_for_cnn_with_skips_strides_pooling() {
    let config = config("cnn", CNN_FULL);
    assert_sample_matches_log_prob(&config);
}

#[test]
fn log_prob_matches_sample_for_base_8_cell() {
    assert_sample_matches_log_prob(&config("cell", CELL_8));
}

#[test]
fn log_prob_matches_sample_with_temperature_and_tanh_constant() {
    let tables = format!("{CNN_FULL}\n[controller]\ntemperature = 1.7\ntanh_constant = 2.5\n");
    assert_sample_matches_log_prob(&config("cnn", &tables));
}

#[test]
fn a_skip_free_cnn_schema_samples_and_scores() {
    let config = config("cnn", "[space.cnn]\nlayers = 3\nskip_connections = false\n");
    assert_sample_matches_log_prob(&config);
}

/// The loss at the controller's current parameters.
fn loss_at(c: &Controller, schema: &Schema, tokens: &[Vec<usize>], adv: &[f64]) -> f64 {
    c.reinforce_gradient(schema, tokens, adv)
        .expect("gradient")
        .1
}

fn check_gradient(tables: &str, space: &str) {
    let config = config(space, tables);
    let (_, schema, mut controller) = setup(&config, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let tokens: Vec<Vec<usize>> = controller
        .sample(&schema, 4, &mut rng)
        .into_iter()
        .map(|s| s.tokens)
        .collect();
    let adv = [1.0, -0.5, 0.3, -1.2];
    let (grad, _) = controller
        .reinforce_gradient(&schema, &tokens, &adv)
        .expect("gradient");
    let theta = controller.flat_params();
    assert_eq!(grad.len(), theta.len());
    // The 12 largest gradient entries and 12 spread over the whole vector.
    let mut order: Vec<usize> = (0..grad.len()).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    let mut picks: Vec<usize> = order[..12].to_vec();
    picks.extend((0..12).map(|i| i * grad.len() / 12 + 3));
    let eps = 1e-3f32;
    let mut checked_large = 0;
    for &i in &picks {
        let mut plus = theta.clone();
        plus[i] += eps;
        let mut minus = theta.clone();
        minus[i] -= eps;
        let step = f64::from(plus[i]) - f64::from(minus[i]);
        controller.set_flat_params(&plus).expect("length");
        let lp = loss_at(&controller, &schema, &tokens, &adv);
        controller.set_flat_params(&minus).expect("length");
        let lm = loss_at(&controller, &schema, &tokens, &adv);
        let fd = (lp - lm) / step;
        let g = f64::from(grad[i]);
        assert!(
            (fd - g).abs() <= 2e-3 + 0.03 * g.abs(),
            "parameter {i}: finite difference {fd}, analytic {g}"
        );
        if g.abs() > 0.05 {
            checked_large += 1;
        }
    }
    controller.set_flat_params(&theta).expect("length");
    assert!(checked_large >= 6, "too few large gradient entries checked");
}

#[test]
fn reinforce_gradient_matches_finite_differences() {
    let tiny = "[controller]\nhidden_size = 4\ninit_range = 0.5\n";
    let cnn = format!("[space.cnn]\nlayers = 3\nfilter_heights = [1, 3]\nfilter_widths = [1, 3]\nnum_filters = [8, 16]\npredict_pooling = true\n\n{tiny}");
    check_gradient(&cnn, "cnn");
    check_gradient(&format!("[space.cell]\nbase = 2\n\n{tiny}"), "cell");
}

#[test]
fn reinforce_gradient_with_entropy_and_shaping_matches_finite_differences() {
    let tables = "[space.cnn]\nlayers = 3\nfilter_heights = [1, 3]\nfilter_widths = [1, 3]\nnum_filters = [8, 16]\n\n\
                  [controller]\nhidden_size = 4\ninit_range = 0.5\nentropy_weight = 0.7\ntemperature = 1.5\ntanh_constant = 2.0\n";
    check_gradient(tables, "cnn");
}

#[test]
fn the_entropy_bonus_changes_the_loss_by_its_weight() {
    let plain = config("cell", "[space.cell]\nbase = 2\n");
    let bonus = config(
        "cell",
        "[space.cell]\nbase = 2\n[controller]\nentropy_weight = 0.5\n",
    );
    let (_, schema, a) = setup(&plain, 1);
    let (_, _, b) = setup(&bonus, 1);
    let tokens: Vec<Vec<usize>> = a
        .sample(&schema, 3, &mut ChaCha8Rng::seed_from_u64(0))
        .into_iter()
        .map(|s| s.tokens)
        .collect();
    let adv = [0.2, -0.1, 0.4];
    let mean_h = a
        .entropy(&schema, &tokens)
        .expect("entropy")
        .mean(tch::Kind::Double);
    let la = loss_at(&a, &schema, &tokens, &adv);
    let lb = loss_at(&b, &schema, &tokens, &adv);
    assert!((la - 0.5 * mean_h.double_value(&[]) - lb).abs() < 1e-5);
}

#[test]
fn same_seed_same_architectures_different_seed_different() {
    let config = config("cnn", CNN_FULL);
    let (_, schema, a) = setup(&config, 9);
    let (_, _, b) = setup(&config, 9);
    let (_, _, c) = setup(&config, 10);
    assert_eq!(a.flat_params(), b.flat_params(), "init is deterministic");
    assert_ne!(a.flat_params(), c.flat_params());
    let draw = |ctl: &Controller, seed: u64| -> Vec<Vec<usize>> {
        ctl.sample(&schema, 8, &mut ChaCha8Rng::seed_from_u64(seed))
            .into_iter()
            .map(|s| s.tokens)
            .collect()
    };
    assert_eq!(draw(&a, 1), draw(&b, 1));
    assert_ne!(draw(&a, 1), draw(&a, 2), "different rng seed");
    assert_ne!(draw(&a, 1), draw(&c, 1), "different controller seed");
    // A replica in another thread, with tch's global RNG disturbed, agrees.
    let schema2 = schema.clone();
    let cfg = config.controller.clone();
    let heads = schema.heads.clone();
    let remote = std::thread::spawn(move || {
        tch::manual_seed(1234);
        let _ = tch::Tensor::rand([10], (tch::Kind::Float, tch::Device::Cpu));
        let ctl = Controller::new(&heads, &cfg, 9);
        ctl.sample(&schema2, 8, &mut ChaCha8Rng::seed_from_u64(1))
            .into_iter()
            .map(|s| s.tokens)
            .collect::<Vec<_>>()
    })
    .join()
    .expect("thread");
    assert_eq!(remote, draw(&a, 1));
}

#[test]
fn init_is_uniform_in_the_init_range() {
    let config = config("cell", "[controller]\ninit_range = 0.08\n");
    let (_, _, c) = setup(&config, 0);
    let p = c.flat_params();
    assert_eq!(p.len(), c.num_params());
    assert!(p.iter().all(|v| v.abs() <= 0.08));
    let mean = p.iter().map(|v| f64::from(*v)).sum::<f64>() / p.len() as f64;
    let var = p.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / p.len() as f64;
    assert!(mean.abs() < 0.005, "mean {mean}");
    assert!((var - 0.08f64.powi(2) / 3.0).abs() < 2e-4, "variance {var}");
    let names = c.param_names();
    assert!(names.contains(&"lstm.w_ih_l1".to_string()));
    assert!(names.contains(&"head.node_activation.weight".to_string()));
    assert!(names.contains(&"attention.v".to_string()));
}

#[test]
fn flat_params_round_trip_and_length_is_checked() {
    let config = config("cell", "");
    let (_, schema, mut c) = setup(&config, 0);
    let mut p = c.flat_params();
    p.iter_mut().for_each(|v| *v *= -2.0);
    c.set_flat_params(&p).expect("length");
    assert_eq!(c.flat_params(), p);
    let err = c.set_flat_params(&p[1..]).expect_err("short vector");
    assert!(matches!(err, ControllerError::ParamLength { .. }));
    assert!(err.to_string().contains("parameters"));
    let bad = vec![vec![0; schema.num_tokens() + 1]];
    let err = c
        .reinforce_gradient(&schema, &bad, &[1.0])
        .expect_err("bad tokens");
    assert!(matches!(err, ControllerError::Tokens { index: 0, .. }));
    let good = vec![vec![0; schema.num_tokens()]];
    assert!(matches!(
        c.reinforce_gradient(&schema, &good, &[1.0, 2.0]),
        Err(ControllerError::BatchMismatch { .. })
    ));
    let other = SearchSpace::from_config(&config_cnn_small())
        .expect("space")
        .schema(0);
    assert!(matches!(
        c.try_sample(&other, 2, &mut ChaCha8Rng::seed_from_u64(0)),
        Err(ControllerError::Schema(_))
    ));
}

fn config_cnn_small() -> Config {
    config("cnn", "[space.cnn]\nlayers = 4\n")
}

#[test]
fn adam_matches_a_hand_computed_step() {
    let cfg = ControllerConfig::default(); // β1 0.9, β2 0.999, ε 1e-8
    let mut adam = Adam::new(2, &cfg, 0.1);
    let mut p = [1.0f32, -2.0];
    adam.step(&mut p, &[0.5, -0.1]);
    // Step 1: m̂ = g, v̂ = g², so each parameter moves by lr·sign(g).
    assert!(
        (p[0] - 0.9).abs() < 1e-6 && (p[1] + 1.9).abs() < 1e-6,
        "{p:?}"
    );
    let snapshot: Adam =
        serde_json::from_str(&serde_json::to_string(&adam).expect("ser")).expect("de");
    adam.step(&mut p, &[0.2, 0.3]);
    // Step 2, parameter 0: m = 0.9·0.05 + 0.1·0.2 = 0.065, v = 0.999·0.00025 + 0.001·0.04
    // = 0.00028975; m̂ = 0.065/0.19, v̂ = 0.00028975/0.001999.
    let m_hat = 0.065 / 0.19;
    let v_hat = 0.000_289_75 / 0.001_999;
    let expected0 = 0.9 - 0.1 * m_hat / (f64::sqrt(v_hat) + 1e-8);
    assert!(
        (f64::from(p[0]) - expected0).abs() < 1e-6,
        "{} vs {expected0}",
        p[0]
    );
    // Parameter 1: m = 0.9·(−0.01) + 0.1·0.3 = 0.021, v = 0.999·1e-5 + 0.001·0.09 = 0.00009999.
    let expected1 = -1.9 - 0.1 * (0.021 / 0.19) / (f64::sqrt(0.000_099_99 / 0.001_999) + 1e-8);
    assert!(
        (f64::from(p[1]) - expected1).abs() < 1e-6,
        "{} vs {expected1}",
        p[1]
    );
    assert_eq!(adam.steps(), 2);
    // The serialised state continues identically.
    let mut restored = snapshot;
    let mut q = [0.9f32, -1.9];
    restored.step(&mut q, &[0.2, 0.3]);
    assert_eq!(restored, adam);
}

#[test]
fn baseline_uses_previous_rewards_only() {
    let mut b = Baseline::new(0.5);
    assert_eq!(b.value(), 0.0);
    // Both advantages use b = 0; then b = 0.5·(0.5·0 + 0.5·1) + 0.5·3 = 1.75.
    assert_eq!(b.advantages(&[1.0, 3.0]), vec![1.0, 3.0]);
    assert!((b.value() - 1.75).abs() < 1e-12);
    assert_eq!(b.advantages(&[2.0]), vec![0.25]);
    assert!((b.value() - 1.875).abs() < 1e-12);
}

#[test]
fn clip_global_norm_scales_only_long_gradients() {
    let mut g = [3.0f32, 4.0];
    assert_eq!(clip_global_norm(&mut g, 10.0), 5.0);
    assert_eq!(g, [3.0, 4.0]);
    assert_eq!(clip_global_norm(&mut g, 1.0), 5.0);
    assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
}

#[test]
fn a_failed_update_changes_nothing() {
    let config = config_cnn_small();
    let space = SearchSpace::from_config(&config).expect("space");
    let schema = space.schema(0);
    let mut r = Reinforce::new(&space.heads(), &config.controller, 0.01, 0);
    let tokens = vec![sample_uniform(&schema, &mut ChaCha8Rng::seed_from_u64(0))];
    let before = r.controller.flat_params();
    assert!(matches!(
        r.update(&schema, &tokens, &[f64::NAN]),
        Err(ControllerError::NonFinite { index: 0, .. })
    ));
    assert_eq!(r.controller.flat_params(), before);
    assert_eq!((r.adam.steps(), r.baseline().value()), (0, 0.0));
    let stats = r.update(&schema, &tokens, &[0.5]).expect("update");
    assert_eq!((stats.baseline, stats.mean_reward), (0.0, 0.5));
    assert_ne!(r.controller.flat_params(), before);
}

#[test]
fn sample_uniform_is_valid_and_deterministic() {
    for config in [config("cnn", CNN_FULL), config("cell", CELL_8)] {
        let space = SearchSpace::from_config(&config).expect("space");
        let schema = space.schema(0);
        let a = sample_uniform(&schema, &mut ChaCha8Rng::seed_from_u64(4));
        let b = sample_uniform(&schema, &mut ChaCha8Rng::seed_from_u64(4));
        assert_eq!(a, b);
        assert!(space.decode(&a).is_ok());
    }
}

/// The toy's controller settings. REINFORCE at a toy learning rate collapses
/// onto wrong tokens without help, so the toy adds a small entropy bonus and a
/// faster-tracking baseline; its learning rate (0.01) is far above the paper's
/// 0.0006/0.0005 so that it learns within seconds.
const TOY_CONTROLLER: &str = "[controller]\nentropy_weight = 0.01\nbaseline_decay = 0.8\n";
const TOY_LR: f64 = 0.01;
const TOY_BATCH: usize = 16;

/// Train on the toy reward (fraction of tokens equal to a hidden target) and
/// return (mean reward of 64 fresh samples before, after, updates used).
/// With `taped`, sampling keeps a tape and the update is the taped gradient
/// (what a search's replicas do); otherwise the teacher-forced reference.
fn learn_toy(config: &Config, max_updates: usize, taped: bool) -> (f64, f64, usize) {
    let space = SearchSpace::from_config(config).expect("space");
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let target = sample_uniform(&schema, &mut rng);
    let reward = |t: &[usize]| {
        t.iter().zip(&target).filter(|(a, b)| a == b).count() as f64 / target.len() as f64
    };
    let mut search = Reinforce::new(&space.heads(), &config.controller, TOY_LR, 3);
    let eval = |c: &Controller, rng: &mut ChaCha8Rng| {
        let s = c.sample(&schema, 64, rng);
        s.iter().map(|s| reward(&s.tokens)).sum::<f64>() / 64.0
    };
    let before = eval(&search.controller, &mut rng);
    for update in 1..=max_updates {
        let (sampled, tape) = search
            .controller
            .sample_taped(&schema, TOY_BATCH, &mut rng)
            .expect("sample");
        let tokens: Vec<Vec<usize>> = sampled.into_iter().map(|s| s.tokens).collect();
        let rewards: Vec<f64> = tokens.iter().map(|t| reward(t)).collect();
        if taped {
            search
                .update_taped(&schema, &tape, &tokens, &rewards)
                .expect("update");
        } else {
            search.update(&schema, &tokens, &rewards).expect("update");
        }
        if update % 10 == 0 {
            let now = eval(&search.controller, &mut rng);
            if now >= 0.9 {
                return (before, now, update);
            }
        }
    }
    (before, eval(&search.controller, &mut rng), max_updates)
}

#[test]
fn controller_learns_a_toy_target_in_the_cnn_space() {
    // 3 layers with skips: 9 choices of 4 options and 3 skip tokens (chance ≈ 0.31).
    let config = config(
        "cnn",
        &format!("[space.cnn]\nlayers = 3\n\n{TOY_CONTROLLER}"),
    );
    for taped in [false, true] {
        let (before, after, updates) = learn_toy(&config, 600, taped);
        assert!(before < 0.5, "chance level is ~0.31, got {before}");
        assert!(
            after >= 0.9,
            "taped {taped}: mean reward {after} after {updates} updates"
        );
    }
}

#[test]
fn controller_learns_a_toy_target_in_the_cell_space() {
    // Base 2: 10 choices of 2 to 4 options (chance ≈ 0.37).
    let config = config(
        "cell",
        &format!("[space.cell]\nbase = 2\n\n{TOY_CONTROLLER}"),
    );
    for taped in [false, true] {
        let (before, after, updates) = learn_toy(&config, 600, taped);
        assert!(before < 0.6, "chance level is ~0.37, got {before}");
        assert!(
            after >= 0.9,
            "taped {taped}: mean reward {after} after {updates} updates"
        );
    }
}

#[test]
fn controller_and_search_core_can_move_to_another_thread() {
    fn send<T: Send>() {}
    send::<Controller>();
    send::<Reinforce>();
    send::<Adam>();
    send::<Baseline>();
}

#[test]
fn a_first_batch_baseline_starts_at_the_mean_of_the_first_rewards() {
    use nas_actor::controller::BaselineInit;
    let mut b = Baseline::starting(0.5, BaselineInit::FirstBatch);
    assert_eq!(b.value(), 0.0);
    // b = mean(1, 3) = 2 before the first batch: advantages −1, +1; then
    // b = 0.5·(0.5·2 + 0.5·1) + 0.5·3 = 2.25.
    assert_eq!(b.advantages(&[1.0, 3.0]), vec![-1.0, 1.0]);
    assert!((b.value() - 2.25).abs() < 1e-12);
    // Later batches use the moving average as before.
    assert_eq!(b.advantages(&[2.0]), vec![-0.25]);
    // A checkpoint written before the key existed reads as a zero start.
    let old: Baseline =
        serde_json::from_str(r#"{"value":0.0,"decay":0.5,"seen":0}"#).expect("old checkpoint");
    assert_eq!(old, Baseline::new(0.5));
}
