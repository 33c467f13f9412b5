//! Bad input through the binary: malformed configs, corrupt data,
//! hand-edited run directories and arbitrary architecture JSON each exit 2
//! with a message naming the file and the fix, and create or change nothing.

use std::collections::BTreeMap;
use std::process::Child;

use nas_actor::cli::{dispatch, Command as Cli};
use nas_actor::config::{Dataset, SpaceKind};
use proptest::prelude::*;

use super::*;
use crate::common::root;

/// Wait for each started process; exit code and stderr.
fn collect(children: Vec<(String, Child)>) -> Vec<(String, Option<i32>, String)> {
    children
        .into_iter()
        .map(|(name, c)| {
            let (code, _, err) = outcome(&c.wait_with_output().expect("wait"));
            (name, code, err)
        })
        .collect()
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start nas-actor")
}

#[test]
fn malformed_configs_exit_2_through_the_binary_and_create_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        "replicas_zero",
        "not_toml",
        "unknown_top_key",
        "cnn_with_ptb",
        "missing_budget",
        "synthetic_failure_rate",
    ];
    let started = cases
        .iter()
        .map(|name| {
            let path = root().join(format!("tests/configs/bad/{name}.toml"));
            let child = spawn(binary().arg("run").arg(&path).current_dir(tmp.path()));
            (name.to_string(), child)
        })
        .collect();
    for (name, code, err) in collect(started) {
        let expect =
            std::fs::read_to_string(root().join(format!("tests/configs/bad/{name}.expect")))
                .expect(".expect");
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{name}.toml")), "{name}: {err}");
        assert!(err.contains(expect.trim_end()), "{name}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("tempdir").collect();
    assert!(left.is_empty(), "a bad config created {left:?}");
    figures(
        "bad_configs",
        &[format!(
            "malformed configs through the binary: {} (exit 2, nothing created)",
            cases.len()
        )],
    );
}

#[test]
fn corrupt_data_exits_2_naming_the_file_and_creates_no_run_directory() {
    use nas_actor::data::synthetic::{write_cifar_batches, write_idx, write_text_corpus};
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    write_cifar_batches(&t.join("cifar"), 20, 1).expect("cifar");
    let batch = t.join("cifar/data_batch_3.bin");
    let len = std::fs::metadata(&batch).expect("batch").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&batch)
        .and_then(|f| f.set_len(len - 100))
        .expect("truncate");
    write_idx(&t.join("idx"), 40, 10, false, 1).expect("idx");
    let images = t.join("idx/train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&images).expect("images");
    bytes[..4].copy_from_slice(&0x0000_0801u32.to_be_bytes());
    std::fs::write(&images, bytes).expect("bad magic");
    write_text_corpus(&t.join("ptb"), 40, 10, 1).expect("ptb");
    std::fs::write(t.join("ptb/ptb.valid.txt"), b"").expect("empty ptb");
    let cases: [(&str, Dataset, PathBuf, &str); 4] = [
        (
            "missing_dir",
            Dataset::Ptb,
            t.join("no-such-dir"),
            "no-such-dir",
        ),
        (
            "truncated_cifar",
            Dataset::Cifar10,
            t.join("cifar"),
            "data_batch_3.bin",
        ),
        (
            "bad_idx_magic",
            Dataset::Idx,
            t.join("idx"),
            "train-images-idx3-ubyte",
        ),
        ("empty_ptb", Dataset::Ptb, t.join("ptb"), "ptb.valid.txt"),
    ];
    let mut started = Vec::new();
    for (name, dataset, data, _) in &cases {
        let mut cfg = synthetic_config(&t.join(format!("run-{name}")), 4, "");
        cfg.child.backend = Backend::Tch;
        cfg.data.dataset = *dataset;
        cfg.data.dir = data.clone();
        cfg.data.val_size = 5;
        if *dataset != Dataset::Ptb {
            cfg.search.space = SpaceKind::Cnn;
        }
        let path = write_config(t, name, &cfg);
        started.push((name.to_string(), spawn(binary().arg("run").arg(&path))));
    }
    for ((name, code, err), (_, _, _, file)) in collect(started).into_iter().zip(&cases) {
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(
            err.contains(file),
            "{name}: the message must name {file}: {err}"
        );
        assert!(
            !t.join(format!("run-{name}")).exists(),
            "{name}: a run directory was created"
        );
    }
    figures(
        "bad_data",
        &[format!(
            "corrupt data through the binary: {} (exit 2, file named, no run directory)",
            cases.len()
        )],
    );
}

/// Every file under `dir` (but the lock file, which names its last holder) and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "run.lock") {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Copy the run directory `from` to `to` (files and `checkpoint/`).
fn copy_run(from: &Path, to: &Path) {
    for (p, bytes) in snapshot(from) {
        let rel = p.strip_prefix(from).expect("inside");
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("copy");
    }
}

/// Replace line `n` (1-based) of a text file.
fn edit_line(path: &Path, n: usize, f: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { f(l) } else { l.to_string() })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

#[test]
fn hand_edited_run_directories_are_refused_and_left_as_they_are() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good");
    let cfg = synthetic_config(&good, 24, "");
    nas_actor::actors::run(cfg.clone(), &Default::default()).expect("a finished run");
    type Edit = fn(&Path);
    let cases: [(&str, Edit, &str, &str); 7] = [
        (
            "corrupt_line",
            |d| edit_line(&d.join("children.jsonl"), 3, |_| "{garbage".into()),
            "children.jsonl:3: not a child record",
            "delete that line",
        ),
        (
            "duplicate_id",
            |d| {
                let text = std::fs::read_to_string(d.join("children.jsonl")).expect("log");
                let first = text.lines().next().expect("a line").to_string();
                std::fs::write(d.join("children.jsonl"), text + &first + "\n").expect("write");
            },
            "appears twice",
            "restore it",
        ),
        (
            "infinite_reward",
            |d| {
                edit_line(&d.join("children.jsonl"), 4, |l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).expect("a record");
                    v["reward"] = "inf".into();
                    v.to_string()
                })
            },
            // Which child line 4 holds depends on the order children ended.
            "children.jsonl:4: child ",
            "reward inf is not a finite number; the log was edited by hand — fix or delete that line",
        ),
        (
            "other_space",
            |d| {
                edit_line(&d.join("children.jsonl"), 2, |l| {
                    l.replace("\"base\":2", "\"base\":4")
                })
            },
            "does not belong to this config's space",
            "children.jsonl",
        ),
        (
            "checkpoint_byte",
            |d| {
                let p = d.join("checkpoint/state.bin");
                let mut b = std::fs::read(&p).expect("checkpoint");
                let i = b.len() - 3;
                b[i] ^= 0x40;
                std::fs::write(&p, b).expect("write");
            },
            "state.bin is corrupt: checksum mismatch",
            "delete it",
        ),
        (
            "run_config",
            |d| std::fs::write(d.join("config.toml"), "[experiment]\nname = 3\n").expect("write"),
            "config.toml",
            "restore",
        ),
        (
            "updates_line",
            |d| edit_line(&d.join("updates.jsonl"), 2, |_| "[1, 2".into()),
            "updates.jsonl:2: not an update record",
            "delete that line",
        ),
    ];
    let mut started = Vec::new();
    let mut before = Vec::new();
    for (name, edit, _, _) in &cases {
        let dir = tmp.path().join(name);
        copy_run(&good, &dir);
        edit(&dir);
        before.push(snapshot(&dir));
        let mut c = cfg.clone();
        c.experiment.output_dir = dir;
        let path = write_config(tmp.path(), name, &c);
        // One at a time: each refused resume must leave its directory untouched.
        started.extend(collect(vec![(
            name.to_string(),
            spawn(binary().args(["run", "--resume"]).arg(&path)),
        )]));
    }
    for (((name, code, err), (_, _, message, fix)), snap) in
        started.into_iter().zip(&cases).zip(before)
    {
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(message) && err.contains(fix), "{name}: {err}");
        let after = snapshot(&tmp.path().join(&name));
        let changed: Vec<_> = after
            .keys()
            .chain(snap.keys())
            .filter(|k| after.get(*k) != snap.get(*k))
            .collect();
        assert!(
            changed.is_empty(),
            "{name}: a refused resume changed the run directory: {changed:?}"
        );
    }
    figures(
        "bad_run_dirs",
        &[format!(
            "hand-edited run directories: {} (exit 2, file and fix named, nothing changed)",
            cases.len()
        )],
    );
}

