//! The architecture JSON of `nas-actor train --arch FILE` and of the child
//! file of `nas-actor child FILE`: arbitrary JSON, arbitrary bytes, and a
//! real architecture with parts replaced. Never a panic: an architecture
//! that does not fit is bad input (exit 2) naming the file.

use std::process::Command;

use nas_actor::child::ChildSpec;
use nas_actor::cli::{dispatch, Command as Cli};
use nas_actor::config::Backend;
use nas_actor::runner::child_file::{ChildDevice, ChildFile};
use nas_actor::space::{sample_uniform, SearchSpace};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::{figures, tried};
use crate::orchestrator::synthetic_config;
use crate::reliability::bad_input::{leaf, mutate};
use crate::reliability::write_config;

/// Any JSON value.
fn json() -> impl Strategy<Value = Value> {
    let leaf = leaf().prop_map(|v| v.unwrap_or(Value::Null));
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("space".to_string()),
                    Just("architecture".to_string()),
                    Just("decisions".to_string()),
                    Just("layers".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The text of an architecture file: arbitrary JSON, arbitrary bytes, or
/// the real `arch` with parts replaced.
fn arch_file(arch: Value) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec((any::<u16>(), leaf()), 1..4).prop_map(move |edits| mutate(
            arch.clone(),
            &edits
        )
        .to_string()
        .into_bytes()),
    ]
}

#[test]
fn arbitrary_architecture_json_for_train_and_child_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = synthetic_config(&tmp.path().join("run"), 1, "");
    cfg.devices.cpu_workers = 1;
    let config = write_config(tmp.path(), "c", &cfg);
    let space = SearchSpace::from_config(&cfg).expect("space");
    let tokens = sample_uniform(&space.schema(0), &mut ChaCha8Rng::seed_from_u64(5));
    let arch = space.decode(&tokens).expect("decode");
    let arch_json = serde_json::to_value(&arch).expect("json");

    // train --arch: in the process, as `nas-actor train` runs it.
    let trained = std::cell::Cell::new(0);
    let train = tried(128, arch_file(arch_json.clone()), |bytes| {
        let case = tempfile::tempdir_in(tmp.path()).expect("tempdir");
        let path = case.path().join("arch.json");
        std::fs::write(&path, &bytes).expect("write");
        let fits = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .map(|v| v.get("architecture").cloned().unwrap_or(v))
            .and_then(|v| serde_json::from_value(v).ok())
            .is_some_and(|a| space.check(&a).is_ok());
        if fits {
            // A valid architecture trains (the mutations' own test covers it).
            trained.set(trained.get() + 1);
            return Ok(());
        }
        let r = dispatch(Cli::Train {
            config: config.clone(),
            arch: path,
            device: Some("cpu".into()),
            epochs: Some(1),
            seed: None,
        });
        let e = r
            .err()
            .ok_or_else(|| TestCaseError::fail("a bad architecture trained"))?;
        prop_assert_eq!(e.code, 2, "{}", e.message);
        prop_assert!(e.message.contains("arch.json"), "{}", e.message);
        Ok(())
    });

    // nas-actor child FILE: through the binary, a synthetic child.
    cfg.child.backend = Backend::Synthetic;
    let hash = arch.hash().expect("hash");
    let spec = ChildSpec::new(7, 0, 0, 0, tokens, arch, hash);
    let file = ChildFile::new(spec, cfg.clone(), ChildDevice::Cpu, Some(1));
    let file_json = serde_json::to_value(&file).expect("child file json");
    let child = tried(16, arch_file(arch_json), |bytes| {
        let case = tempfile::tempdir_in(tmp.path()).expect("tempdir");
        let path = case.path().join("child.json");
        let mut f = file_json.clone();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => f["spec"]["arch"] = v,
            Err(_) => f = Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        }
        std::fs::write(&path, f.to_string()).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_nas-actor"))
            .arg("child")
            .arg(&path)
            .output()
            .expect("run nas-actor child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        prop_assert!(matches!(code, Some(0..=2)), "exit {:?}: {}", code, stderr);
        if code == Some(2) {
            prop_assert!(stderr.contains("child.json"), "{}", stderr);
        }
        Ok(())
    });
    figures(
        "inputs_arch",
        &[format!(
            "architecture JSON: {train} files for train --arch ({} valid, the rest exit 2 naming the file), {child} child files through nas-actor child (exit 0, 1 or 2; never a panic)",
            trained.get()
        )],
    );
}
