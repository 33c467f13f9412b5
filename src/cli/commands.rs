//! What each subcommand does.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{CliError, Command};
use crate::actors::{self, RunError, RunOptions};
use crate::child::{ChildSpec, EpochMetrics, Progress};
use crate::config::{ChildModel, Config};
use crate::controller::Controller;
use crate::devices::{self, Discovery};
use crate::space::{sample_uniform, Architecture, SearchSpace};

/// Run a parsed command.
pub fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Run {
            config,
            resume,
            stop_after,
            auto_resume,
            dashboard,
        } => run(&config, resume, auto_resume, stop_after, dashboard),
        Command::Sample {
            config,
            n,
            seed,
            uniform,
        } => sample(&config, n, seed, uniform),
        Command::Train {
            config,
            arch,
            device,
            epochs,
            seed,
        } => train(&config, &arch, device.as_deref(), epochs, seed),
        Command::Devices { config } => show_devices(config.as_deref()),
        Command::Child { spec } => super::child::child(&spec),
        Command::SlurmScript { config } => super::slurm_script::print(&config),
        Command::Retrain {
            run_dir,
            top,
            config,
            force,
            device,
        } => super::post::retrain(&run_dir, top, config, force, device.as_deref()),
        Command::Report { run_dir } => super::post::report(&run_dir),
        Command::Compare {
            run_dirs,
            out,
            group_by,
        } => super::post::compare(&run_dirs, &out, &group_by),
        Command::Serve {
            run_dirs,
            host,
            port,
        } => super::serve::serve(run_dirs, host, port),
        Command::Export {
            run_dir,
            top,
            format,
            out,
        } => super::post::export(&run_dir, top, format, out.as_deref()),
    }
}

fn load(path: &Path) -> Result<Config, CliError> {
    Config::load(path).map_err(|e| CliError::from_error(2, e))
}

fn out(line: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{line}").map_err(|e| CliError::runtime(format!("cannot write to stdout: {e}")))
}

/// Ctrl-C stops the run through `interrupter` (checkpoint, exit 130); a
/// second Ctrl-C exits at once.
fn install_ctrl_c(interrupter: actors::Interrupter) {
    static PRESSED: AtomicUsize = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if PRESSED.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("\nsecond Ctrl-C: exiting at once");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping, writing the checkpoint (press again to exit at once)");
        interrupter.interrupt();
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not checkpoint the run: {e}");
    }
}

fn run(
    path: &Path,
    resume: bool,
    auto_resume: bool,
    stop_after: Option<usize>,
    dashboard: Option<u16>,
) -> Result<(), CliError> {
    let config = load(path)?;
    let dir = config.experiment.output_dir.clone();
    if let Some(port) = dashboard {
        super::serve::dashboard(&dir, port)?;
    }
    let resume = resume || (auto_resume && dir.exists());
    let interrupter = actors::Interrupter::new();
    install_ctrl_c(interrupter.clone());
    let usr1 = super::signals::on_usr1(interrupter.clone());
    let options = RunOptions {
        resume,
        stop_after,
        interrupter: Some(interrupter),
        space: None,
    };
    let metric = crate::task::Metric::of(&config);
    let config_of_run = config.clone();
    match actors::run(config, &options) {
        Ok(s) => {
            out(&format!(
                "done: {} children ({} failed, {} diverged, {} cached) in {:.1}s, {} controller updates, slot utilisation {:.1}%{}",
                s.children,
                s.failures,
                s.diverged,
                s.cached,
                s.wall_seconds,
                s.updates,
                100.0 * s.slot_utilisation,
                match s.launch_retries {
                    0 => String::new(),
                    n => format!(", {n} step launch(es) retried"),
                }
            ))?;
            if s.diverged > 0 {
                out(&divergence_note(&config_of_run, s.diverged))?;
            }
            if s.compute.stopped > 0 {
                out(&format!(
                    "early stopping: {} stopped; {} child-epochs run of {} ({:.1} % saved)",
                    s.compute.stopped,
                    s.compute.child_epochs,
                    s.compute.child_epochs_full,
                    100.0 * s.compute.saved_share()
                ))?;
            }
            if let Some(b) = &s.best {
                out(&b.best_line(&metric))?;
            }
            if let Some(f) = &s.forced_end {
                eprintln!("warning: {f}");
            }
            out(&format!("run directory: {}", dir.display()))
        }
        Err(e @ RunError::Interrupted(_)) => {
            let mut error = CliError::from_error(130, e);
            if usr1.received() {
                error.message = format!("SIGUSR1: {}", error.message);
                if let Some(warning) = super::signals::requeue_slurm_job() {
                    error = error.hint(warning);
                }
            }
            Err(error)
        }
        Err(e) if e.is_input() => Err(CliError::from_error(2, e)),
        Err(e) => Err(CliError::from_error(1, e).hint(format!(
            "the last checkpoint in {} is intact; fix the cause and continue with --resume",
            dir.display()
        ))),
    }
}

