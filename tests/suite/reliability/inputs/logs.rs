//! `children.jsonl` and `updates.jsonl` edited by hand or cut anywhere, then
//! `--resume`: the run either continues, keeping every complete record that
//! came before the damage (a torn last line is dropped with a notice), or is
//! refused as bad input with the file and line number, changing nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nas_actor::actors::{run, RunOptions};
use nas_actor::store::{jsonl, ChildRecord};
use proptest::prelude::*;
use serde_json::Value;

use super::{chain, figures, tried};
use crate::orchestrator::synthetic_config;

const BUDGET: usize = 16;

/// How a log is damaged.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut at this share of its length.
    Cut(f64),
    /// These bytes written over it from this share of its length.
    Overwrite(f64, Vec<u8>),
    /// The value of a top-level key of a line replaced (line and key by share).
    Value(f64, f64, Value),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("ok"),
            Just("cached"),
            Just("")
        ]
        .prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn damage() -> impl Strategy<Value = (bool, Damage)> {
    let d = prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Cut),
        (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, b)| Damage::Overwrite(at, b)),
        (0.0..1.0f64, 0.0..1.0f64, json_value()).prop_map(|(l, k, v)| Damage::Value(l, k, v)),
    ];
    (any::<bool>(), d)
}

/// Apply `damage` to the bytes of a JSON-lines file.
fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let at = |share: f64| ((bytes.len() as f64 * share) as usize).min(bytes.len());
    match damage {
        Damage::Cut(s) => bytes[..at(*s)].to_vec(),
        Damage::Overwrite(s, new) => {
            let mut out = bytes.to_vec();
            let start = at(*s);
            for (i, b) in new.iter().enumerate() {
                match out.get_mut(start + i) {
                    Some(o) => *o = *b,
                    None => out.push(*b),
                }
            }
            out
        }
        Damage::Value(line, key, value) => {
            let text = String::from_utf8_lossy(bytes);
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.is_empty() {
                return bytes.to_vec();
            }
            let i = ((lines.len() as f64 * line) as usize).min(lines.len() - 1);
            if let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&lines[i]) {
                let keys: Vec<String> = o.keys().cloned().collect();
                let k = &keys[((keys.len() as f64 * key) as usize).min(keys.len() - 1)];
                o.insert(k.clone(), value.clone());
                lines[i] = Value::Object(o).to_string();
            }
            (lines.join("\n") + "\n").into_bytes()
        }
    }
}

/// Every file under `dir` but the lock, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "run.lock") {
                out.insert(p.clone(), std::fs::read(&p).expect("read file"));
            }
        }
    }
    out
}

/// Copy the files of `from` into `to`.
fn copy(from: &BTreeMap<PathBuf, Vec<u8>>, base: &Path, to: &Path) {
    for (p, bytes) in from {
        let rel = p.strip_prefix(base).expect("under the run");
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("copy");
    }
}

#[test]
fn hand_edited_or_cut_logs_resume_or_are_refused_with_the_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base");
    let stopped = run(
        synthetic_config(&base, BUDGET, ""),
        &RunOptions {
            stop_after: Some(BUDGET / 2),
            ..RunOptions::default()
        },
    );
    assert!(stopped.is_err(), "stopped half way");
    let original = files(&base);
    let counts = std::cell::Cell::new((0usize, 0usize));
    let n = tried(24, damage(), |(children, damage)| {
        let case = tempfile::tempdir_in(tmp.path()).expect("tempdir");
        let dir = case.path().join("run");
        copy(&original, &base, &dir);
        let name = if children {
            "children.jsonl"
        } else {
            "updates.jsonl"
        };
        let path = dir.join(name);
        let before = std::fs::read(&path).expect("the log");
        let damaged = apply(&before, &damage);
        std::fs::write(&path, &damaged).expect("damage the log");
        let snapshot = files(&dir);
        let children_before = std::fs::read(dir.join("children.jsonl")).expect("children");
        let result = run(
            synthetic_config(&dir, BUDGET, ""),
            &RunOptions {
                resume: true,
                ..RunOptions::default()
            },
        );
        let (mut ok, mut no) = counts.get();
        match result {
            Ok(summary) => {
                ok += 1;
                prop_assert_eq!(summary.children, BUDGET);
                // Nothing lost: every record before the damage is still there
                // (a damaged last line is dropped as a torn one, with a notice).
                let read = jsonl::parse::<ChildRecord>(&children_before);
                prop_assert!(read.bad.is_none());
                let now = std::fs::read(dir.join("children.jsonl")).expect("children");
                let kept = read.good_len as usize;
                prop_assert!(
                    now.starts_with(&children_before[..kept]),
                    "records before the damage were lost"
                );
                let ids: Vec<u64> = now
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
                    .filter_map(|v| v["id"].as_u64())
                    .collect();
                let unique: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
                prop_assert_eq!(unique.len(), ids.len(), "an id repeats");
            }
            Err(e) => {
                no += 1;
                let message = chain(&e);
                prop_assert!(e.is_input(), "not bad input: {}", message);
                let at = message
                    .split(&format!("{name}:"))
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse::<usize>().ok());
                prop_assert!(
                    at.is_some_and(|n| n >= 1),
                    "no line number of {}: {}",
                    name,
                    message
                );
                prop_assert!(
                    files(&dir) == snapshot,
                    "a refused resume changed the run: {}",
                    message
                );
            }
        }
        counts.set((ok, no));
        Ok(())
    });
    let (resumed, refused) = counts.get();
    figures(
        "inputs_logs",
        &[format!(
            "children.jsonl / updates.jsonl cut or edited by hand, then --resume: {n} tried; {resumed} resumed with every earlier record kept, {refused} refused (exit 2) naming file and line, changing nothing"
        )],
    );
}
