//! Trial commands (`child.backend = "command"`): the user's own program as
//! the child, end to end through the library and the binary.
//!
//! - `success`: per-epoch metrics, rewards from the rule and from the
//!   trial, the child's log and architecture file, the cache, a
//!   lower-is-better metric in best.json and the report;
//! - `failures`: every way a trial can fail, each in a run that completes
//!   its budget; commands that cannot start are config errors;
//! - `processes`: no trial process outlives Ctrl-C or a SIGKILL of
//!   nas-actor, and resume completes with every child id once; the
//!   environment each kind of slot gives a trial;
//! - `persistent`: one long-lived trial process per slot
//!   (`child.command.persistent`): one process serves many children, a
//!   process that dies, times out or breaks the protocol is started again,
//!   none outlives the run; the Slurm launcher refuses it;
//! - `torch`: the PyTorch Fashion-MNIST example on tiny settings, per
//!   child and persistent.
//!
//! The trials are small shell scripts (Python programs for persistent
//! trials) written by the tests.

mod failures;
mod persistent;
mod processes;
mod success;
mod torch;

use std::path::{Path, PathBuf};

use nas_actor::actors::{run, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::Config;
use nas_actor::store::ChildRecord;

/// A small declared space: an optimizer and 2 layers of kernel and skip
/// inputs (2 × 2 × 2 × 2 = 16 architectures).
pub(crate) const SPACE: &str = r#"
[[space.custom.decision]]
name = "optimizer"
choices = ["sgd", "adam"]

[[space.custom.group]]
name = "layer"
repeat = 2

[[space.custom.group.decision]]
name = "kernel"
choices = [3, 5]

[[space.custom.group.decision]]
name = "inputs"
kind = "inputs"
"#;

/// Write an executable shell script `name` into `dir`.
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    let mut perm = std::fs::metadata(&path).expect("stat").permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(&path, perm).expect("chmod");
    path
}

/// A config whose children are `argv` (run in `dir`), with `extra` TOML
/// appended to `[child.command]` (and tables after it).
pub(crate) fn config_text(dir: &Path, budget: usize, argv: &[&str], extra: &str) -> String {
    let argv = argv
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[experiment]
name = "trials"
output_dir = "{run}"
seed = 3
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 2

[search]
space = "custom"
strategy = "random"
replicas = 2
children_per_replica = 2
{SPACE}
[child]
backend = "command"

[child.command]
argv = [{argv}]
workdir = "{dir}"
metric = "accuracy"
{extra}
"#,
        run = dir.join("run").display(),
        dir = dir.display(),
    )
}

/// Parse a config text (written to `dir/config.toml`).
pub(crate) fn config(dir: &Path, text: &str) -> Config {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Run a search to its end.
pub(crate) fn search(config: Config) -> nas_actor::actors::recorder::Summary {
    run(config, &RunOptions::default()).unwrap_or_else(|e| panic!("run failed: {e}"))
}

/// The records of `dir/run`, by id.
pub(crate) fn records(dir: &Path) -> Vec<ChildRecord> {
    let text = std::fs::read_to_string(dir.join("run/children.jsonl")).expect("children.jsonl");
    let mut recs: Vec<ChildRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    recs.sort_by_key(|r| r.spec.id);
    recs
}

/// Every child id of the budget recorded exactly once.
pub(crate) fn assert_every_id_once(recs: &[ChildRecord], budget: usize) {
    let ids: Vec<u64> = recs.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, (0..budget as u64).collect::<Vec<_>>(), "ids");
}

/// The records with `status`.
pub(crate) fn with_status(recs: &[ChildRecord], status: ChildStatus) -> Vec<&ChildRecord> {
    recs.iter().filter(|r| r.status == status).collect()
}

/// The binary.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nas-actor")
}
