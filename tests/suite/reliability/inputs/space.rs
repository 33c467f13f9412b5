//! A space declared in `[space.custom]`, with an arbitrary TOML value in one
//! of its keys (or a key it does not have): the config is refused with an
//! error that names the key under `space.custom`, or it is a space that
//! samples, decodes, encodes and hashes without a panic.

use std::path::Path;

use nas_actor::config::Config;
use nas_actor::space::{sample_uniform, SearchSpace};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{figures, tried};

/// Every key of the declared space, with a value that is valid there.
const KEYS: &[(&str, &str)] = &[
    ("ORDER", r#"["optimizer", "layer"]"#),
    ("D_NAME", r#""optimizer""#),
    ("D_KIND", r#""choice""#),
    ("D_CHOICES", r#"["sgd", "adam"]"#),
    ("G_NAME", r#""layer""#),
    ("G_REPEAT", "3"),
    ("C_NAME", r#""kernel""#),
    ("C_CHOICES", "[1, 3, 5.5, true]"),
    ("I_NAME", r#""inputs""#),
    ("I_KIND", r#""inputs""#),
    ("EXTRA", "1"),
];

const TEMPLATE: &str = r#"
[experiment]
name = "inputs"
output_dir = "runs/inputs"
budget = 4

[devices]
gpus = "none"
cpu_workers = 1

[search]
space = "custom"

[child]
backend = "synthetic"

[space.custom]
order = ORDER

[[space.custom.decision]]
name = D_NAME
kind = D_KIND
choices = D_CHOICES

[[space.custom.group]]
name = G_NAME
repeat = G_REPEAT

[[space.custom.group.decision]]
name = C_NAME
choices = C_CHOICES

[[space.custom.group.decision]]
name = I_NAME
kind = I_KIND
"#;

/// Any TOML value, as it is written in a file.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e300)
        ]
        .prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        "\\PC{0,12}".prop_map(toml::Value::String),
        prop_oneof![
            Just("choice"),
            Just("inputs"),
            Just("layer"),
            Just("optimizer"),
            Just("")
        ]
        .prop_map(|s| toml::Value::String(s.into())),
        (0i64..8).prop_map(toml::Value::Integer),
        prop::collection::vec(0i64..6, 0..5)
            .prop_map(|v| toml::Value::Array(v.into_iter().map(toml::Value::Integer).collect())),
        prop::collection::vec("[a-z]{1,4}", 0..4)
            .prop_map(|v| toml::Value::Array(v.into_iter().map(toml::Value::String).collect())),
        Just(toml::Value::Datetime(
            "1979-05-27T07:32:00Z".parse().expect("a datetime")
        )),
    ];
    leaf.prop_recursive(3, 16, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(toml::Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

#[test]
fn arbitrary_toml_in_every_key_of_a_declared_space() {
    let (refused, spaces) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let n = tried(256, (0..KEYS.len(), toml_value()), |(k, value)| {
        let mut text = TEMPLATE.to_string();
        for (i, (key, valid)) in KEYS.iter().enumerate() {
            let v = if i == k {
                value.to_string()
            } else {
                valid.to_string()
            };
            if *key == "EXTRA" {
                if i == k {
                    text = text.replace(
                        "[[space.custom.decision]]",
                        &format!("extra = {v}\n\n[[space.custom.decision]]"),
                    );
                }
            } else {
                text = text.replace(key, &v);
            }
        }
        let config = Config::from_toml(&text, Path::new("space.toml"));
        let space = config
            .map_err(|e| e.to_string())
            .and_then(|c| SearchSpace::from_config(&c).map_err(|e| e.to_string()));
        match space {
            Err(message) => {
                refused.set(refused.get() + 1);
                prop_assert!(
                    message.contains("space.custom") || message.contains("`extra`"),
                    "{}\n{}",
                    message,
                    text
                );
            }
            Ok(space) => {
                spaces.set(spaces.get() + 1);
                let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
                for _ in 0..4 {
                    let tokens = sample_uniform(&space.schema(0), &mut rng);
                    let arch = space.decode(&tokens);
                    prop_assert!(arch.is_ok(), "{:?}", arch);
                    let arch = arch.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(space.encode(&arch).ok(), Some(tokens));
                    prop_assert!(arch.hash().is_ok());
                }
            }
        }
        Ok(())
    });
    figures(
        "inputs_space_custom",
        &[format!(
            "arbitrary TOML values in each key of [space.custom]: {n} tried; {} refused naming the key, {} valid spaces sampled, decoded and encoded",
            refused.get(),
            spaces.get()
        )],
    );
}
