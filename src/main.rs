//! The `nas-actor` binary: parse, run, print the error, exit with its code.

use clap::Parser;
use nas_actor::cli::{dispatch, Cli};

/// oneDNN (libtorch's CPU convolutions) keeps one compiled primitive per
/// convolution shape, 1024 by default; a search meets a new shape with
/// nearly every architecture, and in a shared-weights CNN search the cache
/// alone grew the process by about 1 GB (BENCHMARKS.md §9 (c)). 64 holds
/// the shapes of the children that train at once.
const ONEDNN_CACHE: (&str, &str) = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64");

fn main() {
    // CUDA must number devices as NVML does (PCI bus order); both are read
    // when CUDA or oneDNN initialise, so they are set first; a value the
    // user set wins.
    for (key, value) in [nas_actor::devices::CUDA_DEVICE_ORDER, ONEDNN_CACHE] {
        if std::env::var_os(key).is_none() {
            std::env::set_var(key, value);
        }
    }
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.command) {
        for line in e.lines() {
            eprintln!("{line}");
        }
        std::process::exit(e.code);
    }
}
