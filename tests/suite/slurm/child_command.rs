//! `nas-actor child FILE`: one built-in child from a child file, speaking
//! the trial protocol on stdout, with meaningful exit codes — synthetic
//! children (finished and diverged), a bad file, and a tiny real tch child
//! on Penn Treebank.

use std::path::Path;

use nas_actor::child::ChildSpec;
use nas_actor::config::{Backend, Config};
use nas_actor::runner::child_file::{ChildDevice, ChildFile};
use nas_actor::runner::protocol::{self, Line};
use nas_actor::space::{sample_uniform, SearchSpace};
use rand::SeedableRng;

use super::{nas, slurm_config, text};
use crate::common::require_ptb;

/// A child of `config`'s space, sampled uniformly with `seed`.
fn spec(config: &Config, id: u64, seed: u64) -> ChildSpec {
    let space = SearchSpace::from_config(config).expect("space");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tokens = sample_uniform(&space.schema(0), &mut rng);
    let arch = space.decode(&tokens).expect("decode");
    let hash = arch.hash().expect("hash");
    ChildSpec::new(config.experiment.seed, id, 0, 0, tokens, arch, hash)
}

/// Run `nas-actor child` on a file of `spec` under `config`: exit code and parsed stdout.
fn run_child(dir: &Path, config: &Config, spec: &ChildSpec) -> (Option<i32>, Vec<Line>, String) {
    let path = dir.join("child.json");
    ChildFile::new(spec.clone(), config.clone(), ChildDevice::Cpu, Some(1))
        .write(&path)
        .expect("write child file");
    let o = nas().arg("child").arg(&path).output().expect("run");
    let (out, err) = text(&o);
    (
        o.status.code(),
        out.lines().map(protocol::parse).collect(),
        format!("{out}\n{err}"),
    )
}

fn last_final(lines: &[Line]) -> &protocol::Final {
    match lines.last() {
        Some(Line::Final(f)) => f,
        other => panic!("the last line is not a final line: {other:?}"),
    }
}

#[test]
fn a_synthetic_child_prints_its_epoch_and_final_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = slurm_config(&tmp.path().join("run"), 4, 2, 0.0);
    let s = spec(&config, 3, 11);
    let (code, lines, all) = run_child(tmp.path(), &config, &s);
    assert_eq!(code, Some(0), "{all}");
    let space = SearchSpace::from_config(&config).expect("space");
    let want = nas_actor::synthetic::reward(&space, &s.arch, config.experiment.seed);
    assert!(
        lines
            .iter()
            .any(|l| matches!(l, Line::Epoch(m) if m.epoch == 1 && m.val_metric == want)),
        "{all}"
    );
    let f = last_final(&lines);
    assert_eq!((f.metric, f.reward), (want, Some(want)), "{all}");
    assert_eq!(f.status, Some(nas_actor::child::ChildStatus::Ok));
}

#[test]
fn a_diverged_child_says_so_with_nan_and_exit_code_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = slurm_config(&tmp.path().join("run"), 4, 2, 0.0);
    config.child.synthetic.failure_rate = 1.0;
    config.child.synthetic.failure_kind = nas_actor::config::SyntheticFailure::Diverged;
    let (code, lines, all) = run_child(tmp.path(), &config, &spec(&config, 0, 1));
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("\"metric\": NaN"), "{all}");
    let f = last_final(&lines);
    assert!(f.metric.is_nan());
    assert_eq!(f.status, Some(nas_actor::child::ChildStatus::Diverged));
    assert_eq!(f.reward, Some(config.reward.failure));
    assert!(f.message.is_some(), "{all}");
}

#[test]
fn a_file_that_is_not_a_child_file_is_bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("child.json");
    std::fs::write(&path, "{\"format\": 1}").expect("write");
    let o = nas().arg("child").arg(&path).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not a child file"), "{:?}", text(&o));
    let o = nas()
        .arg("child")
        .arg(tmp.path().join("missing.json"))
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_tiny_tch_child_trains_on_real_ptb_and_reports_each_epoch() {
    let Some(ptb) = require_ptb() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tiny_ptb(&tmp.path().join("run"), &ptb, 2, 2);
    let (code, lines, all) = run_child(tmp.path(), &config, &spec(&config, 0, 5));
    assert_eq!(code, Some(0), "{all}");
    let epochs: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Epoch(m) => Some(m.epoch),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, vec![1, 2], "{all}");
    let f = last_final(&lines);
    assert!(
        f.metric.is_finite() && f.metric > 1.0,
        "a perplexity: {all}"
    );
    assert!(f.params.is_some_and(|p| p > 0), "{all}");
    assert!(f.reward.is_some_and(|r| r > 0.0), "{all}");
}

/// A tiny real search on Penn Treebank: base-2 cells in a small language model.
pub fn tiny_ptb(out: &Path, ptb: &Path, budget: usize, epochs: usize) -> Config {
    let mut c = slurm_config(out, budget, 2, 0.0);
    c.space.cell.base = 2;
    c.child.backend = Backend::Tch;
    c.data.dir = ptb.to_path_buf();
    c.data.train_limit = Some(20_000);
    c.data.val_limit = Some(4_000);
    c.child.train_batches = Some(3);
    c.child.val_batches = Some(2);
    let lm = &mut c.child.lm;
    (lm.epochs, lm.embedding_size, lm.hidden_size, lm.bptt) = (epochs, 12, 12, 6);
    (lm.batch_size, lm.dropout, lm.learning_rate, lm.init_range) = (4, 0.0, 0.3, 0.05);
    c
}
