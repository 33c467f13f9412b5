//! The synthetic reward of a declared space (its optimum, determinism, the
//! scoring of inputs) and the real controller learning it with REINFORCE.

use nas_actor::config::ControllerConfig;
use nas_actor::controller::{Controller, Reinforce};
use nas_actor::space::declared::{DeclaredArch, DeclaredSpace, Entry, Field};
use nas_actor::space::sample_uniform;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{space, EXAMPLE, SMALL};

/// Two globals and a 4-layer group with an inputs decision: 17 scored
/// decisions (2 globals, 12 choices in the layers, inputs of layers 1–3).
const TOY: &str = r#"
[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam", "rmsprop"]

[[space.custom.decision]]
name = "lr"
choices = [0.1, 0.01, 0.001]

[[space.custom.group]]
name = "layer"
repeat = 4

[[space.custom.group.decision]]
name = "kernel"
choices = [1, 3, 5]

[[space.custom.group.decision]]
name = "filters"
choices = [16, 32, 64]

[[space.custom.group.decision]]
name = "activation"
choices = ["relu", "tanh"]

[[space.custom.group.decision]]
name = "inputs"
kind = "inputs"
"#;

#[test]
fn the_optimum_scores_one_and_the_reward_is_deterministic() {
    for text in [EXAMPLE, SMALL, TOY] {
        let s = space(text);
        let best = s.optimum(3).expect("optimum");
        assert_eq!(s.synthetic_reward(&best, 3).expect("reward"), 1.0);
        assert_eq!(s.preferred(3), s.preferred(3));
        assert_ne!(
            s.preferred(3),
            s.preferred(4),
            "another seed, another optimum"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let tokens = sample_uniform(&s.schema(), &mut rng);
            let r = s.synthetic_reward_of_tokens(&tokens, 3).expect("reward");
            assert!((0.0..=1.0).contains(&r));
            assert!(
                r < 1.0 || tokens == s.preferred(3),
                "1.0 only at the optimum"
            );
        }
    }
}

#[test]
fn the_reward_is_the_mean_score_of_the_decisions() {
    let s = space(SMALL);
    let preferred = s.preferred(0);
    // Scored decisions of SMALL: 2 globals, 3 kernels, 3 dropouts, 2 widths,
    // inputs of layers 1 and 2 (layer 0 has nothing to decide): 12.
    // Changing one choice costs 1/12.
    let mut one_off = preferred.clone();
    one_off[0] = (one_off[0] + 1) % 3;
    let r = s.synthetic_reward_of_tokens(&one_off, 0).expect("reward");
    assert!((r - 11.0 / 12.0).abs() < 1e-12, "{r}");
    // One of the two skip bits of layer 2 wrong costs half a decision.
    let best = s.optimum(0).expect("optimum");
    let mut half = best.clone();
    if let Some(Entry::Repeats(layers)) = half.0.get_mut("layer") {
        let Some(Field::Inputs(inputs)) = layers[2].0.get("skip").cloned() else {
            panic!("layer 2 has inputs")
        };
        let flipped: Vec<usize> = (0..2).filter(|j| inputs.contains(j) != (*j == 0)).collect();
        layers[2].0.insert("skip".into(), Field::Inputs(flipped));
    }
    let r = s.synthetic_reward(&half, 0).expect("reward");
    assert!((r - 11.5 / 12.0).abs() < 1e-12, "{r}");
    // Unsorted inputs score as their canonical form.
    let arch: DeclaredArch = half.canonical();
    assert_eq!(s.synthetic_reward(&arch, 0).expect("reward"), r);
}

/// As the controller's toy tests: an entropy bonus, a fast baseline, lr 0.01.
fn toy_controller() -> ControllerConfig {
    ControllerConfig {
        entropy_weight: 0.01,
        baseline_decay: 0.8,
        ..ControllerConfig::default()
    }
}

/// Mean synthetic reward of 64 fresh samples.
fn mean_reward(s: &DeclaredSpace, c: &Controller, seed: u64, rng: &mut ChaCha8Rng) -> f64 {
    let sampled = c.sample(&s.schema(), 64, rng);
    sampled
        .iter()
        .map(|x| {
            s.synthetic_reward_of_tokens(&x.tokens, seed)
                .expect("reward")
        })
        .sum::<f64>()
        / 64.0
}

#[test]
fn the_controller_learns_the_synthetic_reward_of_a_declared_space() {
    let s = space(TOY);
    let schema = s.schema();
    let seed = 11;
    let mut search = Reinforce::new(&s.heads(), &toy_controller(), 0.01, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // Chance: (2/3 + 4·(1/3 + 1/3 + 1/2) + 3·1/2) / 17 ≈ 0.40.
    let before = mean_reward(&s, &search.controller, seed, &mut rng);
    assert!(before < 0.55, "chance level is ~0.40, got {before}");
    let mut after = before;
    let mut updates = 0;
    while updates < 600 && after < 0.9 {
        let (sampled, tape) = search
            .controller
            .sample_taped(&schema, 16, &mut rng)
            .expect("sample");
        let tokens: Vec<Vec<usize>> = sampled.into_iter().map(|x| x.tokens).collect();
        let rewards: Vec<f64> = tokens
            .iter()
            .map(|t| s.synthetic_reward_of_tokens(t, seed).expect("reward"))
            .collect();
        search
            .update_taped(&schema, &tape, &tokens, &rewards)
            .expect("update");
        updates += 1;
        if updates % 10 == 0 {
            after = mean_reward(&s, &search.controller, seed, &mut rng);
        }
    }
    assert!(after >= 0.9, "mean reward {after} after {updates} updates");
    // What it learnt is the optimum: its most frequent samples are the preferred architecture.
    let hits = search
        .controller
        .sample(&schema, 64, &mut rng)
        .iter()
        .filter(|x| x.tokens == s.preferred(seed))
        .count();
    assert!(
        hits > 0,
        "no sample hit the optimum after {updates} updates"
    );
}
