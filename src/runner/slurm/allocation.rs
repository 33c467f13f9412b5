//! The Slurm allocation a run is in, read from the `SLURM_*` environment of
//! the batch step, and the slots it holds. Pure: tests hand it made-up
//! environments.

use crate::config::SlurmConfig;

use super::SlurmError;

/// What the allocation holds, as its environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// `SLURM_JOB_ID`.
    pub job_id: String,
    /// `SLURM_JOB_NUM_NODES` (or `SLURM_NNODES`); 1 when unset.
    pub nodes: usize,
    /// `SLURM_JOB_NODELIST`, e.g. `gpu[01-04]`.
    pub node_list: String,
    /// GPUs over all nodes: `SLURM_GPUS_ON_NODE` × nodes, else the ids in `SLURM_JOB_GPUS`.
    pub gpus: Option<usize>,
    /// CPUs over all nodes: `SLURM_JOB_CPUS_PER_NODE` (e.g. `8(x2),4`), else `SLURM_CPUS_ON_NODE` × nodes.
    pub cpus: Option<usize>,
    /// `SLURM_NTASKS`.
    pub tasks: Option<usize>,
    /// `SLURM_CPUS_PER_TASK`.
    pub cpus_per_task: Option<usize>,
}

/// How children run in an allocation: step shape and slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub gpus_per_child: usize,
    pub cpus_per_child: usize,
    pub max_parallel: usize,
}

fn number(v: Option<String>) -> Option<usize> {
    v.and_then(|s| s.trim().parse().ok())
}

/// `8(x2),4` → 20.
fn cpus_per_node_list(s: &str) -> Option<usize> {
    let mut total = 0;
    for part in s.split(',') {
        let (n, times) = match part.split_once("(x") {
            Some((n, t)) => (n, t.trim_end_matches(')')),
            None => (part, "1"),
        };
        total += n.trim().parse::<usize>().ok()? * times.trim().parse::<usize>().ok()?;
    }
    Some(total)
}

/// `0,1,3` or `0-3` → the number of ids.
fn id_list_len(s: &str) -> Option<usize> {
    let mut total = 0;
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        total += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()? + 1 - a.trim().parse::<usize>().ok()?,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    Some(total)
}

impl Allocation {
    /// The allocation of an environment (`get` reads a variable); `None`
    /// outside one (no `SLURM_JOB_ID`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Allocation> {
        let job_id = get("SLURM_JOB_ID").filter(|j| !j.trim().is_empty())?;
        let nodes = number(get("SLURM_JOB_NUM_NODES"))
            .or_else(|| number(get("SLURM_NNODES")))
            .unwrap_or(1)
            .max(1);
        let gpus = number(get("SLURM_GPUS_ON_NODE"))
            .map(|g| g * nodes)
            .or_else(|| get("SLURM_JOB_GPUS").and_then(|l| id_list_len(&l)));
        let cpus = get("SLURM_JOB_CPUS_PER_NODE")
            .and_then(|l| cpus_per_node_list(&l))
            .or_else(|| number(get("SLURM_CPUS_ON_NODE")).map(|c| c * nodes));
        Some(Allocation {
            job_id,
            nodes,
            node_list: get("SLURM_JOB_NODELIST").unwrap_or_default(),
            gpus,
            cpus,
            tasks: number(get("SLURM_NTASKS")),
            cpus_per_task: number(get("SLURM_CPUS_PER_TASK")),
        })
    }

    /// The allocation of this process's environment.
    pub fn current() -> Option<Allocation> {
        Allocation::from_env(|k| std::env::var(k).ok())
    }

    /// The step shape and slot count `[launcher.slurm]` asks for in this allocation.
    pub fn plan(&self, s: &SlurmConfig) -> Result<Plan, SlurmError> {
        let cpus_per_child = s.cpus_per_child.or(self.cpus_per_task).unwrap_or(1).max(1);
        let max_parallel = match (s.max_parallel, s.gpus_per_child) {
            (Some(n), _) => n,
            (None, 0) => match self.tasks {
                Some(t) if t > 1 => t,
                _ => self.cpus.map_or(1, |c| (c / cpus_per_child).max(1)),
            },
            (None, g) => match self.gpus.unwrap_or(0) / g {
                0 => {
                    return Err(SlurmError::NoGpus {
                        job: self.job_id.clone(),
                        per_child: g,
                        present: self.gpus.unwrap_or(0),
                    })
                }
                n => n,
            },
        };
        Ok(Plan {
            gpus_per_child: s.gpus_per_child,
            cpus_per_child,
            max_parallel,
        })
    }
}
