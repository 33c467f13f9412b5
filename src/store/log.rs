//! Reading `children.jsonl`: one [`ChildRecord`] per line. Only the last
//! line can be torn (a process killed mid-append); it is dropped with a
//! notice. Anything unreadable before it is an error with its line number.

use std::path::Path;

use super::{ChildRecord, StoreError};

/// The records of a child log, and the torn last line that was dropped, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildLog {
    /// Every complete record, in file order.
    pub records: Vec<ChildRecord>,
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
    let mut records = Vec::new();
    let mut good_len = 0usize;
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
                    serde_json::from_str::<ChildRecord>(text)
                        .map(Some)
                        .map_err(|e| e.to_string())
                }
            });
        match (parsed, complete, is_last) {
            (Ok(record), true, _) => {
                records.extend(record);
                good_len = next;
            }
            (Err(message), true, false) => {
                return Err(StoreError::CorruptLine {
                    path: path.to_path_buf(),
                    line: line_no,
                    message,
                })
            }
            // Only the last line can lack its newline; it is torn whether or not it parses.
            _ => {
                let why = if complete {
                    "does not parse"
                } else {
                    "has no final newline"
                };
                let notice = format!(
                    "{}: line {line_no} ({} bytes) {why}: a write cut short by a kill; dropped, that child will be trained again",
                    path.display(),
                    line.len(),
                );
                return Ok(Parsed {
                    log: ChildLog {
                        records,
                        dropped_tail: Some(notice),
                    },
                    good_len: good_len as u64,
                });
            }
        }
        start = next;
    }
    Ok(Parsed {
        log: ChildLog {
            records,
            dropped_tail: None,
        },
        good_len: good_len as u64,
    })
}
