//! The trial protocol on a child process's stdout: one JSON object per line,
//! every other line is log. Written by trial commands and `nas-actor child`,
//! read by [`super::process`] for the command runner and the Slurm step runner.
//!
//! - `{"epoch": E, "metric": M}` after each epoch (E 1-based; optional
//!   `"train_loss"` (or `"loss"`), `"val_loss"`, `"seconds"`; a loss not
//!   given is recorded as absent, never as NaN);
//! - `{"epoch": E, "batch": B, "batches": N, "loss": L}`: batch progress (optional);
//! - `{"metric": M}` (no `"epoch"`): the final line, with optional `"reward"`,
//!   `"params"`, and (from `nas-actor child`) `"status"` and `"message"`;
//! - `{"node": N, "gpus": G}`: where the process runs (the Slurm step wrapper prints it).
//!
//! - `{"reward": R}` on a line of its own: the reward, besides a final line without one.
//!
//! Non-finite numbers as Python's `json` writes them (`NaN`, `Infinity`,
//! `-Infinity`) are read as such, and a non-finite metric means the child failed.
//! A line that is a JSON object with a `"metric"`, `"reward"` or `"epoch"` key
//! but cannot be read as a report is [`Line::Invalid`]: an error of the child,
//! never silently taken for a log line.
//!
//! A persistent trial process (`child.command.persistent`) serves many
//! children and tags each report with the child it is for: `"child": ID`
//! in the same object ([`parse_tagged`]).

use std::sync::Arc;

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
    /// An epoch ended (`seconds` is NaN when the line gives none).
    Epoch(EpochMetrics),
    Final(Final),
    /// A reward on its own line.
    Reward(f64),
    /// Meant as a report but unreadable: why.
    Invalid(ReportError),
    /// Anything else: a log line.
    Log,
}

/// Why a line meant as a report cannot be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReportError {
    #[error("not valid JSON ({0})")]
    NotJson(#[source] Arc<serde_json::Error>),
    #[error("\"{key}\" is {value}, not a number")]
    NotANumber { key: &'static str, value: Value },
    #[error("\"{key}\" must be a whole number ≥ 0, got {value}")]
    NotACount { key: &'static str, value: Value },
    #[error("\"epoch\" counts from 1")]
    EpochFromZero,
    #[error("an epoch report needs \"metric\"")]
    EpochWithoutMetric,
    #[error("a report needs \"metric\" or \"reward\"")]
    NoMetricOrReward,
    #[error("\"status\" is {value}, not a child status")]
    NotAStatus {
        value: Value,
        #[source]
        source: Arc<serde_json::Error>,
    },
    #[error("\"child\" is {0}, not a child id")]
    NotAChildId(Value),
}

/// Errors are equal when they say the same (the JSON errors they keep
/// compare by message).
impl PartialEq for ReportError {
    fn eq(&self, other: &ReportError) -> bool {
        self.to_string() == other.to_string()
    }
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
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float(o: &Map<String, Value>, key: &'static str) -> Result<Option<f64>, ReportError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => number(v).map(Some).ok_or_else(|| ReportError::NotANumber {
            key,
            value: v.clone(),
        }),
    }
}

fn count(o: &Map<String, Value>, key: &'static str) -> Result<Option<usize>, ReportError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| ReportError::NotACount {
                key,
                value: v.clone(),
            }),
    }
}

fn mentions_report_key(text: &str) -> bool {
    ["\"metric\"", "\"reward\"", "\"epoch\""]
        .iter()
        .any(|k| text.contains(k))
}

/// The JSON object of a line, or what the line is when it is none.
fn object(line: &str) -> Result<Map<String, Value>, Line> {
    let text = line.trim();
    if !text.starts_with('{') {
        return Err(Line::Log);
    }
    match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(o) => Ok(o),
        Err(e) => match serde_json::from_str::<Map<String, Value>>(&quote_non_finite(text)) {
            Ok(o) => Ok(o),
            Err(_) if mentions_report_key(text) => {
                Err(Line::Invalid(ReportError::NotJson(Arc::new(e))))
            }
            Err(_) => Err(Line::Log),
        },
    }
}

/// The line an object is.
fn line_of(object: &Map<String, Value>) -> Line {
    if let Some(node) = object.get("node").and_then(Value::as_str) {
        let gpus = object
            .get("gpus")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Line::Placement(Placement {
            node: node.to_string(),
            gpus: gpus.to_string(),
        });
    }
    if !["metric", "reward", "epoch"]
        .iter()
        .any(|k| object.contains_key(*k))
    {
        return Line::Log;
    }
    report(object).unwrap_or_else(Line::Invalid)
}

/// Read one line of a child's stdout.
pub fn parse(line: &str) -> Line {
    object(line).map_or_else(|l| l, |o| line_of(&o))
}

/// Read one line of a persistent trial process's stdout: the line, and the
/// child it is tagged for (`"child": ID`; None when untagged). A tag that is
/// not a child id makes a report line [`Line::Invalid`].
pub fn parse_tagged(line: &str) -> (Option<u64>, Line) {
    let o = match object(line) {
        Ok(o) => o,
        Err(l) => return (None, l),
    };
    let line = line_of(&o);
    match o.get("child") {
        None | Some(Value::Null) => (None, line),
        Some(v) => match v.as_u64() {
            Some(id) => (Some(id), line),
            None if matches!(line, Line::Log) => (None, line),
            None => (None, Line::Invalid(ReportError::NotAChildId(v.clone()))),
        },
    }
}

