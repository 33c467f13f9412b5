//! What may change when a run is resumed: everything except the search
//! space and the controller's shape, which the log and checkpoint depend on.

use serde_json::Value;

use crate::config::{Config, SpaceKind};

/// Keys (dotted, as in the TOML file) whose values differ in a way that
/// resuming cannot accept, each as `key: <run value> in the run, <new value> in the new config`.
pub(crate) fn space_differences(run: &Config, new: &Config) -> Vec<String> {
    let mut diffs = Vec::new();
    compare(
        "search.space",
        &json(&run.search.space),
        &json(&new.search.space),
        &mut diffs,
    );
    compare(
        "controller.hidden_size",
        &json(&run.controller.hidden_size),
        &json(&new.controller.hidden_size),
        &mut diffs,
    );
    compare(
        "controller.layers",
        &json(&run.controller.layers),
        &json(&new.controller.layers),
        &mut diffs,
    );
    if run.search.space == new.search.space {
        match run.search.space {
            SpaceKind::Cnn => compare(
                "space.cnn",
                &json(&run.space.cnn),
                &json(&new.space.cnn),
                &mut diffs,
            ),
            SpaceKind::Cell => compare(
                "space.cell",
                &json(&run.space.cell),
                &json(&new.space.cell),
                &mut diffs,
            ),
        }
    }
    diffs
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
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
