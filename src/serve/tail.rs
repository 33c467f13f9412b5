//! Reading a JSON-lines file as it grows: each read takes only the bytes
//! appended since the last one and parses the complete lines among them; a
//! line still being written waits for its newline. A file that shrank or was
//! replaced (a resumed run drops a torn last line) is read again from the start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::guard::open_inside;

/// Bytes read at most per refresh (the rest waits for the next one), so one
/// request never holds a run for long.
const MAX_READ: u64 = 64 << 20;

/// What one refresh of a [`Tail`] found.
#[derive(Debug)]
pub struct Growth<T> {
    /// The file was read again from its start: drop what earlier reads gave.
    pub restarted: bool,
    /// Values of the lines completed since the last read, in file order.
    pub values: Vec<T>,
    /// Lines that did not parse (their 1-based number and why); they are skipped.
    pub bad: Vec<(usize, String)>,
}

/// A growing JSON-lines file inside a run directory.
#[derive(Debug)]
pub struct Tail {
    root: PathBuf,
    name: &'static str,
    /// Bytes consumed: up to and including the last complete line.
    offset: u64,
    /// Complete lines consumed.
    lines: usize,
    /// Size and modification time when last read, to notice a replaced file.
    seen: Option<(u64, std::time::SystemTime)>,
}

impl Tail {
    /// The file `name` in the (canonical) run directory `root`.
    pub fn new(root: &Path, name: &'static str) -> Tail {
        Tail {
            root: root.to_path_buf(),
            name,
            offset: 0,
            lines: 0,
            seen: None,
        }
    }

    /// Read what was appended since the last call; a missing file is empty.
    pub fn read<T: DeserializeOwned>(&mut self) -> Growth<T> {
        let mut growth = Growth {
            restarted: false,
            values: Vec::new(),
            bad: Vec::new(),
        };
        let Ok(mut file) = open_inside(&self.root, Path::new(self.name)) else {
            if self.offset > 0 {
                self.reset(&mut growth);
            }
            return growth;
        };
        let Ok(meta) = file.metadata() else {
            return growth;
        };
        let len = meta.len();
        if len < self.offset {
            self.reset(&mut growth);
        }
        if let (Some((old_len, old_time)), Ok(time)) = (self.seen, meta.modified()) {
            // Same size but rewritten (a copy of the run put back): start again.
            if len == old_len && time != old_time && len == self.offset && len > 0 {
                self.reset(&mut growth);
            }
        }
        self.seen = meta.modified().ok().map(|t| (len, t));
        if len == self.offset {
            return growth;
        }
        let bytes = match read_range(&mut file, self.offset, len) {
            Ok(b) => b,
            Err(_) => return growth,
        };
        let Some(last_newline) = bytes.iter().rposition(|&b| b == b'\n') else {
            return growth;
        };
        let complete = &bytes[..=last_newline];
        // The piece after the last newline is empty: `take` leaves it out.
        let lines = complete.iter().filter(|&&b| b == b'\n').count();
        for (i, line) in complete.split(|&b| b == b'\n').take(lines).enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<T>(line) {
                Ok(v) => growth.values.push(v),
                Err(e) => growth.bad.push((self.lines + i + 1, e.to_string())),
            }
        }
        self.lines += lines;
        self.offset += complete.len() as u64;
        growth
    }

    fn reset<T>(&mut self, growth: &mut Growth<T>) {
        self.offset = 0;
        self.lines = 0;
        growth.restarted = true;
        growth.values.clear();
        growth.bad.clear();
    }
}

/// The bytes of `file` from `from` to `to` (at most [`MAX_READ`] of them).
fn read_range(file: &mut File, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(from))?;
    let want = (to - from).min(MAX_READ);
    let mut bytes = Vec::with_capacity(want as usize);
    file.take(want).read_to_end(&mut bytes)?;
    Ok(bytes)
}