/// Why `n` children diverged, in a few words: a NaN or infinite loss is
/// what some architectures of the space do at the configured learning rate,
/// not a fault of the run.
pub fn divergence_note(config: &Config, n: usize) -> String {
    use crate::config::{Backend, Weights};
    use crate::space::SpaceKind;
    let why = match (config.child.backend, config.search.space) {
        (Backend::Tch, SpaceKind::Cell) if config.search.weights == Weights::Shared => {
            "expected in this space: relu and identity cells blow up under the shared weights ω, as the paper's space allows".to_string()
        }
        (Backend::Tch, SpaceKind::Cell) => format!(
            "expected in this space: relu and identity cells blow up at learning rate {}, as the paper's space allows",
            config.child.lm.learning_rate
        ),
        (Backend::Tch, _) => format!(
            "expected in this space: some deep or wide CNNs blow up at learning rate {}",
            config.child.cnn.learning_rate
        ),
        (Backend::Synthetic, _) => {
            "injected by child.synthetic.failure_kind = \"diverged\"".to_string()
        }
        (Backend::Command, _) => "as the trial reported".to_string(),
    };
    format!(
        "diverged: {n} (NaN or infinite loss; {why}); each got reward.failure = {} and the search went on",
        crate::format::reward(config.reward.failure)
    )
}

fn sample(path: &Path, n: usize, seed: Option<u64>, uniform: bool) -> Result<(), CliError> {
    let config = load(path)?;
    let seed = seed.unwrap_or(config.experiment.seed);
    let space = SearchSpace::from_config(&config).map_err(|e| CliError::from_error(2, e))?;
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(actors::replica_seed(seed, 0));
    let samples: Vec<(Vec<usize>, Option<f64>)> = if uniform {
        (0..n)
            .map(|_| (sample_uniform(&schema, &mut rng), None))
            .collect()
    } else {
        let controller = Controller::new(&space.heads(), &config.controller, seed);
        controller
            .sample(&schema, n, &mut rng)
            .into_iter()
            .map(|s| (s.tokens, Some(s.log_prob)))
            .collect()
    };
    for (tokens, log_prob) in samples {
        let arch = space
            .decode(&tokens)
            .map_err(|e| CliError::runtime(format!("sampled tokens do not decode: {e}")))?;
        let hash = arch.hash().map_err(|e| CliError::from_error(1, e))?;
        let line = json!({
            "hash": hash,
            "description": arch.describe(),
            "log_prob": log_prob,
            "tokens": tokens,
            "architecture": arch,
        });
        out(&line.to_string())?;
    }
    Ok(())
}

/// Read an architecture: plain JSON, or a line of `nas-actor sample`.
pub fn read_architecture(path: &Path, space: &SearchSpace) -> Result<Architecture, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
        CliError::input(format!(
            "{}: not valid JSON ({e}); give an architecture as printed by `nas-actor sample`",
            path.display()
        ))
    })?;
    let inner = value.get("architecture").cloned().unwrap_or(value);
    let arch: Architecture = serde_json::from_value(inner).map_err(|e| {
        CliError::input(format!(
            "{}: not an architecture ({e}); give one as printed by `nas-actor sample`",
            path.display()
        ))
    })?;
    space.check(&arch).map_err(|e| {
        CliError::input(format!(
            "{}: {e}; use a config whose [space] matches the architecture",
            path.display()
        ))
    })?;
    Ok(arch)
}

/// A progress bar for one child.
struct BarProgress {
    bar: ProgressBar,
}

impl Progress for BarProgress {
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        self.bar.set_length(batches as u64);
        self.bar.set_position(batch as u64);
        self.bar
            .set_message(format!("epoch {epoch} loss {loss:.4}"));
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.bar.println(format!(
            "epoch {}: validation {:.4}{}, {:.1}s",
            m.epoch,
            m.val_metric,
            crate::format::losses(m.train_loss, m.val_loss),
            m.seconds
        ));
    }
}

