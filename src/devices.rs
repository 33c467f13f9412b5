//! Device discovery with NVML (loaded at run time) and trainer-slot assignment,
//! with a CPU fallback when there is no NVIDIA driver or device.
//!
//! [`discover`] opens `libnvidia-ml.so` with `dlopen` (nvml-wrapper uses
//! libloading), so the binary starts on machines without any NVIDIA driver;
//! it never panics. [`assign_slots`] is pure: it turns `[devices]` and a
//! [`Discovery`] into trainer [`Slot`]s and can be tested with made-up GPUs.
//!
//! # Device order
//! NVML numbers GPUs in PCI bus order; CUDA's default order is "fastest
//! first". The binary therefore sets [`CUDA_DEVICE_ORDER`]
//! (`CUDA_DEVICE_ORDER=PCI_BUS_ID`) in its environment before anything
//! initialises CUDA, so that NVML's index `i` is CUDA's `cuda:i`. When
//! `CUDA_VISIBLE_DEVICES` lists GPU indices, [`discover`] keeps only those
//! GPUs and renumbers them as CUDA will see them.

use serde::Serialize;

use crate::config::{DevicesConfig, GpuSelection};

/// The environment variable (and value) that makes CUDA number GPUs as NVML does.
pub const CUDA_DEVICE_ORDER: (&str, &str) = ("CUDA_DEVICE_ORDER", "PCI_BUS_ID");

/// One GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    /// The CUDA device index (NVML's index, in PCI bus order).
    pub index: usize,
    pub name: String,
    /// Bytes of device memory.
    pub memory_total: u64,
    /// Bytes in use (by any process).
    pub memory_used: u64,
    /// Percent of the last sample period a kernel was running.
    pub utilization: u32,
    /// e.g. `00000000:3B:00.0`.
    pub pci_bus_id: String,
}

/// What discovery found: GPUs, or why there are none (a one-line notice).
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery {
    Gpus(Vec<GpuInfo>),
    None(String),
}

/// Where a trainer slot trains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SlotDevice {
    Cpu,
    /// A CUDA device index.
    Cuda(usize),
}

/// One trainer slot: one child at a time on one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    /// 0-based, in the order trainers are started.
    pub id: usize,
    pub device: SlotDevice,
    /// Torch intra-op threads for this slot.
    pub threads: usize,
    /// e.g. `cuda:0#1` (second slot on GPU 0) or `cpu#0`.
    pub label: String,
}

/// A `[devices]` selection that the machine cannot satisfy.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("devices.gpus asks for {asked} but none is present ({reason}): set devices.gpus = \"none\" to train on CPU")]
    NoGpu { asked: String, reason: String },
    #[error("devices.gpus asks for {asked} GPUs but only {present} present ({list}): ask for at most {present}, or \"all\"")]
    TooMany {
        asked: usize,
        present: usize,
        list: String,
    },
    #[error("devices.gpus lists GPU {id}, which does not exist; this machine has {list}")]
    UnknownGpu { id: usize, list: String },
    #[error("devices.gpus = \"{0}\" is not a GPU selection: use \"all\", \"none\", a count such as 2, or a list of ids such as [0, 1]")]
    BadSelection(String),
    #[error("{key} is 0: it must be at least 1")]
    Zero { key: &'static str },
}

/// Find NVIDIA GPUs with NVML; never panics and never fails.
pub fn discover() -> Discovery {
    let found = std::panic::catch_unwind(|| {
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => n,
            Err(e) => return Discovery::None(init_notice(&e)),
        };
        let gpus = query(&nvml);
        let gpus = match std::env::var("CUDA_VISIBLE_DEVICES") {
            Ok(v) => apply_visible_devices(gpus, &v),
            Err(_) => gpus,
        };
        if gpus.is_empty() {
            Discovery::None("NVML found no GPU: training on CPU".into())
        } else {
            Discovery::Gpus(gpus)
        }
    });
    found.unwrap_or_else(|_| {
        Discovery::None("NVML panicked while listing GPUs: training on CPU".into())
    })
}

