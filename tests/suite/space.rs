//! Tests of `space`: decode/encode round trips on random token sequences,
//! the paper's base-2 worked example, canonical form and hashing, and
//! rejection of architectures that do not fit the space.

use std::path::Path;

use nas_actor::config::Config;
use nas_actor::space::cell::{self, Activation, CellArch, CellNode, Combination};
use nas_actor::space::{Architecture, SearchSpace, SpaceError, Step};
use proptest::prelude::*;

fn config(space_toml: &str, kind: &str) -> Config {
    let data = if kind == "cnn" {
        "[data]\ndataset = \"cifar10\"\ndir = \"d\"\n"
    } else {
        "[data]\ndataset = \"ptb\"\ndir = \"d\"\n"
    };
    let text = format!(
        "[experiment]\nname = \"t\"\noutput_dir = \"o\"\nbudget = 1\n[search]\nspace = \"{kind}\"\n{space_toml}\n{data}"
    );
    Config::from_toml(&text, Path::new("test.toml")).expect("test config")
}

fn cnn_space(extra: &str) -> SearchSpace {
    SearchSpace::from_config(&config(&format!("[space.cnn]\n{extra}"), "cnn")).expect("space")
}

fn cell_space(extra: &str) -> SearchSpace {
    SearchSpace::from_config(&config(&format!("[space.cell]\n{extra}"), "cell")).expect("space")
}

