//! The `--device` argument of `train` and `retrain`.

use super::CliError;

/// Parse `cpu` or `cuda:N`.
pub fn parse_device(s: Option<&str>) -> Result<tch::Device, CliError> {
    match s {
        None => Ok(tch::Device::cuda_if_available()),
        Some("cpu") => Ok(tch::Device::Cpu),
        Some(d) => {
            let i = d
                .strip_prefix("cuda:")
                .and_then(|i| i.parse::<usize>().ok())
                .ok_or_else(|| CliError::input(format!("--device {d}: use `cpu` or `cuda:N`")))?;
            let count = tch::Cuda::device_count();
            if i as i64 >= count {
                return Err(CliError::input(format!(
                    "--device {d}: CUDA sees {count} device(s); use `cpu` or a smaller index"
                )));
            }
            Ok(tch::Device::Cuda(i))
        }
    }
}
