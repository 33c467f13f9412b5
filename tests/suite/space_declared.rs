//! Tests of `space::declared`: spaces parsed from `[space.custom]` TOML,
//! the schema's order, decode/encode round trips on random tokens (globals,
//! repeats, inputs), the paper's CNN space spelled out as a declared space,
//! config round trips; the JSON form and canonical hashing (`json`), every
//! validation message (`validation`), the synthetic reward and the
//! controller learning it (`learning`).

mod json;
mod learning;
mod search;
mod validation;

use nas_actor::config::{CnnSpaceConfig, ControllerConfig};
use nas_actor::controller::Controller;
use nas_actor::space::declared::{
    ChoiceValue, DecisionConfig, DeclaredArch, DeclaredError, DeclaredSpace, DeclaredSpaceConfig,
    Field, GroupConfig,
};
use nas_actor::space::{CnnSpace, Schema, SpaceError, Step};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

#[derive(Deserialize)]
struct Doc {
    space: Spaces,
}

#[derive(Deserialize)]
struct Spaces {
    custom: DeclaredSpaceConfig,
}

/// The `[space.custom]` config of a TOML text.
pub(crate) fn parse(text: &str) -> Result<DeclaredSpaceConfig, toml::de::Error> {
    toml::from_str::<Doc>(text).map(|d| d.space.custom)
}

/// The space of a TOML text, or the validation error.
pub(crate) fn space_of(text: &str) -> Result<DeclaredSpace, DeclaredError> {
    match parse(text) {
        Ok(cfg) => DeclaredSpace::new(cfg),
        Err(e) => panic!("test TOML does not parse: {e}\n{text}"),
    }
}

/// The space of a TOML text that must be valid.
pub(crate) fn space(text: &str) -> DeclaredSpace {
    space_of(text).unwrap_or_else(|e| panic!("test space is invalid: {e}\n{text}"))
}

/// The module doc's example: two globals before and after an 8-layer group.
pub(crate) const EXAMPLE: &str = r#"
[space.custom]
order = ["optimizer", "layer", "lr"]

