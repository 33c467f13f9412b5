//! The one way the dashboard opens a file: a relative path of plain names
//! under a served run directory, opened read-only, and refused when its real
//! path (symlinks followed) leaves that directory. Every read of a run goes
//! through [`open_inside`], so no request can reach any other file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Why a file was not opened.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The path has `..`, a root, or another non-plain component.
    #[error("{} is not a plain relative path", .0.display())]
    NotPlain(PathBuf),
    /// Its real path is outside the run directory (a symlink out of it).
    #[error("{} leads outside the run directory", .0.display())]
    Outside(PathBuf),
    /// It does not exist or cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Open `rel` inside the canonical directory `root` for reading.
pub fn open_inside(root: &Path, rel: &Path) -> Result<File, GuardError> {
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(GuardError::NotPlain(rel.to_path_buf()));
    }
    let path = root.join(rel);
    let real = path.canonicalize().map_err(|source| GuardError::Read {
        path: path.clone(),
        source,
    })?;
    if !real.starts_with(root) {
        return Err(GuardError::Outside(rel.to_path_buf()));
    }
    let file = File::open(&real).map_err(|source| GuardError::Read {
        path: path.clone(),
        source,
    })?;
    // What was opened, not what the path named a moment before (a symlink
    // swapped in between): Linux names the open file under /proc/self/fd.
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(opened) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            if !opened.starts_with(root) {
                return Err(GuardError::Outside(rel.to_path_buf()));
            }
        }
    }
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(GuardError::Read {
            path,
            source: std::io::Error::other("not a regular file"),
        });
    }
    Ok(file)
}

/// The whole of a small file inside `root` (at most `max` bytes).
pub fn read_inside(root: &Path, rel: &Path, max: u64) -> Result<Vec<u8>, GuardError> {
    let file = open_inside(root, rel)?;
    let mut bytes = Vec::new();
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|source| GuardError::Read {
            path: root.join(rel),
            source,
        })?;
    Ok(bytes)
}

/// The last `max` bytes of a file inside `root`, from the start of a line,
/// and whether earlier bytes were left out.
pub fn tail_inside(root: &Path, rel: &Path, max: u64) -> Result<(String, bool), GuardError> {
    let mut file = open_inside(root, rel)?;
    let read = |file: &mut File| -> std::io::Result<(Vec<u8>, bool)> {
        let len = file.metadata()?.len();
        let from = len.saturating_sub(max);
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.take(max).read_to_end(&mut bytes)?;
        if from > 0 {
            let cut = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes.drain(..cut);
        }
        Ok((bytes, from > 0))
    };
    let (bytes, cut) = read(&mut file).map_err(|source| GuardError::Read {
        path: root.join(rel),
        source,
    })?;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), cut))
}
