//! The trial protocol on a child process's stdout: one JSON object per line,
//! every other line is log. Written by `nas-actor child`, read by the Slurm
//! step runner (and by any process runner that speaks it).
//!
//! - `{"epoch": E, "metric": M}` after each epoch (E 1-based; optional
//!   `"train_loss"`, `"val_loss"`, `"seconds"`);
//! - `{"epoch": E, "batch": B, "batches": N, "loss": L}`: batch progress (optional);
//! - `{"metric": M}` (no `"epoch"`): the final line, with optional `"reward"`,
//!   `"params"`, and (from `nas-actor child`) `"status"` and `"message"`;
//! - `{"node": N, "gpus": G}`: where the process runs (the Slurm step wrapper prints it).
//!
//! Non-finite numbers as Python's `json` writes them (`NaN`, `Infinity`,
//! `-Infinity`) are read as such, and a non-finite metric means the child failed.

use serde_json::{Map, Value};

pub use crate::child::Placement;
use crate::child::{ChildStatus, EpochMetrics};

/// The final line of a child.
#[derive(Debug, Clone, PartialEq)]
pub struct Final {
    /// The metric; NaN or infinite when the child failed.
    pub metric: f64,
    pub reward: Option<f64>,
    pub params: Option<usize>,
    /// `nas-actor child`'s own status of the child, when it says.
    pub status: Option<ChildStatus>,
    pub message: Option<String>,
}

/// One line of a child's stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Placement(Placement),
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    Epoch(EpochMetrics),
    Final(Final),
    /// Anything else: a log line.
    Log,
}

/// Replace bare `NaN`, `Infinity` and `-Infinity` (outside strings) by strings
/// that [`number`] reads back, so that the line parses as JSON.
fn quote_non_finite(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w));
        match word {
            Some(w) => {
                out.push('"');
                out.push_str(w);
                out.push('"');
                rest = &rest[w.len()..];
            }
            None => {
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// A number, or one of the strings `NaN`, `Infinity`, `-Infinity`.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn count(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64).map(|n| n as usize)
}

/// Read one line of a child's stdout.
pub fn parse(line: &str) -> Line {
    let line = line.trim();
    if !line.starts_with('{') {
        return Line::Log;
    }
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&quote_non_finite(line)) else {
        return Line::Log;
    };
    let get = |k: &str| o.get(k).and_then(number);
    if let Some(node) = o.get("node").and_then(Value::as_str) {
        let gpus = o.get("gpus").and_then(Value::as_str).unwrap_or_default();
        return Line::Placement(Placement {
            node: node.to_string(),
            gpus: gpus.to_string(),
        });
    }
    let epoch = count(o.get("epoch"));
    match (epoch, o.get("metric").and_then(number)) {
        (Some(epoch), Some(metric)) => Line::Epoch(EpochMetrics {
            epoch,
            train_loss: get("train_loss").unwrap_or(f64::NAN),
            val_loss: get("val_loss").unwrap_or(f64::NAN),
            val_metric: metric,
            seconds: get("seconds").unwrap_or(0.0),
        }),
        (None, Some(metric)) => Line::Final(Final {
            metric,
            reward: get("reward"),
            params: count(o.get("params")),
            status: o
                .get("status")
                .and_then(|s| serde_json::from_value(s.clone()).ok()),
            message: o.get("message").and_then(Value::as_str).map(str::to_string),
        }),
        (Some(epoch), None) => match (count(o.get("batch")), count(o.get("batches"))) {
            (Some(batch), Some(batches)) => Line::Batch {
                epoch,
                batch,
                batches,
                loss: get("loss").unwrap_or(f64::NAN),
            },
            _ => Line::Log,
        },
        (None, None) => Line::Log,
    }
}

/// A number as the protocol writes it (`NaN`, `Infinity` as Python's `json` does).
fn write_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        Value::from(v).to_string()
    }
}

/// One protocol line from fields; floats may be non-finite.
pub fn line(fields: &[(&str, Field)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Field::Float(f) => write_number(*f),
                Field::Json(j) => j.to_string(),
            };
            format!("{}: {v}", Value::from(*k))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A field of [`line`].
#[derive(Debug, Clone)]
pub enum Field {
    Float(f64),
    Json(Value),
}

impl From<f64> for Field {
    fn from(v: f64) -> Field {
        Field::Float(v)
    }
}

impl From<usize> for Field {
    fn from(v: usize) -> Field {
        Field::Json(Value::from(v))
    }
}

impl From<&str> for Field {
    fn from(v: &str) -> Field {
        Field::Json(Value::from(v))
    }
}

/// The epoch line of `m`.
pub fn epoch_line(m: &EpochMetrics) -> String {
    line(&[
        ("epoch", m.epoch.into()),
        ("metric", m.val_metric.into()),
        ("train_loss", m.train_loss.into()),
        ("val_loss", m.val_loss.into()),
        ("seconds", m.seconds.into()),
    ])
}

/// The batch-progress line.
pub fn batch_line(epoch: usize, batch: usize, batches: usize, loss: f64) -> String {
    line(&[
        ("epoch", epoch.into()),
        ("batch", batch.into()),
        ("batches", batches.into()),
        ("loss", loss.into()),
    ])
}

/// The final line of an outcome: metric (NaN when there is none), reward,
/// params, status, seconds and, for a failure, its message.
pub fn final_line(o: &crate::child::ChildOutcome) -> String {
    let mut fields: Vec<(&str, Field)> = vec![
        ("metric", o.metric.unwrap_or(f64::NAN).into()),
        ("reward", o.reward.into()),
        ("params", o.params.into()),
        (
            "status",
            Field::Json(serde_json::to_value(o.status).unwrap_or(Value::Null)),
        ),
        ("seconds", o.seconds.into()),
    ];
    if let Some(m) = &o.message {
        fields.push(("message", m.as_str().into()));
    }
    line(&fields)
}

/// An object of string fields as one line (e.g. the device line).
pub fn info_line(fields: Map<String, Value>) -> String {
    Value::Object(fields).to_string()
}