[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam"]

[[space.custom.decision]]
name = "lr"
choices = [0.1, 0.01, 0.001]

[[space.custom.group]]
name = "layer"
repeat = 8

[[space.custom.group.decision]]
name = "kernel"
choices = [1, 3, 5, 7]

[[space.custom.group.decision]]
name = "filters"
choices = [24, 36, 48, 64]

[[space.custom.group.decision]]
name = "activation"
choices = ["relu", "tanh"]

[[space.custom.group.decision]]
name = "inputs"
kind = "inputs"
"#;

/// A small space: a global, a 3-repeat group with inputs in the middle of
/// its decisions, a second group without inputs, a boolean global.
pub(crate) const SMALL: &str = r#"
[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam", "rmsprop"]

[[space.custom.decision]]
name = "batch_norm"
choices = [true, false]

[[space.custom.group]]
name = "layer"
repeat = 3

[[space.custom.group.decision]]
name = "kernel"
choices = [1, 3, 5]

[[space.custom.group.decision]]
name = "skip"
kind = "inputs"

[[space.custom.group.decision]]
name = "dropout"
choices = [0.0, 0.25, 0.5]

[[space.custom.group]]
name = "head"
repeat = 2

[[space.custom.group.decision]]
name = "width"
choices = [64, 128]
"#;

fn spaces() -> Vec<DeclaredSpace> {
    vec![
        space(EXAMPLE),
        space(SMALL),
        // Globals only.
        space("[[space.custom.decision]]\nname = \"a\"\nchoices = [1]\n[[space.custom.decision]]\nname = \"b\"\nchoices = [\"x\", \"y\", \"z\"]\n"),
        // A group of nothing but inputs (no heads at all).
        space("[[space.custom.group]]\nname = \"cell\"\nrepeat = 5\n[[space.custom.group.decision]]\nname = \"from\"\nkind = \"inputs\"\n"),
    ]
}

/// Tokens of the space's schema from a list of raw draws.
fn tokens_from(space: &DeclaredSpace, draws: &[usize]) -> Vec<usize> {
    let schema = space.schema();
    let mut out = Vec::new();
    let mut i = 0;
    let mut next = |n: usize| {
        i += 1;
        draws[i % draws.len()] % n
    };
    for step in &schema.steps {
        match *step {
            Step::Choice { head } => out.push(next(schema.heads[head].size)),
            Step::Anchor { layer } => out.extend((0..layer).map(|_| next(2))),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decode_encode_round_trip(draws in prop::collection::vec(0usize..1000, 1..64)) {
        for space in spaces() {
            let tokens = tokens_from(&space, &draws);
            let arch = space.decode(&tokens).expect("valid tokens decode");
            prop_assert_eq!(space.encode(&arch).expect("encode"), tokens.clone());
            let json = serde_json::to_string(&arch).expect("json");
            let back: DeclaredArch = serde_json::from_str(&json).expect("from json");
            prop_assert_eq!(&back, &arch);
            let canon = arch.canonical();
            prop_assert_eq!(&canon, &arch, "decoded architectures are canonical");
            prop_assert_eq!(canon.hash().expect("hash"), arch.hash().expect("hash"));
            let r = space.synthetic_reward(&arch, 5).expect("reward");
            prop_assert!((0.0..=1.0).contains(&r));
        }
    }

    #[test]
    fn arbitrary_tokens_never_panic(tokens in prop::collection::vec(0usize..6, 0..80)) {
        for space in spaces() {
            match space.decode(&tokens) {
                Ok(arch) => prop_assert_eq!(space.encode(&arch).expect("encode"), tokens.clone()),
                Err(SpaceError::WrongLength { .. } | SpaceError::OutOfRange { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn arbitrary_json_never_panics(json in "\\PC{0,200}") {
        for space in spaces() {
            if let Ok(arch) = serde_json::from_str::<DeclaredArch>(&json) {
                let _ = space.check(&arch);
                let _ = arch.hash();
                let _ = arch.describe();
            }
        }
    }
}

#[test]
fn the_schema_follows_the_declared_order() {
    let s = space(EXAMPLE);
    let schema = s.schema();
    let names: Vec<(&str, usize)> = schema
        .heads
        .iter()
        .map(|h| (h.name.as_str(), h.size))
        .collect();
    assert_eq!(
        names,
        [
            ("optimizer", 2),
            ("layer.kernel", 4),
            ("layer.filters", 4),
            ("layer.activation", 2),
            ("lr", 3),
        ]
    );
    assert_eq!(schema.heads, s.heads());
    let mut expected = vec![Step::Choice { head: 0 }];
    for layer in 0..8 {
        expected.extend([
            Step::Choice { head: 1 },
            Step::Choice { head: 2 },
            Step::Choice { head: 3 },
            Step::Anchor { layer },
        ]);
    }
    expected.push(Step::Choice { head: 4 });
    assert_eq!(schema.steps, expected);
    assert_eq!(s.num_tokens(), 1 + 8 * 3 + 28 + 1);
    // Without `order`: the globals as listed, then the groups.
    let small = space(SMALL).schema();
    let heads: Vec<&str> = small.heads.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        heads,
        [
            "optimizer",
            "batch_norm",
            "layer.kernel",
            "layer.dropout",
            "head.width"
        ]
    );
    assert_eq!(
        &small.steps[..5],
        &[
            Step::Choice { head: 0 },
            Step::Choice { head: 1 },
            Step::Choice { head: 2 },
            Step::Anchor { layer: 0 },
            Step::Choice { head: 3 },
        ]
    );
}

/// The paper's CNN space (filter heights and widths, numbers of filters,
/// skip connections, N layers; no strides or pooling) spelled out.
fn cnn_as_declared(layers: usize) -> DeclaredSpace {
    let ints = |v: &[i64]| v.iter().map(|&x| ChoiceValue::Int(x)).collect::<Vec<_>>();
    let cfg = DeclaredSpaceConfig {
        order: None,
        decisions: vec![],
        groups: vec![GroupConfig {
            name: "layer".into(),
            repeat: layers,
            decisions: vec![
                DecisionConfig::choice("filter_height", ints(&[1, 3, 5, 7])),
                DecisionConfig::choice("filter_width", ints(&[1, 3, 5, 7])),
                DecisionConfig::choice("num_filters", ints(&[24, 36, 48, 64])),
                DecisionConfig::inputs("inputs"),
            ],
        }],
    };
    DeclaredSpace::new(cfg).expect("valid")
}

#[test]
fn the_papers_cnn_space_declared_has_the_builtin_schema() {
    for layers in [1, 2, 6, 15] {
        let declared = cnn_as_declared(layers);
        let builtin = CnnSpace::new(CnnSpaceConfig {
            layers,
            ..CnnSpaceConfig::default()
        });
        let (d, b) = (declared.schema(), builtin.schema(layers));
        assert_eq!(d.steps, b.steps, "{layers} layers");
        let sizes = |s: &Schema| s.heads.iter().map(|h| h.size).collect::<Vec<_>>();
        assert_eq!(sizes(&d), sizes(&b));
        assert_eq!(d.num_tokens(), b.num_tokens());
    }
    // Same distribution at initialisation: with the same seeds the controllers
    // even draw the same sequences (the head names sort alike), and both
    // spaces read them as the same network.
    let layers = 6;
    let declared = cnn_as_declared(layers);
    let builtin = CnnSpace::new(CnnSpaceConfig {
        layers,
        ..CnnSpaceConfig::default()
    });
    let cfg = ControllerConfig::default();
    let a = Controller::new(&declared.heads(), &cfg, 4);
    let b = Controller::new(&builtin.heads(), &cfg, 4);
    assert_eq!(a.flat_params(), b.flat_params());
    let draw = |c: &Controller, schema: &Schema| -> Vec<Vec<usize>> {
        c.sample(schema, 32, &mut ChaCha8Rng::seed_from_u64(8))
            .into_iter()
            .map(|s| s.tokens)
            .collect()
    };
    let da = draw(&a, &declared.schema());
    assert_eq!(da, draw(&b, &builtin.schema(layers)));
    for tokens in &da {
        let d = declared.decode(tokens).expect("declared decode");
        let c = builtin.decode(tokens).expect("cnn decode");
        let repeats = d.repeats("layer").expect("layers");
        for (r, l) in repeats.iter().zip(&c.layers) {
            let int = |k: &str| match r.0.get(k) {
                Some(Field::Value(ChoiceValue::Int(v))) => *v as usize,
                other => panic!("{k}: {other:?}"),
            };
            assert_eq!(int("filter_height"), l.filter_height);
            assert_eq!(int("filter_width"), l.filter_width);
            assert_eq!(int("num_filters"), l.num_filters);
            assert_eq!(r.0.get("inputs"), Some(&Field::Inputs(l.inputs.clone())));
        }
    }
}

#[test]
fn the_config_round_trips_through_toml_and_json() {
    for text in [EXAMPLE, SMALL] {
        let cfg = parse(text).expect("parse");
        let toml_text = toml::to_string(&cfg).expect("to toml");
        let back: DeclaredSpaceConfig = toml::from_str(&toml_text).expect("toml back");
        assert_eq!(back, cfg, "{toml_text}");
        let json = serde_json::to_string(&cfg).expect("to json");
        let back: DeclaredSpaceConfig = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, cfg);
    }
    let cfg = parse(EXAMPLE).expect("parse");
    assert_eq!(
        cfg.groups[0].decisions[1]
            .choices
            .as_deref()
            .map(<[_]>::len),
        Some(4)
    );
    assert_eq!(
        cfg.decisions[1].choices,
        Some(vec![0.1.into(), 0.01.into(), 0.001.into()])
    );
}
