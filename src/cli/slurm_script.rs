//! `nas-actor slurm-script CONFIG`: an sbatch script for the search of a
//! config with `launcher.kind = "slurm"`. The allocation holds
//! `max_parallel` steps of the children's shape; the script runs the
//! orchestrator in the batch step, asks for SIGUSR1 two minutes before the
//! time limit (`--signal=B:USR1@120`) and may be requeued (`--requeue`). On
//! the signal the run stops dispatching, cancels its steps, checkpoints and
//! requeues its job; the requeued job continues the same run directory
//! (`--auto-resume`).

use std::io::Write;
use std::path::Path;

use super::CliError;
use crate::config::{Config, LauncherKind};

/// Quote `s` for a POSIX shell.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script for `config` read from `path`, running `binary`.
pub fn script(config: &Config, path: &Path, binary: &Path, workdir: &Path) -> String {
    let s = &config.launcher.slurm;
    let name = config.experiment.name.replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "-",
    );
    let parallel = s.max_parallel.unwrap_or(1);
    let cpus = s.cpus_per_child.unwrap_or(1);
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={name}"),
        "#SBATCH --nodes=1".into(),
        format!("#SBATCH --ntasks={parallel}"),
        format!("#SBATCH --cpus-per-task={cpus}"),
    ];
    if s.gpus_per_child > 0 {
        lines.push(format!(
            "#SBATCH --gres=gpu:{}",
            s.gpus_per_child * parallel
        ));
    }
    if let Some(m) = &s.mem_per_child {
        lines.push(format!("#SBATCH --mem={}", times(m, parallel)));
    }
    for (key, v) in [
        ("partition", &s.partition),
        ("constraint", &s.constraint),
        ("time", &s.time),
    ] {
        if let Some(v) = v {
            lines.push(format!("#SBATCH --{key}={v}"));
        }
    }
    lines.extend([
        "#SBATCH --signal=B:USR1@120".to_string(),
        "#SBATCH --requeue".into(),
        "#SBATCH --open-mode=append".into(),
        format!("#SBATCH --chdir={}", workdir.display()),
        format!("#SBATCH --output={name}-%j.out"),
        String::new(),
        "# The run directory, the data and this binary must be on a filesystem every node sees."
            .into(),
        "# SIGUSR1 (120 s before the time limit): nas-actor cancels its steps, checkpoints and"
            .into(),
        "# requeues this job; the requeued job resumes the same run directory.".into(),
        format!(
            "exec {} run {} --auto-resume",
            quoted(&binary.display().to_string()),
            quoted(&path.display().to_string())
        ),
        String::new(),
    ]);
    lines.join("\n")
}

/// `mem` (a Slurm size such as "8G") times `n`.
fn times(mem: &str, n: usize) -> String {
    let (digits, unit) = mem.split_at(mem.trim_end_matches(['K', 'M', 'G', 'T']).len());
    match digits.parse::<u64>() {
        Ok(v) => format!("{}{unit}", v * n as u64),
        Err(_) => mem.to_string(),
    }
}

/// Print the script of the config at `path`.
pub fn print(path: &Path) -> Result<(), CliError> {
    let config = Config::load(path).map_err(|e| CliError::from_error(2, e))?;
    if config.launcher.kind != LauncherKind::Slurm {
        return Err(CliError::input(format!(
            "{}: launcher.kind is not \"slurm\"; set [launcher] kind = \"slurm\" to run the search as Slurm job steps",
            path.display()
        )));
    }
    let path = std::fs::canonicalize(path)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let binary = std::env::current_exe()
        .map_err(|e| CliError::runtime(format!("cannot find the nas-actor binary: {e}")))?;
    let workdir = std::env::current_dir()
        .map_err(|e| CliError::runtime(format!("cannot read the working directory: {e}")))?;
    let text = script(&config, &path, &binary, &workdir);
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::runtime(format!("cannot write to stdout: {e}")))
}
