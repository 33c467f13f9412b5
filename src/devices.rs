//! Device discovery with NVML (loaded at run time) and trainer-slot assignment,
//! with a CPU fallback when there is no NVIDIA driver or device.
