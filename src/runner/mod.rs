//! Runners: the layer between what trains a child ([`crate::child`] for tch
//! models, [`crate::synthetic`] for the synthetic landscape) and what hands
//! children out ([`crate::actors`] for the search, [`crate::post`] for
//! retraining and `nas-actor train`).
//!
//! A [`ChildRunner`] turns a [`ChildSpec`] into a [`ChildOutcome`] on one
//! slot, reporting progress and polling cancellation through
//! [`Progress`]; it never panics. [`Runners`] picks the implementation from
//! `child.backend`, the one place that does: [`TchRunner`] trains a tch
//! model in this process, [`SyntheticRunner`] evaluates the synthetic
//! landscape. [`pool`] runs a runner per slot on its own thread, for the
//! search and for retraining alike.

pub mod command;
pub mod launcher;
pub mod pool;
mod synthetic;
mod tch_runner;

use std::sync::Arc;

pub use command::{CommandRunner, CommandShared, PreflightError};
pub use launcher::Launcher;
pub use synthetic::SyntheticRunner;
pub use tch_runner::TchRunner;

use crate::child::{ChildOutcome, ChildSpec, Progress};
use crate::config::{Backend, Config};
use crate::data::{DataError, TaskData};
use crate::devices::{Slot, SlotDevice};
use crate::space::SearchSpace;

/// Trains (or evaluates) one child at a time on a slot.
pub trait ChildRunner: Send {
    /// Once, on the slot's own thread, before its first child (e.g. the
    /// torch thread count of a CPU slot).
    fn start(&mut self, _slot: &Slot) {}

    /// Train `spec` on `slot`; errors, panics and cancellation become the
    /// outcome's status. Never panics.
    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome;
}

impl ChildRunner for Box<dyn ChildRunner> {
    fn start(&mut self, slot: &Slot) {
        (**self).start(slot)
    }

    fn run(&mut self, spec: &ChildSpec, slot: &Slot, progress: &mut dyn Progress) -> ChildOutcome {
        (**self).run(spec, slot, progress)
    }
}

/// Why a run's runners cannot be set up (bad input: exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Command(#[from] PreflightError),
}

/// What trains a run's children, loaded once and shared by every slot.
#[derive(Clone)]
enum Kind {
    /// The task's data, for tch children.
    Tch(Arc<TaskData>),
    Synthetic,
    /// The checked trial command and the run's process watchdog.
    Command(Arc<CommandShared>),
}

/// What a run's runners share, and which runner `child.backend` names.
#[derive(Clone)]
pub struct Runners {
    config: Arc<Config>,
    space: Arc<SearchSpace>,
    kind: Kind,
}

impl Runners {
    /// Runners for `config`: loads the task's data, or checks the trial
    /// command, when its backend needs it.
    pub fn load(config: Arc<Config>, space: Arc<SearchSpace>) -> Result<Runners, RunnerError> {
        let kind = match config.child.backend {
            Backend::Synthetic => Kind::Synthetic,
            Backend::Tch => Kind::Tch(Arc::new(crate::data::load(
                &config.data,
                config.experiment.seed,
            )?)),
            Backend::Command => Kind::Command(Arc::new(CommandShared::new(config.clone())?)),
        };
        Ok(Runners {
            config,
            space,
            kind,
        })
    }

    /// A runner for one slot.
    pub fn for_slot(&self) -> Box<dyn ChildRunner> {
        match &self.kind {
            Kind::Tch(data) => Box::new(TchRunner::new(self.config.clone(), data.clone())),
            Kind::Synthetic => Box::new(SyntheticRunner::new(
                self.config.clone(),
                self.space.clone(),
            )),
            Kind::Command(shared) => Box::new(CommandRunner::new(shared.clone())),
        }
    }
}

/// The tch device of a slot.
pub fn tch_device(device: &SlotDevice) -> tch::Device {
    match device {
        SlotDevice::Cpu => tch::Device::Cpu,
        SlotDevice::Cuda(i) => tch::Device::Cuda(*i),
    }
}

/// The one slot of a tch `device` (`nas-actor train`, `retrain --device`),
/// labelled `cpu` or `cuda:N`, with `threads` torch threads on a CPU.
pub fn single_slot(device: tch::Device, threads: usize) -> Slot {
    let (device, label) = match device {
        tch::Device::Cuda(i) => (SlotDevice::Cuda(i), format!("cuda:{i}")),
        _ => (SlotDevice::Cpu, "cpu".to_string()),
    };
    Slot {
        id: 0,
        device,
        threads,
        label,
    }
}
