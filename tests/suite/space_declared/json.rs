//! The JSON form of declared architectures: the documented layout, what a
//! trial program writes back, canonical hashing, and architectures that do
//! not fit the space.

use nas_actor::space::declared::{ChoiceValue, DeclaredArch, Entry, Field};

use super::{space, SMALL};

#[test]
fn the_json_form_is_the_documented_one() {
    let s = space(SMALL);
    // optimizer=adam, batch_norm=false; layer 0: kernel 3, dropout 0.0;
    // layer 1: kernel 1, skip {0}, dropout 0.5; layer 2: kernel 5, skip {1}, dropout 0.25;
    // head: width 128, 64.
    let tokens = [1, 1, 1, 0, 0, 1, 2, 2, 0, 1, 1, 1, 0];
    let arch = s.decode(&tokens).expect("decode");
    let json = serde_json::to_string(&arch).expect("json");
    assert_eq!(
        json,
        r#"{"batch_norm":false,"head":[{"width":128},{"width":64}],"layer":[{"dropout":0.0,"kernel":3,"skip":[]},{"dropout":0.5,"kernel":1,"skip":[0]},{"dropout":0.25,"kernel":5,"skip":[1]}],"optimizer":"adam"}"#
    );
    assert_eq!(arch.value("optimizer"), Some(&ChoiceValue::from("adam")));
    assert_eq!(arch.repeats("layer").map(<[_]>::len), Some(3));
    assert_eq!(
        arch.repeats("layer").and_then(|r| r[2].0.get("skip")),
        Some(&Field::Inputs(vec![1]))
    );
    assert_eq!(
        arch.describe(),
        "batch_norm=false optimizer=\"adam\" head=[0:width=128 1:width=64] \
         layer=[0:dropout=0.0,kernel=3 1:dropout=0.5,kernel=1,skip<-[0] 2:dropout=0.25,kernel=5,skip<-[1]]"
    );
    // What a trial program writes back (any key order, unsorted inputs) encodes alike.
    let written = r#"{"optimizer": "adam", "batch_norm": false,
        "layer": [{"kernel": 3, "skip": [], "dropout": 0.0},
                  {"kernel": 1, "skip": [0], "dropout": 0.5},
                  {"kernel": 5, "skip": [1, 1], "dropout": 0.25}],
        "head": [{"width": 128}, {"width": 64}]}"#;
    let back: DeclaredArch = serde_json::from_str(written).expect("json");
    assert_eq!(s.encode(&back).expect("encode"), tokens);
    assert_eq!(back.canonical(), arch);
}

#[test]
fn inputs_in_another_order_hash_alike_and_choices_hash_differently() {
    let s = space(SMALL);
    let tokens = [0, 0, 2, 1, 1, 1, 0, 1, 1, 1, 2, 1, 1];
    let arch = s.decode(&tokens).expect("decode");
    let hash = arch.hash().expect("hash");
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    let mut shuffled = arch.clone();
    if let Some(Entry::Repeats(layers)) = shuffled.0.get_mut("layer") {
        layers[2]
            .0
            .insert("skip".into(), Field::Inputs(vec![1, 0, 1]));
    }
    assert_ne!(shuffled, arch);
    assert_eq!(shuffled.canonical(), arch);
    assert_eq!(shuffled.hash().expect("hash"), hash);
    assert_eq!(s.encode(&shuffled).expect("encode"), tokens);
    // Every single-token change is another architecture with another hash.
    for i in 0..tokens.len() {
        let mut other = tokens;
        other[i] = if other[i] == 0 { 1 } else { 0 };
        let b = s.decode(&other).expect("decode");
        assert_ne!(b.hash().expect("hash"), hash, "token {i}");
    }
    // A NaN (only possible from code; JSON has none) is refused, not hashed as null.
    let mut nan = arch.clone();
    nan.0.insert(
        "optimizer".into(),
        Entry::Value(ChoiceValue::Float(f64::NAN)),
    );
    let err = nan.hash().expect_err("NaN");
    assert_eq!(
        err.to_string(),
        "the architecture does not fit the configured space: `optimizer` is not a finite number, \
         and JSON has no such value"
    );
}

#[test]
fn architectures_that_do_not_fit_are_rejected_with_the_key() {
    let s = space(SMALL);
    let good = s.decode(&[0; 13]).expect("decode");
    let json = serde_json::to_string(&good).expect("json");
    let check = |from: &str, to: &str| {
        let bad: DeclaredArch =
            serde_json::from_str(&json.replacen(from, to, 1)).expect("still JSON");
        s.check(&bad).expect_err("does not fit").to_string()
    };
    let prefix = "the architecture does not fit the configured space: ";
    assert_eq!(
        check("\"kernel\":1", "\"kernel\":2"),
        format!("{prefix}`layer[0].kernel` is 2, which is not one of [1, 3, 5]")
    );
    assert_eq!(
        check("\"kernel\":1", "\"kernel\":1.0"),
        format!("{prefix}`layer[0].kernel` is 1.0, which is not one of [1, 3, 5]")
    );
    assert_eq!(
        check("\"optimizer\":\"sgd\"", "\"optimiser\":\"sgd\""),
        format!("{prefix}`optimiser` is not a decision or group of the space; it has [\"optimizer\", \"batch_norm\", \"layer\", \"head\"]")
    );
    assert_eq!(
        check("\"skip\":[]", "\"skip\":[0]"),
        format!("{prefix}`layer[0].skip` lists 0, but repeat 0 has no earlier repeats (give [])")
    );
    let skip = |r: usize, inputs: Vec<usize>| {
        let mut bad = good.clone();
        if let Some(Entry::Repeats(layers)) = bad.0.get_mut("layer") {
            layers[r].0.insert("skip".into(), Field::Inputs(inputs));
        }
        s.check(&bad).expect_err("does not fit").to_string()
    };
    assert_eq!(
        skip(1, vec![1]),
        format!("{prefix}`layer[1].skip` lists 1, but repeat 1 can only take input from repeat 0")
    );
    assert_eq!(
        skip(2, vec![0, 2]),
        format!("{prefix}`layer[2].skip` lists 2, but repeat 2 can only take inputs from repeats 0 to 1")
    );
    assert_eq!(
        check("{\"width\":64},", ""),
        format!("{prefix}`head` has 1 repeats, but the group has 2")
    );
    assert_eq!(
        check("\"width\":64", "\"depth\":64"),
        format!("{prefix}`head[0].depth` is not a decision of the group; it has [\"width\"]")
    );
    assert_eq!(
        check("\"batch_norm\":true,", ""),
        format!("{prefix}`batch_norm` is missing")
    );
    assert_eq!(
        check("\"optimizer\":\"sgd\"", "\"optimizer\":[]"),
        format!("{prefix}`optimizer` is a list, but it is a decision: give one of its choices")
    );
    assert_eq!(
        check("\"kernel\":1", "\"kernel\":[1]"),
        format!("{prefix}`layer[0].kernel` is a list, but it is a choice: give one of its choices")
    );
    assert_eq!(
        check("\"skip\":[]", "\"skip\":3"),
        format!("{prefix}`layer[0].skip` is a value, but it is an inputs decision: give a list of earlier repeats")
    );
    assert_eq!(
        s.decode(&[0; 12]).expect_err("short").to_string(),
        "expected 13 tokens, got 12"
    );
    // Something that is not an architecture at all fails in serde, naming what it expected.
    let err = serde_json::from_str::<DeclaredArch>(r#"{"layer": [{"kernel": {"x": 1}}]}"#)
        .expect_err("a map is no value");
    assert!(err.to_string().contains("earlier repeat indices"), "{err}");
}
