//! Link-time settings for libtorch from the PyTorch wheel.
//!
//! Two traps are handled here (see README "How libtorch is linked"):
//! 1. The binaries get an rpath to the wheel's `torch/lib`, so they start
//!    without LD_LIBRARY_PATH.
//! 2. When that libtorch ships `libtorch_cuda.so`, it is linked with
//!    `--no-as-needed`: the default `--as-needed` drops it (nothing references
//!    its symbols directly) and CUDA would then be silently unavailable.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(root) = env::var("LIBTORCH") {
        return Some(PathBuf::from(root).join("lib"));
    }
    // The same interpreter torch-sys asks: `python` inside a virtual environment, else `python3`.
    let python = if env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    Some(PathBuf::from(dir))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(lib) = torch_lib_dir() else {
        println!(
            "cargo:warning=could not locate torch/lib; run `make setup` (creates .venv with torch==2.13.0)"
        );
        return;
    };
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=NAS_ACTOR_TORCH_LIB={}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
        println!("cargo:rustc-cfg=torch_has_cuda");
    }
    println!("cargo::rustc-check-cfg=cfg(torch_has_cuda)");
}
