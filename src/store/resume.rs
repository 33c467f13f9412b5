//! What may change when a run is resumed: everything except the search
//! space and the controller's shape, which the log and checkpoint depend on.

use serde_json::{to_value, Value};

use crate::config::{Config, SpaceKind};

/// Keys (dotted, as in the TOML file) whose values differ in a way that
/// resuming cannot accept, each as `key: <run value> in the run, <new value> in the new config`.
pub(crate) fn space_differences(
    run: &Config,
    new: &Config,
) -> Result<Vec<String>, serde_json::Error> {
    let mut diffs = Vec::new();
    let mut check = |key: &str, a: Value, b: Value| compare(key, &a, &b, &mut diffs);
    check(
        "search.space",
        to_value(run.search.space)?,
        to_value(new.search.space)?,
    );
    check(
        "search.weights",
        to_value(run.search.weights)?,
        to_value(new.search.weights)?,
    );
    if new.search.weights == crate::config::Weights::Shared {
        // ω's shape: a checkpoint of another shape cannot be restored.
        for (key, a, b) in [
            (
                "child.lm.embedding_size",
                run.child.lm.embedding_size,
                new.child.lm.embedding_size,
            ),
            (
                "child.lm.hidden_size",
                run.child.lm.hidden_size,
                new.child.lm.hidden_size,
            ),
            ("child.lm.layers", run.child.lm.layers, new.child.lm.layers),
            (
                "child.lm.batch_size",
                run.child.lm.batch_size,
                new.child.lm.batch_size,
            ),
        ] {
            check(key, to_value(a)?, to_value(b)?);
        }
        check(
            "child.lm.tied",
            to_value(run.child.lm.tied)?,
            to_value(new.child.lm.tied)?,
        );
    }
    check(
        "controller.hidden_size",
        to_value(run.controller.hidden_size)?,
        to_value(new.controller.hidden_size)?,
    );
    check(
        "controller.layers",
        to_value(run.controller.layers)?,
        to_value(new.controller.layers)?,
    );
    if run.search.space == new.search.space {
        match run.search.space {
            SpaceKind::Cnn => check(
                "space.cnn",
                to_value(&run.space.cnn)?,
                to_value(&new.space.cnn)?,
            ),
            SpaceKind::Cell => check(
                "space.cell",
                to_value(&run.space.cell)?,
                to_value(&new.space.cell)?,
            ),
            SpaceKind::Custom => check(
                "space.custom",
                to_value(&run.space.custom)?,
                to_value(&new.space.custom)?,
            ),
        }
    }
    Ok(diffs)
}

/// Walk two values in step; record each leaf (or whole sub-table present on
/// one side only) that differs.
fn compare(key: &str, run: &Value, new: &Value, out: &mut Vec<String>) {
    match (run, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = Value::Null;
                compare(
                    &format!("{key}.{k}"),
                    a.get(k).unwrap_or(&null),
                    b.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if run != new => out.push(format!(
            "{key}: {} in the run, {} in the new config",
            show(run),
            show(new)
        )),
        _ => {}
    }
}

/// A value as a person would write it in TOML.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "unset".into(),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
