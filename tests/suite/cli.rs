//! Tests of the `nas-actor` binary: subcommands, exit codes, and how it is
//! linked against libtorch (rpath, libtorch_cuda kept as NEEDED).

use std::path::Path;
use std::process::{Command, Output};

use crate::common::root;

fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas-actor"))
        .args(args)
        .current_dir(root())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run nas-actor")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_subcommands() {
    let o = nas(&["--help"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    for sub in ["run", "sample", "train", "devices"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing in:\n{out}"
        );
    }
}

#[test]
fn sample_prints_json_lines_deterministically() {
    let o = nas(&["sample", "configs/cifar10.toml", "-n", "3", "--seed", "5"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["architecture"]["space"], "cnn");
        assert!(l["log_prob"].as_f64().is_some_and(|p| p < 0.0));
    }
    let again = nas(&["sample", "configs/cifar10.toml", "-n", "3", "--seed", "5"]);
    assert_eq!(text(&again).0, out, "same seed, same architectures");
    let other = nas(&["sample", "configs/cifar10.toml", "-n", "3", "--seed", "6"]);
    assert_ne!(text(&other).0, out);
    let cell = nas(&["sample", "configs/ptb.toml", "-n", "2"]);
    assert!(text(&cell)
        .0
        .lines()
        .all(|l| l.contains("\"space\":\"cell\"")));
}