fn train(
    path: &Path,
    arch_path: &Path,
    device: Option<&str>,
    epochs: Option<usize>,
    seed: Option<u64>,
) -> Result<(), CliError> {
    let mut config = load(path)?;
    if let Some(e) = epochs {
        if e == 0 {
            return Err(CliError::input("--epochs must be at least 1"));
        }
        config.child.cnn.epochs = e;
        config.child.lm.epochs = e;
        config.reward.accuracy_window = config.reward.accuracy_window.min(e);
    }
    let space = SearchSpace::from_config(&config).map_err(|e| CliError::from_error(2, e))?;
    let arch = read_architecture(arch_path, &space)?;
    let device = super::device::parse_device(device)?;
    let seed = seed.unwrap_or(config.experiment.seed);
    let tokens = space
        .encode(&arch)
        .map_err(|e| CliError::from_error(1, e))?;
    let hash = arch.hash().map_err(|e| CliError::from_error(1, e))?;
    // A child outside a run: id 0, whose derived seed is `seed` itself.
    let spec = ChildSpec::new(seed, 0, 0, 0, tokens, arch.clone(), hash);
    let (config, space) = (Arc::new(config), Arc::new(space));
    let runners = crate::runner::Runners::load(config.clone(), space)
        .map_err(|e| CliError::from_error(2, e))?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40.cyan/blue}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = BarProgress { bar };
    let slot = crate::runner::single_slot(device, 1);
    let outcome = runners.for_slot().run(&spec, &slot, &mut progress);
    progress.bar.finish_and_clear();
    let metric_name = format!("validation_{}", crate::task::Metric::of(&config).name);
    // What was trained: the architecture, or (child.model = "lstm") the LSTM baseline.
    let (hash, description) = match config.child.model {
        ChildModel::Lstm => ("lstm".to_string(), config.child.lm.lstm_description()),
        ChildModel::Searched => (spec.hash.clone(), arch.describe()),
    };
    let line = json!({
        "model": config.child.model,
        "hash": hash,
        "description": description,
        "device": format!("{device:?}"),
        "status": outcome.status,
        "reward": outcome.reward,
        metric_name: outcome.metric,
        "params": outcome.params,
        "seconds": outcome.seconds,
        "epochs": outcome.epochs,
        "message": outcome.message,
    });
    out(&line.to_string())
}

/// Whether CUDA numbers GPUs as NVML does (the binary sets `CUDA_DEVICE_ORDER`
/// unless the environment already has it).
fn device_order() -> String {
    let (name, wanted) = devices::CUDA_DEVICE_ORDER;
    match std::env::var(name) {
        Ok(v) if v == wanted => {
            format!("device order: {name}={v} (cuda:i is gpu i above)")
        }
        Ok(v) => format!(
            "device order: {name}={v}: cuda:i may not be gpu i above; unset it or set {name}={wanted}"
        ),
        Err(_) => format!("device order: {name} is not set: cuda:i may not be gpu i above"),
    }
}

fn show_devices(path: Option<&Path>) -> Result<(), CliError> {
    let discovery = devices::discover();
    match &discovery {
        Discovery::Gpus(gpus) => {
            for g in gpus {
                out(&format!(
                    "gpu {}: {} ({}), memory {:.1}/{:.1} GiB, utilisation {}%",
                    g.index,
                    g.name,
                    g.pci_bus_id,
                    g.memory_used as f64 / 1073741824.0,
                    g.memory_total as f64 / 1073741824.0,
                    g.utilization
                ))?;
            }
        }
        Discovery::None(notice) => out(notice)?,
    }
    out(&device_order())?;
    out(&format!(
        "libtorch: CUDA {}",
        if tch::Cuda::is_available() {
            format!("available, {} device(s)", tch::Cuda::device_count())
        } else {
            "not available".to_string()
        }
    ))?;
    if let Some(p) = path {
        let config = load(p)?;
        if config.launcher.kind == crate::config::LauncherKind::Slurm {
            let slurm = crate::runner::slurm::SlurmLauncher::from_env(&config)
                .map_err(|e| CliError::from_error(2, e))?;
            out(&slurm.notice())?;
            out(&format!(
                "{}: {} slot(s), each a job step: {}",
                p.display(),
                slurm.slots().len(),
                slurm
                    .wrap_named(
                        "nas-child-ID",
                        vec!["nas-actor".into(), "child".into(), "FILE".into()]
                    )
                    .into_iter()
                    .take_while(|a| a != "--")
                    .collect::<Vec<_>>()
                    .join(" ")
            ))?;
            for s in slurm.slots() {
                out(&format!(
                    "  slot {}: {} ({} CPU(s))",
                    s.id, s.label, s.threads
                ))?;
            }
            return Ok(());
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (slots, notice) = devices::assign_slots(&config.devices, &discovery, cores)
            .map_err(|e| CliError::from_error(2, e))?;
        if let Some(n) = notice {
            out(&n)?;
        }
        out(&format!("{}: {} trainer slot(s)", p.display(), slots.len()))?;
        for s in slots {
            out(&format!(
                "  slot {}: {} ({} thread(s))",
                s.id, s.label, s.threads
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::divergence_note;

    #[test]
    fn the_divergence_note_names_what_made_the_cells_blow_up() {
        let config = |weights: &str| {
            let text = format!(
                "[experiment]\nname = \"d\"\noutput_dir = \"runs/d\"\nbudget = 8\n\
                 [search]\nspace = \"cell\"\nweights = \"{weights}\"\n\
                 [data]\ndataset = \"ptb\"\ndir = \"data/ptb\"\n"
            );
            crate::config::Config::from_toml(&text, std::path::Path::new("d.toml"))
                .expect("the config")
        };
        let own = divergence_note(&config("independent"), 3);
        assert!(own.starts_with("diverged: 3 "), "{own}");
        assert!(own.contains("at learning rate"), "{own}");
        let shared = divergence_note(&config("shared"), 2);
        assert!(shared.contains("under the shared weights"), "{shared}");
        assert!(!shared.contains("learning rate"), "{shared}");
    }
}
