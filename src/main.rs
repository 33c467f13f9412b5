//! The `nas-actor` binary: parse, run, print the error, exit with its code.

use clap::Parser;
use nas_actor::cli::{dispatch, Cli};

fn main() {
    // CUDA must number devices as NVML does (PCI bus order); set before CUDA initialises.
    if std::env::var_os(nas_actor::devices::CUDA_DEVICE_ORDER.0).is_none() {
        std::env::set_var(
            nas_actor::devices::CUDA_DEVICE_ORDER.0,
            nas_actor::devices::CUDA_DEVICE_ORDER.1,
        );
    }
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.command) {
        for line in e.lines() {
            eprintln!("{line}");
        }
        std::process::exit(e.code);
    }
}
