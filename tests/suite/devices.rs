//! Tests of `devices`: slot assignment for every `devices.gpus` form with
//! made-up GPUs (all, none, least loaded N, lists, bad ids, too many, no
//! GPU), CUDA_VISIBLE_DEVICES renumbering, and that discovery never panics.

use nas_actor::config::{DevicesConfig, GpuSelection};
use nas_actor::devices::{
    apply_visible_devices, assign_slots, discover, DeviceError, Discovery, GpuInfo, GpuMonitor,
    Slot, SlotDevice,
};

const GIB: u64 = 1 << 30;

/// GPU `index` with `used` GiB in use and `util` % utilisation.
fn gpu(index: usize, used: u64, util: u32) -> GpuInfo {
    GpuInfo {
        index,
        name: "Fake H200".into(),
        memory_total: 141 * GIB,
        memory_used: used * GIB,
        utilization: util,
        pci_bus_id: format!("00000000:{:02X}:00.0", 0x10 + index),
    }
}

fn four_gpus() -> Discovery {
    Discovery::Gpus(vec![
        gpu(0, 40, 90),
        gpu(1, 2, 50),
        gpu(2, 2, 10),
        gpu(3, 0, 99),
    ])
}

fn cfg(gpus: GpuSelection, per_gpu: usize, cpu_workers: usize) -> DevicesConfig {
    DevicesConfig {
        gpus,
        children_per_gpu: per_gpu,
        cpu_workers,
        threads_per_worker: None,
    }
}

fn named(s: &str) -> GpuSelection {
    GpuSelection::Named(s.into())
}

fn assign(c: &DevicesConfig, d: &Discovery, cores: usize) -> (Vec<Slot>, Option<String>) {
    match assign_slots(c, d, cores) {
        Ok(v) => v,
        Err(e) => panic!("unexpected device error: {e}"),
    }
}

fn labels(slots: &[Slot]) -> Vec<String> {
    slots.iter().map(|s| s.label.clone()).collect()
}

#[test]
fn all_uses_every_gpu_times_children_per_gpu_interleaved() {
    let (slots, notice) = assign(&cfg(named("all"), 2, 1), &four_gpus(), 16);
    assert_eq!(notice, None);
    assert_eq!(
        labels(&slots),
        [
            "cuda:0#0", "cuda:1#0", "cuda:2#0", "cuda:3#0", "cuda:0#1", "cuda:1#1", "cuda:2#1",
            "cuda:3#1"
        ]
    );
    assert_eq!(slots[5].device, SlotDevice::Cuda(1));
    let ids: Vec<usize> = slots.iter().map(|s| s.id).collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert!(slots.iter().all(|s| s.threads == 2), "16 cores / 8 slots");
}

#[test]
fn none_gives_cpu_slots_with_split_threads() {
    let (slots, notice) = assign(&cfg(named("none"), 1, 3), &four_gpus(), 8);
    assert_eq!(notice, None);
    assert_eq!(labels(&slots), ["cpu#0", "cpu#1", "cpu#2"]);
    assert!(slots
        .iter()
        .all(|s| s.device == SlotDevice::Cpu && s.threads == 2));
    // Never fewer than one thread; an explicit count wins.
    let (slots, _) = assign(&cfg(named("none"), 1, 4), &four_gpus(), 2);
    assert!(slots.iter().all(|s| s.threads == 1));
    let mut c = cfg(named("none"), 1, 2);
    c.threads_per_worker = Some(5);
    let (slots, _) = assign(&c, &four_gpus(), 2);
    assert!(slots.iter().all(|s| s.threads == 5));
    // A count of 0 means no GPU.
    let (slots, _) = assign(&cfg(GpuSelection::Count(0), 1, 1), &four_gpus(), 4);
    assert_eq!(labels(&slots), ["cpu#0"]);
}

#[test]
fn count_picks_the_least_loaded_gpus() {
    // Memory used first (3 has 0 GiB), then utilisation (2 before 1), then index.
    let (slots, _) = assign(&cfg(GpuSelection::Count(2), 1, 1), &four_gpus(), 8);
    assert_eq!(labels(&slots), ["cuda:2#0", "cuda:3#0"]);
    let (slots, _) = assign(&cfg(GpuSelection::Count(3), 1, 1), &four_gpus(), 8);
    assert_eq!(labels(&slots), ["cuda:1#0", "cuda:2#0", "cuda:3#0"]);
    let tied = Discovery::Gpus(vec![gpu(0, 1, 0), gpu(1, 1, 0), gpu(2, 1, 0)]);
    let (slots, _) = assign(&cfg(GpuSelection::Count(2), 1, 1), &tied, 8);
    assert_eq!(labels(&slots), ["cuda:0#0", "cuda:1#0"]);
}