/// Replace node `n` (pre-order) of `v` with `new`; `n` counts down.
fn replace_nth(v: &mut serde_json::Value, n: &mut usize, new: &serde_json::Value) {
    if *n == 0 {
        *v = new.clone();
        *n = usize::MAX;
        return;
    }
    *n -= 1;
    match v {
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| replace_nth(x, n, new)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| replace_nth(x, n, new)),
        _ => {}
    }
}

/// Nodes of a JSON value.
fn count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(count).sum(),
        serde_json::Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// A JSON value with `edits` applied: each replaces the node at a chosen position.
pub(super) fn mutate(
    mut v: serde_json::Value,
    edits: &[(u16, Option<serde_json::Value>)],
) -> serde_json::Value {
    for (at, new) in edits {
        let mut n = usize::from(*at) % count(&v);
        replace_nth(
            &mut v,
            &mut n,
            new.as_ref().unwrap_or(&serde_json::Value::Null),
        );
    }
    v
}

pub(super) fn leaf() -> impl Strategy<Value = Option<serde_json::Value>> {
    prop_oneof![
        Just(None),
        any::<i64>().prop_map(|i| Some(i.into())),
        (0u64..40).prop_map(|i| Some(i.into())),
        any::<f64>().prop_map(|f| Some(serde_json::json!(f))),
        "\\PC{0,12}".prop_map(|s| Some(s.into())),
        prop_oneof![
            Just("cnn"),
            Just("cell"),
            Just("add"),
            Just("tanh"),
            Just("max")
        ]
        .prop_map(|s| Some(s.into())),
        prop::collection::vec(0u64..20, 0..8).prop_map(|v| Some(serde_json::json!(v))),
        Just(Some(serde_json::json!({}))),
    ]
}

