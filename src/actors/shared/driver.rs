//! The start of a shared-weights search (see the module above): open or
//! resume the run, build the supernet and the controller (from the
//! checkpoint on resume), run the [`Search`], and write the summary.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Device;

use super::checkpoint::{self, Counters, SharedCheckpoint};
use super::progress::{Pace, Progress};
use super::search::{decode, Search, Stop};
use crate::actors::recorder::Summary;
use crate::actors::{resume, RunError, RunOptions};
use crate::child::supernet::Omega;
use crate::config::Config;
use crate::controller::Reinforce;
use crate::devices::SlotDevice;
use crate::space::{sample_uniform, Schema, SearchSpace};
use crate::store::{ChildRecord, JsonlAppender};

/// Run (or resume) the shared-weights search `config` describes.
pub fn run(config: Config, options: &RunOptions) -> Result<Summary, RunError> {
    let started = Instant::now();
    let space = match &options.space {
        Some(s) => s.clone(),
        None => SearchSpace::from_config(&config).map_err(RunError::Space)?,
    };
    let seed = config.experiment.seed;
    let data = crate::data::load(&config.data, seed)
        .map_err(|e| RunError::Input(format!("cannot load the data: {e}")))?;
    let launcher = crate::runner::Launcher::for_config(&config).map_err(RunError::Launcher)?;
    let slots = launcher.slots();
    let slot = slots
        .first()
        .cloned()
        .ok_or_else(|| RunError::Runtime("no slot to train the supernet on".into()))?;
    let mut notices: Vec<String> = launcher.notice().into_iter().collect();
    if slots.len() > 1 {
        notices.push(format!(
            "shared weights: one supernet on {}; the other {} slot(s) stay idle",
            slot.label,
            slots.len() - 1
        ));
    }
    let device = match slot.device {
        SlotDevice::Cpu => Device::Cpu,
        SlotDevice::Cuda(i) => Device::Cuda(i),
    };
    tch::set_num_threads(slot.threads.max(1) as i32);

    let heads = space.heads();
    let lr = config.controller_learning_rate();
    let mut learner = Reinforce::new(&heads, &config.controller, lr, seed);
    let params = learner.controller.num_params();
    let opened = resume::open_with(&config, &space, options.resume, |dir| {
        let ck: Option<SharedCheckpoint> = dir.read_checkpoint().map_err(RunError::RunDir)?;
        if let Some(c) = &ck {
            if c.controller.len() != params {
                return Err(RunError::Input(format!(
                    "{}: the checkpoint holds {} controller parameters, this config's controller has {params}; resume with the run's own config",
                    dir.checkpoint_path().display(),
                    c.controller.len()
                )));
            }
        }
        Ok((ck.clone(), ck.map_or(0, |c| c.progress.updates)))
    })?;
    let _lock = opened.lock;
    let run_dir = opened.run_dir;
    notices.extend(opened.notices);

    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::replica(seed, 0));
    let first = decode(&space, &sample_uniform(&schema, &mut rng.clone()))?;
    let mut net = Omega::new(&config, data, &first, device, seed)
        .map_err(|e| RunError::Input(format!("cannot build the supernet: {e}")))?;
    let mut counters = Counters {
        round: 0,
        omega_in_round: 0,
        omega_steps: 0,
        children: 0,
        updates: 0,
        valid_cursor: 0,
        omega_loss: f64::NAN,
        probe: None,
    };
    if let Some(ck) = opened.checkpoint {
        let omega =
            checkpoint::read_omega(&run_dir, ck.progress.omega_steps).map_err(RunError::RunDir)?;
        net.restore(&omega)
            .map_err(|e| RunError::Input(format!("cannot restore the supernet: {e}")))?;
        learner
            .controller
            .set_flat_params(&ck.controller)
            .map_err(|e| RunError::Input(format!("cannot restore the controller: {e}")))?;
        learner.adam = ck.adam;
        learner.state = ck.learner;
        rng = ck.rng;
        counters = ck.progress;
        let mut line = format!(
            "resume: {} children recorded, θ version {}, ω step {}",
            opened.records.len(),
            counters.updates,
            counters.omega_steps
        );
        if let Some((tokens, loss)) = &counters.probe {
            let arch = decode(&space, tokens)?;
            let again = net
                .score(&arch, 0, 1)
                .map_err(|e| RunError::Runtime(format!("the supernet: {e}")))?
                .loss;
            line += &format!(", ω's probe loss {again:.6} (checkpoint: {loss:.6})");
        }
        notices.push(line);
    } else {
        counters.probe = Some((first_tokens(&schema, seed), 0.0));
    }

    let updates_log =
        JsonlAppender::open(&run_dir.file(crate::store::UPDATES_FILE)).map_err(|source| {
            RunError::Write {
                what: "the controller update log",
                source,
            }
        })?;
    let budget = config.experiment.budget as u64;
    let progress = Progress::new(
        &config.experiment.name,
        budget,
        counters.children.min(budget),
    );
    for n in &notices {
        progress.notice(n);
    }
    let (done, pending): (Vec<ChildRecord>, Vec<ChildRecord>) = opened
        .records
        .into_iter()
        .partition(|r| r.spec.id < counters.children);
    if let Some(i) = &options.interrupter {
        i.listen(true);
    }
    let mut search = Search {
        config: &config,
        space: &space,
        schema,
        net,
        learner,
        rng,
        c: counters,
        run_dir,
        updates_log,
        pending: pending.into_iter().map(|r| (r.spec.id, r)).collect(),
        records: done,
        slot: slot.label.clone(),
        progress,
        pace: Pace::default(),
        options,
        recorded_here: 0,
        loss_window: (0.0, 0),
    };
    let outcome = search.search();
    if let Some(i) = &options.interrupter {
        i.listen(false);
    }
    search.progress.finish();
    let interrupted = matches!(outcome, Err(Stop::Interrupted));
    let summary = search.summary(started.elapsed().as_secs_f64(), interrupted);
    let _ = search.run_dir.write_json("summary.json", &summary);
    match outcome {
        Ok(()) => Ok(summary),
        Err(Stop::Interrupted) => Err(RunError::Interrupted(Box::new(summary))),
        Err(Stop::Error(e)) => Err(e),
    }
}

/// The tokens of the probe architecture: the first uniform draw of a seed of its own.
fn first_tokens(schema: &Schema, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::proposal(seed, u64::MAX));
    sample_uniform(schema, &mut rng)
}