#[test]
fn list_uses_exactly_those_gpus_and_names_a_bad_id() {
    let (slots, _) = assign(&cfg(GpuSelection::List(vec![3, 1]), 1, 1), &four_gpus(), 8);
    assert_eq!(labels(&slots), ["cuda:1#0", "cuda:3#0"]);
    let err =
        assign_slots(&cfg(GpuSelection::List(vec![1, 7]), 1, 1), &four_gpus(), 8).unwrap_err();
    assert!(matches!(err, DeviceError::UnknownGpu { id: 7, .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("GPU 7") && msg.contains("GPU 0 (Fake H200)") && msg.contains("GPU 3"),
        "{msg}"
    );
}

#[test]
fn asking_for_more_gpus_than_exist_is_an_error() {
    let err = assign_slots(&cfg(GpuSelection::Count(5), 1, 1), &four_gpus(), 8).unwrap_err();
    assert!(matches!(
        err,
        DeviceError::TooMany {
            asked: 5,
            present: 4,
            ..
        }
    ));
    assert!(
        err.to_string().contains("asks for 5 GPUs but only 4"),
        "{err}"
    );
}

#[test]
fn no_gpu_falls_back_to_cpu_for_all_and_errors_for_explicit_choices() {
    let none =
        Discovery::None("no NVIDIA driver (libnvidia-ml.so not found): training on CPU".into());
    let (slots, notice) = assign(&cfg(named("all"), 2, 2), &none, 4);
    assert_eq!(labels(&slots), ["cpu#0", "cpu#1"]);
    assert_eq!(
        notice.as_deref(),
        Some("no NVIDIA driver (libnvidia-ml.so not found): training on CPU")
    );
    // NVML ran but listed nothing: same fallback.
    let (slots, notice) = assign(&cfg(named("all"), 1, 1), &Discovery::Gpus(vec![]), 4);
    assert_eq!(labels(&slots), ["cpu#0"]);
    assert!(notice.is_some());

    let err = assign_slots(&cfg(GpuSelection::Count(2), 1, 1), &none, 4).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("devices.gpus asks for 2 GPUs but none is present"),
        "{msg}"
    );
    assert!(msg.contains("set devices.gpus = \"none\""), "{msg}");
    assert!(msg.contains("libnvidia-ml.so"), "{msg}");
    let err = assign_slots(&cfg(GpuSelection::List(vec![0]), 1, 1), &none, 4).unwrap_err();
    assert!(matches!(err, DeviceError::NoGpu { .. }), "{err}");
}

#[test]
fn invalid_selections_are_errors() {
    let err = assign_slots(&cfg(named("some"), 1, 1), &four_gpus(), 4).unwrap_err();
    assert!(err.to_string().contains("\"some\""), "{err}");
    let err = assign_slots(&cfg(named("all"), 0, 1), &four_gpus(), 4).unwrap_err();
    assert!(
        err.to_string().contains("devices.children_per_gpu"),
        "{err}"
    );
}

#[test]
fn cuda_visible_devices_filters_and_renumbers() {
    let gpus = vec![gpu(0, 0, 0), gpu(1, 0, 0), gpu(2, 0, 0), gpu(3, 0, 0)];
    let v = apply_visible_devices(gpus.clone(), "2, 0");
    let pairs: Vec<(usize, String)> = v.iter().map(|g| (g.index, g.pci_bus_id.clone())).collect();
    assert_eq!(
        pairs,
        [(0, gpu(2, 0, 0).pci_bus_id), (1, gpu(0, 0, 0).pci_bus_id)]
    );
    assert!(apply_visible_devices(gpus.clone(), "").is_empty());
    // CUDA stops at the first invalid index.
    assert_eq!(apply_visible_devices(gpus.clone(), "1,-1,2").len(), 1);
    assert_eq!(apply_visible_devices(gpus.clone(), "1,9,2").len(), 1);
    // UUIDs are not understood: the list is left as NVML gave it.
    assert_eq!(apply_visible_devices(gpus.clone(), "GPU-8f2c"), gpus);
}

#[test]
fn discovery_never_panics_and_agrees_with_monitor() {
    let found = discover();
    let monitor = GpuMonitor::new();
    match &found {
        Discovery::None(notice) => {
            eprintln!("discovery: {notice}");
            assert!(notice.contains("training on CPU"), "{notice}");
            assert!(!notice.contains('\n'), "one line: {notice}");
            // Whatever discovery saw, "all" still yields slots.
            let (slots, n) = assign(&cfg(named("all"), 1, 1), &found, 2);
            assert_eq!(labels(&slots), ["cpu#0"]);
            assert_eq!(n.as_deref(), Some(notice.as_str()));
        }
        Discovery::Gpus(gpus) => {
            assert!(!gpus.is_empty());
            let m = monitor
                .as_ref()
                .expect("NVML started once, so it starts again");
            assert_eq!(m.sample().len(), gpus.len());
            eprintln!("discovered: {gpus:?}");
        }
    }
}