fn report(o: &Map<String, Value>) -> Result<Line, ReportError> {
    let metric = float(o, "metric")?;
    match count(o, "epoch")? {
        Some(0) => Err(ReportError::EpochFromZero),
        Some(epoch) if o.contains_key("batch") => Ok(Line::Batch {
            epoch,
            batch: count(o, "batch")?.unwrap_or(0),
            batches: count(o, "batches")?.unwrap_or(0),
            loss: float(o, "loss")?.unwrap_or(f64::NAN),
        }),
        Some(epoch) => {
            let metric = metric.ok_or(ReportError::EpochWithoutMetric)?;
            let train_loss = match float(o, "train_loss")? {
                Some(l) => Some(l),
                None => float(o, "loss")?,
            };
            Ok(Line::Epoch(EpochMetrics {
                epoch,
                train_loss,
                val_loss: float(o, "val_loss")?,
                val_metric: metric,
                seconds: float(o, "seconds")?.unwrap_or(f64::NAN),
            }))
        }
        None => {
            let reward = float(o, "reward")?;
            match metric {
                Some(metric) => Ok(Line::Final(Final {
                    metric,
                    reward,
                    params: count(o, "params")?,
                    status: match o.get("status") {
                        None | Some(Value::Null) => None,
                        Some(s) => Some(serde_json::from_value(s.clone()).map_err(|e| {
                            ReportError::NotAStatus {
                                value: s.clone(),
                                source: Arc::new(e),
                            }
                        })?),
                    },
                    message: o.get("message").and_then(Value::as_str).map(str::to_string),
                })),
                None => reward
                    .map(Line::Reward)
                    .ok_or(ReportError::NoMetricOrReward),
            }
        }
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

/// The epoch line of `m` (a loss it does not have is left out).
pub fn epoch_line(m: &EpochMetrics) -> String {
    let mut fields: Vec<(&str, Field)> =
        vec![("epoch", m.epoch.into()), ("metric", m.val_metric.into())];
    if let Some(l) = m.train_loss {
        fields.push(("train_loss", l.into()));
    }
    if let Some(l) = m.val_loss {
        fields.push(("val_loss", l.into()));
    }
    fields.push(("seconds", m.seconds.into()));
    line(&fields)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_line() {
        match parse(r#"{"epoch": 2, "metric": 0.5, "train_loss": 1.2}"#) {
            Line::Epoch(m) => {
                assert_eq!((m.epoch, m.val_metric, m.train_loss), (2, 0.5, Some(1.2)));
                assert!(m.val_loss.is_none() && m.seconds.is_nan(), "not given");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"metric": 0.9, "reward": 0.7, "params": 1234}"#),
            Line::Final(Final {
                metric: 0.9,
                reward: Some(0.7),
                params: Some(1234),
                status: None,
                message: None
            })
        );
        match parse(r#"{"epoch": 1, "metric": 0.5, "loss": 0.75}"#) {
            Line::Epoch(m) => assert_eq!((m.train_loss, m.val_loss), (Some(0.75), None)),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(r#"{"reward": 1}"#), Line::Reward(1.0));
        assert_eq!(parse("loss went down"), Line::Log);
        assert_eq!(parse(r#"{"lr": 0.1}"#), Line::Log);
        assert_eq!(parse("{not json at all"), Line::Log);
    }

    #[test]
    fn broken_reports_are_errors_not_log_lines() {
        for bad in [
            r#"{"metric": "high"}"#,
            r#"{"metric": 0.5"#,
            r#"{"epoch": 0, "metric": 0.5}"#,
            r#"{"epoch": 1}"#,
            r#"{"epoch": -1, "metric": 0.5}"#,
            r#"{"metric": 0.5, "params": -3}"#,
            r#"{"metric": 0.5, "status": "great"}"#,
        ] {
            assert!(matches!(parse(bad), Line::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn tagged_lines_say_whose_they_are() {
        assert!(matches!(
            parse_tagged(r#"{"child": 7, "epoch": 1, "metric": 0.5}"#),
            (Some(7), Line::Epoch(_))
        ));
        assert!(matches!(
            parse_tagged(r#"{"metric": 0.5}"#),
            (None, Line::Final(_))
        ));
        assert_eq!(
            parse_tagged(r#"{"child": "seven", "metric": 0.5}"#).1,
            Line::Invalid(ReportError::NotAChildId(Value::from("seven")))
        );
        assert_eq!(
            parse_tagged(r#"{"child": 3, "pid": 12}"#),
            (Some(3), Line::Log)
        );
        assert_eq!(parse_tagged("plain text"), (None, Line::Log));
        // The tag is no report key: an ordinary trial's line reads as before.
        assert!(matches!(
            parse(r#"{"child": 7, "metric": 0.5}"#),
            Line::Final(_)
        ));
    }

    #[test]
    fn nan_inside_a_string_stays_a_string() {
        match parse(r#"{"epoch": 1, "metric": -Infinity, "note": "NaN inside"}"#) {
            Line::Epoch(m) => assert_eq!(m.val_metric, f64::NEG_INFINITY),
            other => panic!("{other:?}"),
        }
    }
}
