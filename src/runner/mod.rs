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

pub mod child_file;
pub mod launcher;
pub mod pool;
pub mod protocol;
pub mod slurm;
mod synthetic;
mod tch_runner;

use std::sync::Arc;

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

/// What a run's runners share, and which runner `child.backend` names.
#[derive(Clone)]
pub struct Runners {
    config: Arc<Config>,
    space: Arc<SearchSpace>,
    /// The task's data, loaded once and shared by every slot (tch only).
    data: Option<Arc<TaskData>>,
}

impl Runners {
    /// Runners for `config`: loads the task's data when its backend needs it.
    pub fn load(config: Arc<Config>, space: Arc<SearchSpace>) -> Result<Runners, DataError> {
        let data = match config.child.backend {
            Backend::Synthetic => None,
            Backend::Tch => Some(Arc::new(crate::data::load(
                &config.data,
                config.experiment.seed,
            )?)),
        };
        Ok(Runners {
            config,
            space,
            data,
        })
    }

    /// A runner for one slot.
    pub fn for_slot(&self) -> Box<dyn ChildRunner> {
        match &self.data {
            Some(data) => Box::new(TchRunner::new(self.config.clone(), data.clone())),
            None => Box::new(SyntheticRunner::new(
                self.config.clone(),
                self.space.clone(),
            )),
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