/// Random tokens of a schema, from a list of raw draws.
fn tokens_from(space: &SearchSpace, draws: &[usize]) -> Vec<usize> {
    let schema = space.schema(0);
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

fn spaces() -> Vec<SearchSpace> {
    vec![
        cnn_space("layers = 6"),
        cnn_space("layers = 5\npredict_strides = true\npredict_pooling = true"),
        cnn_space("layers = 4\nskip_connections = false"),
        cell_space("base = 2"),
        cell_space("base = 8\ncombinations = [\"add\", \"elem_mult\", \"max\"]\nactivations = [\"identity\", \"tanh\", \"sigmoid\", \"relu\", \"sin\"]"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decode_encode_round_trip(draws in prop::collection::vec(0usize..1000, 1..64)) {
        for space in spaces() {
            let tokens = tokens_from(&space, &draws);
            let arch = space.decode(&tokens).expect("valid tokens decode");
            prop_assert_eq!(space.encode(&arch).expect("encode"), tokens.clone());
            // JSON round trip.
            let json = serde_json::to_string(&arch).expect("json");
            let back: Architecture = serde_json::from_str(&json).expect("from json");
            prop_assert_eq!(&back, &arch);
            // The canonical form fits the space and is stable.
            let canon = arch.canonical();
            prop_assert!(space.check(&canon).is_ok());
            prop_assert_eq!(canon.canonical(), canon.clone());
            prop_assert_eq!(canon.hash(), arch.hash());
        }
    }

    #[test]
    fn arbitrary_tokens_never_panic(tokens in prop::collection::vec(0usize..20, 0..200)) {
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
            if let Ok(arch) = serde_json::from_str::<Architecture>(&json) {
                let _ = space.check(&arch);
            }
        }
    }
}

#[test]
fn the_papers_base2_example_decodes_exactly() {
    // Figure 4 of the paper: tree index 0: add, tanh; tree index 1: elem_mult, relu;
    // cell inject: add, relu; tree index 2: elem_mult, sigmoid; cell indices: 0, 1.
    let space = cell_space("base = 2");
    let schema = space.schema(0);
    let names: Vec<&str> = schema
        .steps
        .iter()
        .map(|s| match s {
            Step::Choice { head } => schema.heads[*head].name.as_str(),
            Step::Anchor { .. } => "anchor",
        })
        .collect();
    assert_eq!(
        names,
        [
            "node_combination",
            "node_activation", // tree index 0
            "node_combination",
            "node_activation", // tree index 1
            "inject_combination",
            "inject_activation", // cell inject
            "node_combination",
            "node_activation", // tree index 2
            "inject_node",
            "cell_node", // cell indices
        ]
    );
    // add=0, elem_mult=1; identity=0, tanh=1, sigmoid=2, relu=3.
    let tokens = [0, 1, 1, 3, 0, 3, 1, 2, 0, 1];
    let Architecture::Cell(a) = space.decode(&tokens).expect("decode") else {
        panic!("not a cell")
    };
    let n = |combination, activation| CellNode {
        combination,
        activation,
    };
    assert_eq!(
        a,
        CellArch {
            base: 2,
            nodes: vec![
                n(Combination::Add, Activation::Tanh), // a0 = tanh(W1 x + W2 h)
                n(Combination::ElemMult, Activation::Relu), // a1 = relu((W3 x) ⊙ (W4 h))
                n(Combination::ElemMult, Activation::Sigmoid), // a2 = sigmoid(a0_new ⊙ a1)
            ],
            inject: n(Combination::Add, Activation::Relu), // a0_new = relu(a0 + c_{t-1})
            inject_node: 0,
            cell_node: 1, // c_t = (W3 x) ⊙ (W4 h)
        }
    );
    assert_eq!(a.root(), 2);
    assert_eq!(cell::children(2, 2), Some((0, 1)));
}

#[test]
fn tree_numbering_of_base_8() {
    assert_eq!(cell::num_nodes(8), 15);
    assert_eq!(cell::children(8, 7), None);
    assert_eq!(cell::children(8, 8), Some((0, 1)));
    assert_eq!(cell::children(8, 11), Some((6, 7)));
    assert_eq!(cell::children(8, 12), Some((8, 9)));
    assert_eq!(cell::children(8, 13), Some((10, 11)));
    assert_eq!(cell::children(8, 14), Some((12, 13)));
}

#[test]
fn swapped_subtrees_hash_alike() {
    let space = cell_space("base = 2");
    // Leaves swapped, cell indices renumbered: the same network.
    let a = space.decode(&[0, 1, 1, 3, 0, 3, 1, 2, 0, 1]).expect("a");
    let b = space.decode(&[1, 3, 0, 1, 0, 3, 1, 2, 1, 0]).expect("b");
    assert_ne!(a, b);
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(a.hash(), b.hash());
    // A different inject target is a different network.
    let c = space.decode(&[0, 1, 1, 3, 0, 3, 1, 2, 1, 1]).expect("c");
    assert_ne!(a.hash(), c.hash());
}

#[test]
fn swapped_inner_subtrees_of_base_8_hash_alike() {
    let space = cell_space("base = 8");
    let draws: Vec<usize> = (0..97).map(|i| i * 7 + 3).collect();
    let tokens = tokens_from(&space, &draws);
    let Architecture::Cell(a) = space.decode(&tokens).expect("a") else {
        panic!()
    };
    // Swap the subtrees under the root: left = nodes {0..3, 8, 9, 12}, right = {4..7, 10, 11, 13}.
    let perm: Vec<usize> = vec![4, 5, 6, 7, 0, 1, 2, 3, 10, 11, 8, 9, 13, 12, 14];
    let mut b = a.clone();
    for (new, &old) in perm.iter().enumerate() {
        b.nodes[new] = a.nodes[old];
    }
    let pos = |old: usize| perm.iter().position(|&p| p == old).expect("in perm");
    b.inject_node = pos(a.inject_node);
    b.cell_node = pos(a.cell_node);
    let (a, b) = (Architecture::Cell(a), Architecture::Cell(b));
    assert_eq!(a.hash(), b.hash());
}

#[test]
fn cnn_hash_distinguishes_skips() {
    let space = cnn_space("layers = 3");
    // Per layer: filter height, filter width, filters, then one skip token per earlier layer.
    let a = space
        .decode(&[1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1])
        .expect("a");
    let b = space
        .decode(&[1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        .expect("b");
    assert_ne!(a.hash(), b.hash());
    let Architecture::Cnn(a) = a else { panic!() };
    assert_eq!(a.layers[1].inputs, vec![0]);
    assert_eq!(a.layers[2].inputs, vec![1]);
    assert_eq!(a.outputs(), vec![2]);
}

#[test]
fn architectures_that_do_not_fit_are_rejected_with_a_reason() {
    let space = cnn_space("layers = 2");
    let json = r#"{"space":"cnn","layers":[
        {"filter_height":3,"filter_width":3,"stride_height":1,"stride_width":1,"num_filters":36,"max_pool":false,"inputs":[]},
        {"filter_height":2,"filter_width":3,"stride_height":1,"stride_width":1,"num_filters":36,"max_pool":false,"inputs":[0]}]}"#;
    let arch: Architecture = serde_json::from_str(json).expect("json");
    let err = space.check(&arch).expect_err("2 is not a filter height");
    assert!(
        err.to_string()
            .contains("filter_height 2 is not one of [1, 3, 5, 7]"),
        "{err}"
    );
    let cell = cell_space("base = 2");
    assert!(cell.check(&arch).is_err());
    let bad_json = r#"{"space":"cell","base":2,"nodes":[],"inject":{"combination":"add","activation":"tanh"},"inject_node":0,"cell_node":9}"#;
    let arch: Architecture = serde_json::from_str(bad_json).expect("json");
    let err = cell.check(&arch).expect_err("no nodes");
    assert!(err.to_string().contains("has 3 nodes"), "{err}");
}

#[test]
fn growth_schedule_changes_the_schema() {
    let space =
        cnn_space("layers = 10\n[space.cnn.growth]\nstart_layers = 6\nadd_layers = 2\nevery = 100");
    let count = |s: usize| {
        space
            .schema(s)
            .steps
            .iter()
            .filter(|x| matches!(x, Step::Anchor { .. }))
            .count()
    };
    assert_eq!(count(0), 6);
    assert_eq!(count(100), 8);
    assert_eq!(count(250), 10);
    assert_eq!(count(10_000), 10);
    // Tokens of the first (6-layer) schema decode to 6 layers.
    let tokens = tokens_from(&space, &[1, 2, 3]);
    let Architecture::Cnn(a) = space.decode(&tokens).expect("decode") else {
        panic!()
    };
    assert_eq!(a.layers.len(), 6);
}

#[test]
fn every_space_names_its_options_for_the_report() {
    let cnn = cnn_space("predict_pooling = true");
    let heads = cnn.heads();
    let at = |name: &str| heads.iter().position(|h| h.name == name).expect("head");
    assert_eq!(cnn.option_labels(at("filter_height")), ["1", "3", "5", "7"]);
    assert_eq!(
        cnn.option_labels(at("num_filters")),
        ["24", "36", "48", "64"]
    );
    assert_eq!(cnn.option_labels(at("max_pool")), ["no", "yes"]);
    let cell = cell_space("base = 2");
    let heads = cell.heads();
    let at = |name: &str| heads.iter().position(|h| h.name == name).expect("head");
    assert_eq!(cell.option_labels(at("node_combination")), ["add", "mul"]);
    assert_eq!(
        cell.option_labels(at("node_activation")),
        ["identity", "tanh", "sigmoid", "relu"]
    );
    assert_eq!(cell.option_labels(at("cell_node")), ["n0", "n1", "n2"]);
    // No such head: nothing to name.
    assert!(cell.option_labels(99).is_empty());
    let custom = crate::space_declared::parse(
        r#"
[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam"]

[[space.custom.group]]
name = "layer"
repeat = 2

[[space.custom.group.decision]]
name = "kernel"
choices = [3, 5]
"#,
    )
    .expect("declared space");
    let declared = SearchSpace::new(
        nas_actor::space::SpaceKind::Custom,
        &nas_actor::space::SpaceConfig {
            custom,
            ..Default::default()
        },
    )
    .expect("space");
    assert_eq!(declared.option_labels(0), ["\"sgd\"", "\"adam\""]);
    assert_eq!(declared.option_labels(1), ["3", "5"]);
}