/// The one-line notice for an NVML that did not start.
fn init_notice(e: &nvml_wrapper::error::NvmlError) -> String {
    use nvml_wrapper::error::NvmlError;
    match e {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
            "no NVIDIA driver (libnvidia-ml.so not found): training on CPU".into()
        }
        NvmlError::DriverNotLoaded => {
            "the NVIDIA driver is not loaded (NVML: driver not loaded): training on CPU".into()
        }
        other => format!("NVML did not start ({other}): training on CPU"),
    }
}

/// Every GPU NVML can open, with its current memory use and utilisation
/// (fields NVML cannot read are 0 or empty; a GPU it cannot open is skipped).
fn query(nvml: &nvml_wrapper::Nvml) -> Vec<GpuInfo> {
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            let memory = d.memory_info().ok();
            Some(GpuInfo {
                index: i as usize,
                name: d.name().unwrap_or_else(|_| "unknown GPU".into()),
                memory_total: memory.as_ref().map_or(0, |m| m.total),
                memory_used: memory.as_ref().map_or(0, |m| m.used),
                utilization: d.utilization_rates().map_or(0, |u| u.gpu),
                pci_bus_id: d.pci_info().map(|p| p.bus_id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Keep the GPUs `CUDA_VISIBLE_DEVICES` lists (by NVML index), renumbered
/// 0.. in its order, as CUDA will number them. A value that is not a list
/// of indices (UUIDs, MIG names) leaves the list unchanged.
pub fn apply_visible_devices(gpus: Vec<GpuInfo>, value: &str) -> Vec<GpuInfo> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    let Ok(ids) = value
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
    else {
        return gpus;
    };
    let mut visible = Vec::new();
    for id in ids {
        // CUDA stops at the first index that does not exist.
        let Some(g) = gpus.iter().find(|g| i64::try_from(g.index) == Ok(id)) else {
            break;
        };
        visible.push(GpuInfo {
            index: visible.len(),
            ..g.clone()
        });
    }
    visible
}

/// Turn `[devices]` and what discovery found into trainer slots.
///
/// - `"all"`: every GPU × `children_per_gpu`; no GPU → CPU slots and the
///   discovery notice (never an error);
/// - `"none"` or `0`: `cpu_workers` CPU slots;
/// - a count N: the N least loaded GPUs (by memory used, then utilisation,
///   then index);
/// - a list of ids: those GPUs.
///
/// GPU slots are interleaved (`cuda:0#0, cuda:1#0, cuda:0#1, ...`) so that
/// trainers started in order spread over the GPUs. A CPU slot gets
/// `threads_per_worker` threads, else `max(1, cores / cpu_workers)`; a GPU
/// slot gets `threads_per_worker`, else `max(1, cores / gpu slots)`.
pub fn assign_slots(
    cfg: &DevicesConfig,
    discovery: &Discovery,
    cores: usize,
) -> Result<(Vec<Slot>, Option<String>), DeviceError> {
    if cfg.cpu_workers == 0 {
        return Err(DeviceError::Zero {
            key: "devices.cpu_workers",
        });
    }
    if cfg.children_per_gpu == 0 {
        return Err(DeviceError::Zero {
            key: "devices.children_per_gpu",
        });
    }
    let (gpus, reason): (&[GpuInfo], &str) = match discovery {
        Discovery::Gpus(g) => (g, "NVML found no GPU"),
        Discovery::None(notice) => (&[], notice),
    };
    let cpu = || (cpu_slots(cfg, cores), None);
    let chosen: Vec<usize> = match &cfg.gpus {
        GpuSelection::Named(s) if s == "none" => return Ok(cpu()),
        GpuSelection::Named(s) if s == "all" => {
            if gpus.is_empty() {
                return Ok((cpu_slots(cfg, cores), Some(reason.to_string())));
            }
            gpus.iter().map(|g| g.index).collect()
        }
        GpuSelection::Named(s) => return Err(DeviceError::BadSelection(s.clone())),
        GpuSelection::Count(0) => return Ok(cpu()),
        GpuSelection::Count(n) => {
            check_present(
                gpus,
                &format!("{n} GPU{}", if *n == 1 { "" } else { "s" }),
                reason,
            )?;
            if *n > gpus.len() {
                return Err(DeviceError::TooMany {
                    asked: *n,
                    present: gpus.len(),
                    list: list(gpus),
                });
            }
            let mut by_load: Vec<&GpuInfo> = gpus.iter().collect();
            by_load.sort_by_key(|g| (g.memory_used, g.utilization, g.index));
            by_load.iter().take(*n).map(|g| g.index).collect()
        }
        GpuSelection::List(ids) => {
            let asked = format!("GPUs {ids:?}");
            check_present(gpus, &asked, reason)?;
            for &id in ids {
                if !gpus.iter().any(|g| g.index == id) {
                    return Err(DeviceError::UnknownGpu {
                        id,
                        list: list(gpus),
                    });
                }
            }
            ids.clone()
        }
    };
    let mut chosen = chosen;
    chosen.sort_unstable();
    chosen.dedup();
    let total = chosen.len() * cfg.children_per_gpu;
    let threads = cfg
        .threads_per_worker
        .unwrap_or_else(|| (cores / total.max(1)).max(1));
    let mut slots = Vec::with_capacity(total);
    for k in 0..cfg.children_per_gpu {
        for &gpu in &chosen {
            slots.push(Slot {
                id: slots.len(),
                device: SlotDevice::Cuda(gpu),
                threads,
                label: format!("cuda:{gpu}#{k}"),
            });
        }
    }
    Ok((slots, None))
}

/// `cpu_workers` CPU slots.
fn cpu_slots(cfg: &DevicesConfig, cores: usize) -> Vec<Slot> {
    let threads = cfg
        .threads_per_worker
        .unwrap_or_else(|| (cores / cfg.cpu_workers).max(1));
    (0..cfg.cpu_workers)
        .map(|k| Slot {
            id: k,
            device: SlotDevice::Cpu,
            threads,
            label: format!("cpu#{k}"),
        })
        .collect()
}

/// An explicit GPU selection needs GPUs.
fn check_present(gpus: &[GpuInfo], asked: &str, reason: &str) -> Result<(), DeviceError> {
    if gpus.is_empty() {
        return Err(DeviceError::NoGpu {
            asked: asked.to_string(),
            reason: reason.trim_end_matches(": training on CPU").to_string(),
        });
    }
    Ok(())
}

/// e.g. `GPU 0 (NVIDIA H200), GPU 1 (NVIDIA H200)`.
fn list(gpus: &[GpuInfo]) -> String {
    if gpus.is_empty() {
        return "no GPU".into();
    }
    let items: Vec<String> = gpus
        .iter()
        .map(|g| format!("GPU {} ({})", g.index, g.name))
        .collect();
    items.join(", ")
}

/// Samples GPU memory and utilisation while a search runs.
pub struct GpuMonitor {
    nvml: nvml_wrapper::Nvml,
}

impl GpuMonitor {
    /// `None` when NVML cannot start (no driver): there is nothing to monitor.
    pub fn new() -> Option<GpuMonitor> {
        nvml_wrapper::Nvml::init()
            .ok()
            .map(|nvml| GpuMonitor { nvml })
    }

    /// Current state of every GPU, numbered as [`discover`] numbers them.
    pub fn sample(&self) -> Vec<GpuInfo> {
        let gpus = query(&self.nvml);
        match std::env::var("CUDA_VISIBLE_DEVICES") {
            Ok(v) => apply_visible_devices(gpus, &v),
            Err(_) => gpus,
        }
    }
}
