//! Crash-safe file replacement: write a temporary file in the same
//! directory, fsync it, rename it over the target, fsync the directory.
//! A reader sees the old file or the new one, never a torn mix.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;

/// Suffix of temporary files; leftovers of a killed writer end with it.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Distinguishes temporary files of concurrent writers in one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace `path` with `bytes` atomically and durably.
///
/// The temporary file is `.<name>.<pid>.<n>.tmp` beside `path`; it is removed
/// when any step fails, so a failed write leaves the old file intact.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = temp_path(path, false);
    replace_with(path, &temp, write_synced(&temp, bytes))
}

/// Replace `path` atomically and durably with the file that `write` writes
/// at the temporary path it is given, for writers that only write to a path
/// (tch's `VarStore::save`). The temporary path is beside `path` and ends
/// with `path`'s extension (`.<name>.<pid>.<n>.tmp.<ext>`), for writers that
/// choose a format by extension; it is fsynced before the rename.
pub fn atomic_write_with<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), StoreError> {
    let temp = temp_path(path, true);
    let written = write(&temp)
        .map_err(|e| StoreError::write(&temp, std::io::Error::other(e.to_string())))
        .and_then(|()| {
            File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::write(&temp, e))
        });
    replace_with(path, &temp, written)
}

/// A temporary name beside `path`; with `keep_extension`, ending in `path`'s extension.
fn temp_path(path: &Path, keep_extension: bool) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id());
    if let Some(ext) = path.extension().filter(|_| keep_extension) {
        temp = format!("{temp}.{}", ext.to_string_lossy());
    }
    parent_of(path).join(temp)
}

/// After `written` (the synced temp file): rename `temp` over `path`, fsync
/// the directory; on any failure remove `temp`, leaving the old file intact.
fn replace_with(
    path: &Path,
    temp: &Path,
    written: Result<(), StoreError>,
) -> Result<(), StoreError> {
    let result = written.and_then(|()| {
        fs::rename(temp, path).map_err(|e| StoreError::write(path, e))?;
        sync_dir(&parent_of(path))
    });
    if result.is_err() {
        // Best effort: the temp file may not exist, or the disk may be gone.
        let _ = fs::remove_file(temp);
    }
    result
}

/// Create `path` (it must not exist), write `bytes`, fsync.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StoreError::write(path, e))?;
    f.write_all(bytes).map_err(|e| StoreError::write(path, e))?;
    f.sync_all().map_err(|e| StoreError::write(path, e))
}

/// fsync a directory, so that a rename or a new entry in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::write(dir, e))
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Remove temporary files that a killed writer left in `dir` (only call
/// while holding the run lock: a live writer's temp file looks the same).
pub(crate) fn remove_stale_temps(dir: &Path) -> Result<usize, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::read(dir, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temp = name.ends_with(TEMP_SUFFIX) || name.contains(&format!("{TEMP_SUFFIX}."));
        if name.starts_with('.') && temp {
            fs::remove_file(entry.path()).map_err(|e| StoreError::write(&entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
