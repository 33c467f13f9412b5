//! JSON-lines files: the one reader (every complete line parsed; a torn last
//! line — a write cut short by a kill — dropped with a notice; the first
//! unreadable line before it reported with its number) and an appender.
//! The child log, `updates.jsonl` on resume, the report's reading of a run
//! and the updates appender all use these.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// A last line that was cut short (no newline, or a final line that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// 1-based line number.
    pub line: usize,
    pub bytes: usize,
    /// Why it counts as torn: "has no final newline" or "does not parse".
    pub why: &'static str,
}

impl TornLine {
    /// The one-line notice about dropping it; `consequence` says what follows
    /// (e.g. "that child will be trained again").
    pub fn notice(&self, path: &Path, consequence: &str) -> String {
        format!(
            "{}: line {} ({} bytes) {}: a write cut short by a kill; dropped, {consequence}",
            path.display(),
            self.line,
            self.bytes,
            self.why
        )
    }
}

/// A line before the last that does not parse (a file edited by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// What reading a JSON-lines file found.
#[derive(Debug, Clone, PartialEq)]
pub struct Jsonl<T> {
    /// Every value read, in file order (up to the first bad line, if any).
    pub values: Vec<T>,
    /// For each value, the byte offset just after its line.
    pub ends: Vec<u64>,
    /// For each value, its 1-based line number (blank lines are counted).
    pub lines: Vec<usize>,
    /// Bytes up to and including the last good newline.
    pub good_len: u64,
    /// The dropped torn last line, if any.
    pub torn: Option<TornLine>,
    /// The first bad line before the last, if any (reading stopped there).
    pub bad: Option<BadLine>,
}

/// Parse the bytes of a JSON-lines file (blank lines are skipped).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Jsonl<T> {
    let mut out = Jsonl {
        values: Vec::new(),
        ends: Vec::new(),
        lines: Vec::new(),
        good_len: 0,
        torn: None,
        bad: None,
    };
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let (end, complete) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, true),
            None => (bytes.len(), false),
        };
        let line = &bytes[start..end];
        let next = if complete { end + 1 } else { end };
        let is_last = next >= bytes.len();
        let parsed = std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    serde_json::from_str::<T>(text)
                        .map(Some)
                        .map_err(|e| e.to_string())
                }
            });
        match (parsed, complete, is_last) {
            (Ok(value), true, _) => {
                if let Some(v) = value {
                    out.values.push(v);
                    out.ends.push(next as u64);
                    out.lines.push(line_no);
                }
                out.good_len = next as u64;
            }
            (Err(message), true, false) => {
                out.bad = Some(BadLine {
                    line: line_no,
                    message,
                });
                return out;
            }
            // Only the last line can lack its newline; it is torn whether or not it parses.
            _ => {
                out.torn = Some(TornLine {
                    line: line_no,
                    bytes: line.len(),
                    why: if complete {
                        "does not parse"
                    } else {
                        "has no final newline"
                    },
                });
                return out;
            }
        }
        start = next;
    }
    out
}

/// Read a JSON-lines file; a missing file reads as empty.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Jsonl<T>, StoreError> {
    let bytes = super::read_optional(path)?.unwrap_or_default();
    Ok(parse(&bytes))
}

/// Appends JSON lines to a file, flushing each (updates.jsonl).
pub struct JsonlAppender {
    path: PathBuf,
    file: File,
}

impl JsonlAppender {
    /// Open for appending; a torn last line (see [`parse`]) is cut off first.
    pub fn open(path: &Path) -> Result<JsonlAppender, StoreError> {
        let parsed: Jsonl<serde_json::Value> = read(path)?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::write(path, e))?;
        if parsed.torn.is_some() {
            file.set_len(parsed.good_len)
                .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
                .map_err(|e| StoreError::write(path, e))?;
        }
        Ok(JsonlAppender {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Append one value as a line.
    pub fn append<T: Serialize>(&mut self, value: &T) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(value).map_err(|e| StoreError::Encode {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|e| StoreError::write(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_torn_tail_and_bad_lines() {
        let p: Jsonl<u32> = parse(b"1\n2\n\n3");
        assert_eq!(p.values, vec![1, 2]);
        assert_eq!(p.ends, vec![2, 4]);
        assert_eq!(p.good_len, 5);
        assert_eq!(
            p.torn,
            Some(TornLine {
                line: 4,
                bytes: 1,
                why: "has no final newline"
            })
        );
        let p: Jsonl<u32> = parse(b"1\nx\n");
        assert_eq!(p.values, vec![1]);
        assert_eq!(p.torn.map(|t| t.why), Some("does not parse"));
        let p: Jsonl<u32> = parse(b"1\nx\n3\n");
        assert_eq!(p.values, vec![1]);
        assert_eq!(p.bad.map(|b| b.line), Some(2));
        assert!(p.torn.is_none());
        let p: Jsonl<u32> = parse(b"");
        assert!(p.values.is_empty() && p.torn.is_none() && p.bad.is_none());
    }

    #[test]
    fn the_appender_cuts_a_torn_tail_before_appending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.jsonl");
        std::fs::write(&path, b"1\n2\n{\"torn").expect("write");
        let mut a = JsonlAppender::open(&path).expect("open");
        a.append(&3).expect("append");
        assert_eq!(std::fs::read(&path).expect("read"), b"1\n2\n3\n");
    }
}
