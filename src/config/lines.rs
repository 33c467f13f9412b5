//! Where a key sits in config text, from the TOML parser's spans (so a `#`
//! or `=` inside a quoted string, a dotted key or an inline table does not
//! mislead it).

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One key of the text.
struct Entry {
    /// Dotted path, e.g. `search.replicas`.
    key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
    /// A `[table]` header (its value span is the header itself).
    header: bool,
}

/// Every key of `text` that the parser could read (it recovers past errors),
/// in the order of the text.
fn entries(text: &str) -> Vec<Entry> {
    let (doc, _errors) = DeTable::parse_recoverable(text);
    let mut out = Vec::new();
    collect(doc.get_ref(), "", text, &mut out);
    out.sort_by_key(|e| e.key_span.start);
    out
}

fn collect(table: &DeTable<'_>, prefix: &str, text: &str, out: &mut Vec<Entry>) {
    for (k, v) in table.iter() {
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        let value_span = v.span();
        let header = matches!(v.get_ref(), DeValue::Table(_))
            && text
                .get(value_span.clone())
                .is_some_and(|s| s.starts_with('['));
        if let DeValue::Table(t) = v.get_ref() {
            collect(t, &key, text, out);
        }
        // Arrays of tables (`[[space.custom.group]]`): `key[i]`, counting from 0.
        if let DeValue::Array(items) = v.get_ref() {
            for (i, item) in items.iter().enumerate() {
                if let DeValue::Table(t) = item.get_ref() {
                    let indexed = format!("{key}[{i}]");
                    collect(t, &indexed, text, out);
                    out.push(Entry {
                        key: indexed,
                        key_span: item.span(),
                        value_span: item.span(),
                        header: false,
                    });
                }
            }
        }
        out.push(Entry {
            key,
            key_span: k.span(),
            value_span,
            header,
        });
    }
}

/// The 1-based line of byte `offset`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The 1-based line where `key` (dotted, e.g. `search.replicas`) is set, if
/// it is. Falls back to the line of its table's header.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let all = entries(text);
    let find = |k: &str| all.iter().find(|e| e.key == k);
    let table = key.rsplit_once('.').map(|(t, _)| t);
    find(key)
        .or_else(|| table.and_then(find))
        .map(|e| line_at(text, e.key_span.start))
}

/// Whether `key` (dotted, e.g. `controller.temperature`) is set in `text`.
pub(super) fn has_key(text: &str, key: &str) -> bool {
    entries(text).iter().any(|e| e.key == key)
}

/// The dotted key a parse error at `span` is about: the deepest key whose
/// name or value holds the error, or — for a key the parser refused (a
/// duplicate) — the refused key in its table. `None` for errors outside any
/// key (a broken header, a missing field).
pub(super) fn key_at(text: &str, span: Range<usize>) -> Option<String> {
    let all = entries(text);
    let at = span.start;
    let holds = |r: &Range<usize>| r.start <= at && at < r.end.max(r.start + 1);
    if let Some(e) = all
        .iter()
        .filter(|e| !e.header && (holds(&e.key_span) || holds(&e.value_span)))
        .max_by_key(|e| e.key.len())
    {
        return Some(e.key.clone());
    }
    // A key the parser refused: the span names it, and `=` follows it.
    let name = text.get(span.clone())?.trim().trim_matches(['"', '\'']);
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let assigned = text.get(span.end..)?.trim_start().starts_with('=');
    if !(bare && assigned) {
        return None;
    }
    let table = all.iter().rev().find(|e| e.header && e.key_span.start < at);
    Some(match table {
        Some(t) => format!("{}.{name}", t.key),
        None => name.to_string(),
    })
}
