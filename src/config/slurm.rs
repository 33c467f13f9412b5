//! `[launcher.slurm]`: children as Slurm job steps inside one allocation
//! (`launcher.kind = "slurm"`), and its checks.

use serde::{Deserialize, Serialize};

/// `[launcher.slurm]`: the shape of each child's job step, how many run at
/// once, and the allocation `nas-actor slurm-script` asks for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmConfig {
    /// GPUs of each child's step (`--gres=gpu:N`). Default 1; 0 for CPU children.
    pub gpus_per_child: usize,
    /// CPUs of each child's step (`-c N`); default: `SLURM_CPUS_PER_TASK`
    /// of the allocation, else 1. A CPU child trains with this many threads.
    pub cpus_per_child: Option<usize>,
    /// Memory of each child's step (`--mem`, e.g. "8G"); default: Slurm's.
    pub mem_per_child: Option<String>,
    /// Steps at once (slots); default: what the allocation holds — its GPUs
    /// divided by `gpus_per_child`, or for CPU children its tasks
    /// (`SLURM_NTASKS`), else its CPUs divided by `cpus_per_child`.
    pub max_parallel: Option<usize>,
    /// Times a child whose step could not launch (or whose node failed) is
    /// launched again before it is recorded failed. Default 2.
    pub retries: usize,
    /// More `srun` arguments for every step (e.g. `["--time=30"]`).
    pub srun_args: Vec<String>,
    /// The allocation's partition (`#SBATCH --partition`, `nas-actor slurm-script`).
    pub partition: Option<String>,
    /// The allocation's node features (`#SBATCH --constraint`).
    pub constraint: Option<String>,
    /// The allocation's time limit (`#SBATCH --time`, e.g. "24:00:00"). Default: the partition's.
    pub time: Option<String>,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            gpus_per_child: 1,
            cpus_per_child: None,
            mem_per_child: None,
            max_parallel: None,
            retries: 2,
            srun_args: Vec::new(),
            partition: None,
            constraint: None,
            time: None,
        }
    }
}

/// Check `[launcher.slurm]`: the dotted key and what is wrong, on failure.
pub(super) fn validate(s: &SlurmConfig) -> Result<(), (String, String)> {
    let bad = |key: &str, m: String| Err((format!("launcher.slurm.{key}"), m));
    if s.cpus_per_child == Some(0) {
        return bad("cpus_per_child", "must be at least 1".into());
    }
    if s.max_parallel == Some(0) {
        return bad("max_parallel", "must be at least 1".into());
    }
    if let Some(m) = &s.mem_per_child {
        let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || m.len() - digits.len() > 1
        {
            return bad(
                "mem_per_child",
                format!("\"{m}\" is not a Slurm memory size; use a number with an optional K, M, G or T, e.g. \"8G\""),
            );
        }
    }
    for (key, v) in [
        ("partition", &s.partition),
        ("constraint", &s.constraint),
        ("time", &s.time),
    ] {
        if v.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return bad(
                key,
                "must not be empty; leave it out for Slurm's default".into(),
            );
        }
    }
    if let Some(a) = s.srun_args.iter().find(|a| a.trim().is_empty()) {
        return bad("srun_args", format!("holds an empty argument ({a:?})"));
    }
    Ok(())
}
