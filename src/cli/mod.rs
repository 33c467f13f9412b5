//! The command line: subcommands, their arguments, and exit codes
//! (0 success, 1 a run that failed while going, 2 bad input, 130 Ctrl-C).

mod child;
mod commands;
mod device;
mod post;
mod serve;
mod signals;
mod slurm_script;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use commands::dispatch;

/// An error for a person, with the process exit code it maps to, the
/// error it came from (its causes are printed under it) and a hint.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    /// The error behind `message`, whose causes are shown as its chain.
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// What to do next, printed last.
    pub hint: Option<String>,
}

impl CliError {
    /// Bad input (config, data, arguments, files): exit code 2.
    pub fn input(message: impl Into<String>) -> CliError {
        CliError::with_code(2, message)
    }

    /// A failure while running: exit code 1.
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError::with_code(1, message)
    }

    fn with_code(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            source: None,
            hint: None,
        }
    }

    /// `error` with exit code `code`; its causes become the chain.
    pub fn from_error(
        code: i32,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> CliError {
        CliError {
            code,
            message: error.to_string(),
            source: Some(Box::new(error)),
            hint: None,
        }
    }

    /// Add what to do next.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// The lines a person reads: the message, each cause that says
    /// something new (`caused by: …`), and the hint.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("error: {}", self.message)];
        let mut said = self.message.clone();
        let mut cause = self.source.as_deref().and_then(|e| e.source());
        while let Some(c) = cause {
            let text = c.to_string();
            if !said.contains(&text) {
                lines.push(format!("  caused by: {text}"));
                said.push_str(&text);
            }
            cause = c.source();
        }
        lines.extend(self.hint.clone());
        lines
    }
}

/// Neural Architecture Search with reinforcement learning (Zoph & Le, 2017),
/// orchestrated by actors on one multi-GPU machine.
#[derive(Debug, Parser)]
#[command(name = "nas-actor", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run (or resume) the search a config describes.
    Run {
        /// The TOML config (e.g. configs/ptb.toml).
        config: PathBuf,
        /// Continue the run in the config's output_dir from its checkpoint and log.
        #[arg(long)]
        resume: bool,
        /// Stop (as if by Ctrl-C, checkpoint written) after this many children are recorded.
        #[arg(long)]
        stop_after: Option<usize>,
        /// Continue the run in output_dir when there is one, else start it
        /// (what a requeued Slurm batch job does).
        #[arg(long, conflicts_with = "resume")]
        auto_resume: bool,
        /// Serve the live dashboard of this run on 127.0.0.1:PORT (8080 when
        /// no port is given), as `nas-actor serve` does.
        #[arg(long, value_name = "PORT", num_args = 0..=1, require_equals = true,
              default_missing_value = "8080")]
        dashboard: Option<u16>,
    },
    /// Print N architectures sampled by a fresh controller, as JSON lines.
    Sample {
        config: PathBuf,
        /// How many.
        #[arg(short = 'n', long = "num", default_value_t = 5)]
        n: usize,
        /// Seed (default: the config's experiment.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Sample uniformly instead of from the controller.
        #[arg(long)]
        uniform: bool,
    },
    /// Train one architecture (as printed by `sample`) and print its metrics and reward as JSON.
    Train {
        config: PathBuf,
        /// A file with the architecture JSON, or one line of `nas-actor sample`.
        #[arg(long)]
        arch: PathBuf,
        /// `cpu` or `cuda:N` (default: cuda:0 when CUDA is available, else cpu).
        #[arg(long)]
        device: Option<String>,
        /// Override the epochs of the config.
        #[arg(long)]
        epochs: Option<usize>,
        /// Seed (default: the config's experiment.seed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Train one child from a file a Slurm run wrote (a job step's command), speaking the
    /// trial protocol on stdout: JSON lines per epoch, then metric, reward and params.
    Child {
        /// The child file (spec, resolved config, device).
        spec: PathBuf,
    },
    /// Print an sbatch script that runs the search of CONFIG in one allocation
    /// (launcher.kind = "slurm"), requeued on its time limit and resumed.
    SlurmScript { config: PathBuf },
    /// Show the GPUs NVML sees and the trainer slots a config would get.
    Devices {
        /// A config whose [devices] table to apply.
        config: Option<PathBuf>,
    },
    /// Retrain the run's top architectures over the [retrain] grid, choose by
    /// validation metric, evaluate once on the test set; writes final.json and
    /// final.safetensors into the run directory.
    Retrain {
        /// The run directory (the config's experiment.output_dir).
        run_dir: PathBuf,
        /// Architectures to retrain (default: retrain.top of the config).
        #[arg(long)]
        top: Option<usize>,
        /// Use this config's child training and [retrain] grid instead of the run's.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Evaluate the test set again although final.json records an evaluation.
        #[arg(long)]
        force: bool,
        /// Train on `cpu` or `cuda:N` only (default: the config's [devices] slots).
        #[arg(long)]
        device: Option<String>,
    },
    /// Write pictures and report.md of a run (finished or still going) into RUN_DIR/report/.
    Report {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Compare runs: best validation metric so far against children and
    /// compute, one curve per run and a mean with a min–max band per strategy
    /// and config; PNG, SVG and a markdown table at 25/50/100 % of the budget.
    Compare {
        /// The run directories.
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Where to write the plots and compare.md.
        #[arg(long, default_value = "compare")]
        out: PathBuf,
        /// How runs form groups: `strategy` (strategy, preset, early
        /// stopping), `config` (equal configs up to seed, name and output
        /// directory), or config keys (`search.strategy controller.preset`).
        /// Default: equal configs up to per-run values (seed, name, output
        /// directory, paths in child.command.env).
        #[arg(long = "group-by", num_args = 1.., value_name = "strategy|config|KEY")]
        group_by: Vec<String>,
    },
    /// Serve a live dashboard of runs (going or finished) in the browser:
    /// overview, rewards, children, learning curves, choices, compare.
    Serve {
        /// The run directories.
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// The address to listen on; any other than a loopback one needs the
        /// access token printed at start.
        #[arg(long, default_value = crate::serve::DEFAULT_HOST)]
        host: String,
        /// The port (0: a free one, printed).
        #[arg(long, default_value_t = crate::serve::DEFAULT_PORT)]
        port: u16,
    },
    /// Print (or write) the N-th best architecture as JSON or as a PyTorch module.
    Export {
        /// The run directory.
        run_dir: PathBuf,
        /// Rank of the architecture: 1 = the best.
        #[arg(long, default_value_t = 1)]
        top: usize,
        /// `json` (the architecture) or `pytorch` (a Python source file).
        #[arg(long, value_enum)]
        format: ExportKind,
        /// Write here instead of to stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `--format` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    Json,
    Pytorch,
}
