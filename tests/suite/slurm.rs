//! Tests of the Slurm launcher: the allocation's slots, step commands,
//! failure classification and the batch script (no cluster needed);
//! `nas-actor child` speaking the protocol; and searches on a real local
//! Slurm cluster ([`cluster`]): synthetic children as steps, a tiny real tch
//! search on Penn Treebank, a step cancelled with `scancel`, and a batch job
//! signalled and requeued mid-run.

mod bench;
mod child_command;
pub mod cluster;
mod fake_srun;
mod plan;
mod search;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nas_actor::config::{Config, LauncherKind};

/// The `nas-actor` binary.
pub fn nas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas-actor"));
    c.env_remove("LD_LIBRARY_PATH");
    c
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A synthetic search (cell space, base 8) writing into `out`, its children
/// Slurm steps of one GPU each, `parallel` at once, `delay_ms` each.
pub fn slurm_config(out: &Path, budget: usize, parallel: usize, delay_ms: f64) -> Config {
    let mut c = crate::orchestrator::synthetic_config(out, budget, "");
    c.space.cell.base = 8;
    c.search.replicas = 1;
    c.search.children_per_replica = parallel;
    c.child.synthetic.delay_ms = delay_ms;
    c.launcher.kind = LauncherKind::Slurm;
    c.launcher.slurm.max_parallel = Some(parallel);
    c.launcher.slurm.cpus_per_child = Some(1);
    c
}

/// Write `config` to `dir/name.toml`.
pub fn write_config(dir: &Path, name: &str, config: &Config) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml().expect("toml")).expect("write config");
    path
}