#[test]
fn a_bad_config_exits_with_code_2_and_names_the_file() {
    let o = nas(&["sample", "tests/configs/bad/replicas_zero.toml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("tests/configs/bad/replicas_zero.toml"),
        "{err}"
    );
    assert!(err.contains("search.replicas"), "{err}");
    let o = nas(&["run", "no/such.toml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn train_rejects_an_architecture_of_another_space() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = nas(&["sample", "configs/cifar10.toml", "-n", "1"]);
    let arch = tmp.path().join("arch.json");
    std::fs::write(&arch, text(&o).0).expect("write");
    let o = nas(&[
        "train",
        "configs/ptb.toml",
        "--arch",
        arch.to_str().expect("utf-8 path"),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("arch.json"), "{err}");
    std::fs::write(&arch, "{not json").expect("write");
    let o = nas(&[
        "train",
        "configs/ptb.toml",
        "--arch",
        arch.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not valid JSON"));
}

#[test]
fn devices_reports_without_a_gpu_and_shows_slots() {
    let o = nas(&["devices", "configs/quickstart.toml"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("trainer slot"), "{out}");
}

/// The binary makes CUDA number GPUs as NVML does, and `devices` says so;
/// an order set otherwise in the environment is kept, with a warning.
#[test]
fn devices_shows_the_cuda_device_order_the_binary_sets() {
    let run = |order: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nas-actor"));
        cmd.arg("devices").current_dir(root());
        match order {
            Some(o) => cmd.env("CUDA_DEVICE_ORDER", o),
            None => cmd.env_remove("CUDA_DEVICE_ORDER"),
        };
        let o = cmd.output().expect("run nas-actor");
        assert!(o.status.success(), "{}", text(&o).1);
        text(&o).0
    };
    let out = run(None);
    assert!(
        out.contains("device order: CUDA_DEVICE_ORDER=PCI_BUS_ID (cuda:i is gpu i above)"),
        "{out}"
    );
    let out = run(Some("FASTEST_FIRST"));
    assert!(
        out.contains("CUDA_DEVICE_ORDER=FASTEST_FIRST: cuda:i may not be gpu i above"),
        "{out}"
    );
}

/// `train` with `child.model = "lstm"` says it trained the LSTM baseline,
/// not the cell it was given.
#[test]
fn train_names_the_lstm_baseline_it_trained() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    nas_actor::data::synthetic::write_text_corpus(&data, 120, 20, 3).expect("corpus");
    let config = tmp.path().join("lstm.toml");
    std::fs::write(
        &config,
        format!(
            "[experiment]\nname = \"lstm\"\noutput_dir = \"{}\"\nbudget = 1\n\
             [search]\nspace = \"cell\"\n[space.cell]\nbase = 2\n\
             [child]\nmodel = \"lstm\"\ntrain_batches = 2\nval_batches = 1\n\
             [child.lm]\nepochs = 1\nembedding_size = 8\nhidden_size = 8\nbptt = 5\nbatch_size = 4\ndropout = 0.0\n\
             [data]\ndataset = \"ptb\"\ndir = \"{}\"\n",
            tmp.path().join("run").display(),
            data.display()
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8");
    let o = nas(&["sample", config, "-n", "1", "--uniform"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let arch = tmp.path().join("arch.json");
    std::fs::write(&arch, text(&o).0).expect("write arch");
    let o = nas(&[
        "train",
        config,
        "--arch",
        arch.to_str().expect("utf-8"),
        "--device",
        "cpu",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["model"], "lstm", "{v}");
    assert_eq!(v["hash"], "lstm", "{v}");
    let description = v["description"].as_str().expect("description");
    assert!(
        description.starts_with("LSTM baseline: 2 layer(s) of 8 units"),
        "{v}"
    );
}

fn readelf(binary: &Path) -> String {
    let o = Command::new("readelf")
        .arg("-d")
        .arg(binary)
        .output()
        .expect("readelf -d");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The two libtorch linking traps: the binary finds libtorch without
/// LD_LIBRARY_PATH (rpath), and keeps libtorch_cuda as NEEDED when the
/// libtorch it was built against has it (else CUDA is silently unavailable).
#[test]
fn binary_is_linked_with_rpath_and_keeps_libtorch_cuda() {
    let bin = Path::new(env!("CARGO_BIN_EXE_nas-actor"));
    let dynamic = readelf(bin);
    let torch_lib = Path::new(env!("NAS_ACTOR_TORCH_LIB"));
    assert!(
        dynamic.contains(&format!("[{}]", torch_lib.display()))
            || dynamic.contains(&torch_lib.display().to_string()),
        "no rpath/runpath to {} in:\n{dynamic}",
        torch_lib.display()
    );
    if torch_lib.join("libtorch_cuda.so").exists() {
        assert!(
            dynamic.contains("[libtorch_cuda.so]"),
            "libtorch_cuda.so is not NEEDED:\n{dynamic}"
        );
    } else {
        crate::common::skip(
            "this torch is a CPU build (no libtorch_cuda.so): its NEEDED entry is not checked",
        );
    }
    // It starts without LD_LIBRARY_PATH (nas() removes it).
    let o = nas(&["--version"]);
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn train_prints_metrics_and_reward_as_json() {
    let Some(_) = crate::common::require_ptb() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let arch = tmp.path().join("arch.json");
    let o = nas(&[
        "sample",
        "configs/quickstart.toml",
        "-n",
        "1",
        "--uniform",
        "--seed",
        "3",
    ]);
    std::fs::write(&arch, text(&o).0).expect("write");
    let o = nas(&[
        "train",
        "configs/quickstart.toml",
        "--arch",
        arch.to_str().expect("utf-8"),
        "--device",
        "cpu",
        "--epochs",
        "1",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["epochs"].as_array().map(Vec::len), Some(1));
    let status = v["status"].as_str().expect("status");
    assert!(["ok", "diverged"].contains(&status), "{v}");
    if status == "ok" {
        let ppl = v["validation_perplexity"].as_f64().expect("perplexity");
        let reward = v["reward"].as_f64().expect("reward");
        assert!((reward - 80.0 / (ppl * ppl)).abs() < 1e-9);
    }
}

/// An error keeps its cause: the binary prints what failed, then why
/// (`caused by:`), each once.
#[test]
fn errors_print_their_chain_of_causes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[experiment]\nname = \"x\"\noutput_dir = \"{}\"\nbudget = 4\n[search]\nspace = \"cell\"\n[data]\ndataset = \"ptb\"\ndir = \"/no/such/ptb\"\n",
            tmp.path().join("run").display()
        ),
    )
    .expect("write");
    let o = nas(&["run", cfg.to_str().expect("utf-8")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"error: cannot prepare the children"),
        "{err}"
    );
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("  caused by: data directory /no/such/ptb not found")),
        "{err}"
    );
    assert_eq!(
        err.matches("/no/such/ptb").count(),
        1,
        "each cause once: {err}"
    );
    assert!(!tmp.path().join("run").exists(), "nothing written");
}