/// `nas-actor train --arch` with an architecture mutated at random never
/// panics: it trains (a valid one) or is refused as bad input (exit 2).
#[test]
fn train_with_arbitrary_architecture_json_never_panics() {
    let cases = (
        any::<bool>(),
        prop::collection::vec((any::<u16>(), leaf()), 1..4),
    );
    let trained = std::cell::Cell::new(0);
    let n = super::inputs::tried(48, cases, |(cnn, edits)| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cfg = synthetic_config(&tmp.path().join("run"), 1, "");
        if cnn {
            cfg.search.space = SpaceKind::Cnn;
            cfg.space.cnn.layers = 3;
            cfg.data.dataset = Dataset::Cifar10;
        }
        let config = write_config(tmp.path(), "c", &cfg);
        let space = nas_actor::space::SearchSpace::from_config(&cfg).expect("space");
        let tokens = nas_actor::space::sample_uniform(
            &space.schema(0),
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(u64::from(cnn)),
        );
        let arch = space.decode(&tokens).expect("decode");
        let json = mutate(serde_json::to_value(&arch).expect("json"), &edits);
        let arch_path = tmp.path().join("arch.json");
        std::fs::write(&arch_path, json.to_string()).expect("write");
        let r = dispatch(Cli::Train {
            config,
            arch: arch_path,
            device: Some("cpu".into()),
            epochs: None,
            seed: None,
        });
        match r {
            Ok(()) => trained.set(trained.get() + 1),
            Err(e) => {
                prop_assert_eq!(e.code, 2, "{}", e.message);
                prop_assert!(e.message.contains("arch.json"), "{}", e.message);
            }
        }
        Ok(())
    });
    figures(
        "inputs_train_arch_mutated",
        &[format!(
            "train --arch with a real architecture mutated at random: {n} tried; {} trained, the rest exit 2 naming the file",
            trained.get()
        )],
    );
}

#[test]
fn train_refuses_architectures_of_another_space_through_the_binary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = synthetic_config(&tmp.path().join("run"), 1, "");
    let config = write_config(tmp.path(), "c", &cfg);
    let arch = tmp.path().join("arch.json");
    for json in [
        "[1, 2, 3]",
        r#"{"space":"cell","base":4,"nodes":[]}"#,
        "\u{0}",
    ] {
        std::fs::write(&arch, json).expect("write");
        let (code, _, err) = outcome(
            &binary()
                .arg("train")
                .arg(&config)
                .arg("--arch")
                .arg(&arch)
                .output()
                .expect("train"),
        );
        assert_eq!(code, Some(2), "{json}: {err}");
        assert!(err.contains("arch.json"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
