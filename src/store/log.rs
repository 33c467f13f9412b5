//! The child log `children.jsonl`: one [`ChildRecord`] per line, appended
//! and fsynced (a group of records with one fsync), read back, repaired.
//! Only the last line can be torn (a process killed mid-append); it is
//! dropped with a notice. Anything unreadable before it is an error with its
//! line number.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{read_optional, ChildRecord, RunDir, StoreError, CHILDREN_FILE};

impl RunDir {
    /// Append one record as a JSON line and fsync it before returning.
    pub fn append_child(&mut self, rec: &ChildRecord) -> Result<(), StoreError> {
        self.append_children(std::slice::from_ref(rec))
    }

    /// Append records as JSON lines with one write and one fsync (group
    /// commit): when this returns `Ok`, every one of them is on disk.
    pub fn append_children(&mut self, recs: &[ChildRecord]) -> Result<(), StoreError> {
        if recs.is_empty() {
            return Ok(());
        }
        let path = self.file(CHILDREN_FILE);
        let mut lines = Vec::with_capacity(recs.len() * 512);
        for rec in recs {
            serde_json::to_writer(&mut lines, rec).map_err(|e| StoreError::Encode {
                path: path.clone(),
                message: e.to_string(),
            })?;
            lines.push(b'\n');
        }
        let file = match &mut self.log {
            Some(f) => f,
            None => self.log.insert(open_log(&path)?),
        };
        let result = file
            .write_all(&lines)
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data());
        if let Err(e) = result {
            // Reopen (and re-check the tail) next time.
            self.log = None;
            return Err(StoreError::write(&path, e));
        }
        Ok(())
    }

    /// Read every record of the child log (empty when there is none yet).
    pub fn read_children(&self) -> Result<ChildLog, StoreError> {
        let path = self.file(CHILDREN_FILE);
        let bytes = read_optional(&path)?.unwrap_or_default();
        Ok(parse(&path, &bytes)?.log)
    }

    /// Truncate a torn last line of the child log, so appends continue
    /// cleanly; returns the notice about what was dropped.
    pub fn repair_tail(&mut self) -> Result<Option<String>, StoreError> {
        let path = self.file(CHILDREN_FILE);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        let parsed = parse(&path, &bytes)?;
        if parsed.log.dropped_tail.is_none() {
            return Ok(None);
        }
        self.log = None;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::write(&path, e))?;
        file.set_len(parsed.good_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::write(&path, e))?;
        Ok(parsed.log.dropped_tail)
    }
}

/// Open the child log for appending; refuse one that ends in a torn line.
fn open_log(path: &Path) -> Result<File, StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| StoreError::write(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| StoreError::read(path, e))?
        .len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| StoreError::read(path, e))?;
        if last[0] != b'\n' {
            return Err(StoreError::TornTail {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(file)
}

/// The records of a child log, and the torn last line that was dropped, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildLog {
    /// Every complete record, in file order.
    pub records: Vec<ChildRecord>,
    /// For each record, its 1-based line number in the file.
    pub lines: Vec<usize>,
    /// A one-line notice about a dropped last line; `None` when the file was clean.
    pub dropped_tail: Option<String>,
}

/// A parsed log: records, the byte length of the good prefix, the notice.
pub(crate) struct Parsed {
    pub log: ChildLog,
    /// Bytes up to and including the last good newline.
    pub good_len: u64,
}

/// Parse a log file's bytes; `path` is for messages.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, StoreError> {
    let read = super::jsonl::parse::<ChildRecord>(bytes);
    if let Some(bad) = read.bad {
        return Err(StoreError::CorruptLine {
            path: path.to_path_buf(),
            line: bad.line,
            message: bad.message,
        });
    }
    Ok(Parsed {
        log: ChildLog {
            records: read.values,
            lines: read.lines,
            dropped_tail: read
                .torn
                .map(|t| t.notice(path, "that child will be trained again")),
        },
        good_len: read.good_len,
    })
}
