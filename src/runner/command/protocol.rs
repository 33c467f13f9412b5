//! The trial protocol: what a trial command writes on stdout, one JSON
//! object per line, and how nas-actor reads it.
//!
//! | line | meaning |
//! |------|---------|
//! | `{"epoch": 3, "metric": 0.81}` | epoch 3 (1-based) ended with validation metric 0.81; optional `"train_loss"`, `"val_loss"`, `"seconds"` |
//! | `{"epoch": 3, "batch": 40, "batches": 100, "loss": 0.52}` | progress inside an epoch (optional, for the slot's line) |
//! | `{"metric": 0.83}` | the final metric (no `"epoch"`); optional `"reward"` (else the task's rule) and `"params"` |
//! | `{"reward": 0.7}` | the reward, when given on a line of its own |
//!
//! Any other line is the trial's own output and goes to its log. A line
//! that is a JSON object with a `"metric"` or `"reward"` key but cannot be
//! read as a report is an error of the trial, never silently dropped.
//! Non-finite numbers as Python's `json` writes them (`NaN`, `Infinity`,
//! `-Infinity`) are read as such.

use serde_json::{Map, Value};

/// One protocol line of a trial.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// An epoch ended.
    Epoch {
        epoch: usize,
        metric: f64,
        train_loss: Option<f64>,
        val_loss: Option<f64>,
        seconds: Option<f64>,
    },
    /// Progress inside an epoch.
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: Option<f64>,
    },
    /// The final metric, with the reward and size when the trial gives them.
    Final {
        metric: f64,
        reward: Option<f64>,
        params: Option<usize>,
    },
    /// A reward on its own line.
    Reward(f64),
}

/// What one line of stdout is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A protocol report.
    Report(Report),
    /// Meant as a report but unreadable: why.
    Invalid(String),
    /// The trial's own output.
    Other,
}

/// Read one line of a trial's stdout.
pub fn parse(line: &str) -> Line {
    let text = line.trim();
    if !text.starts_with('{') {
        return Line::Other;
    }
    let object = match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(o) => o,
        Err(e) => match serde_json::from_str::<Map<String, Value>>(&quote_non_finite(text)) {
            Ok(o) => o,
            Err(_) if mentions_report_key(text) => {
                return Line::Invalid(format!("not valid JSON ({e})"));
            }
            Err(_) => return Line::Other,
        },
    };
    if !["metric", "reward", "epoch"]
        .iter()
        .any(|k| object.contains_key(*k))
    {
        return Line::Other;
    }
    match report(&object) {
        Ok(r) => Line::Report(r),
        Err(why) => Line::Invalid(why),
    }
}

/// The line a trial writes for `report` (used by `nas-actor child` and tests).
pub fn line(report: &Report) -> String {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    match report {
        Report::Epoch {
            epoch,
            metric,
            train_loss,
            val_loss,
            seconds,
        } => {
            put("epoch", (*epoch).into());
            put("metric", number(*metric));
            for (k, v) in [
                ("train_loss", train_loss),
                ("val_loss", val_loss),
                ("seconds", seconds),
            ] {
                if let Some(v) = v {
                    put(k, number(*v));
                }
            }
        }
        Report::Batch {
            epoch,
            batch,
            batches,
            loss,
        } => {
            put("epoch", (*epoch).into());
            put("batch", (*batch).into());
            put("batches", (*batches).into());
            if let Some(l) = loss {
                put("loss", number(*l));
            }
        }
        Report::Final {
            metric,
            reward,
            params,
        } => {
            put("metric", number(*metric));
            if let Some(r) = reward {
                put("reward", number(*r));
            }
            if let Some(p) = params {
                put("params", (*p).into());
            }
        }
        Report::Reward(r) => put("reward", number(*r)),
    }
    Value::Object(o).to_string()
}

/// A float as JSON: a number, or Python's spelling of a non-finite one as a string.
fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map_or_else(|| Value::String(non_finite_name(v).into()), Value::Number)
}

fn non_finite_name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn mentions_report_key(text: &str) -> bool {
    text.contains("\"metric\"") || text.contains("\"reward\"") || text.contains("\"epoch\"")
}

/// Python's bare `NaN`, `Infinity` and `-Infinity` (outside strings) as strings.
fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
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
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn float(object: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("\"{key}\" is not a number")),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" | "nan" => Ok(Some(f64::NAN)),
            "Infinity" | "inf" => Ok(Some(f64::INFINITY)),
            "-Infinity" | "-inf" => Ok(Some(f64::NEG_INFINITY)),
            _ => Err(format!("\"{key}\" is {s:?}, not a number")),
        },
        Some(v) => Err(format!("\"{key}\" is {v}, not a number")),
    }
}

fn count(object: &Map<String, Value>, key: &str) -> Result<Option<usize>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| Some(v as usize))
            .ok_or_else(|| format!("\"{key}\" must be a whole number ≥ 0, got {n}")),
        Some(v) => Err(format!("\"{key}\" must be a whole number ≥ 0, got {v}")),
    }
}

fn report(o: &Map<String, Value>) -> Result<Report, String> {
    let metric = float(o, "metric")?;
    match count(o, "epoch")? {
        Some(epoch) if epoch > 0 => {
            if o.contains_key("batch") {
                let batch = count(o, "batch")?.unwrap_or(0);
                let batches = count(o, "batches")?.unwrap_or(0);
                return Ok(Report::Batch {
                    epoch,
                    batch,
                    batches,
                    loss: float(o, "loss")?,
                });
            }
            let metric = metric.ok_or("an epoch report needs \"metric\"")?;
            Ok(Report::Epoch {
                epoch,
                metric,
                train_loss: float(o, "train_loss")?,
                val_loss: float(o, "val_loss")?,
                seconds: float(o, "seconds")?,
            })
        }
        Some(_) => Err("\"epoch\" counts from 1".into()),
        None => {
            let reward = float(o, "reward")?;
            match metric {
                Some(metric) => Ok(Report::Final {
                    metric,
                    reward,
                    params: count(o, "params")?,
                }),
                None => reward
                    .map(Report::Reward)
                    .ok_or_else(|| "a report needs \"metric\" or \"reward\"".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_line() {
        assert_eq!(
            parse(r#"{"epoch": 2, "metric": 0.5, "train_loss": 1.2}"#),
            Line::Report(Report::Epoch {
                epoch: 2,
                metric: 0.5,
                train_loss: Some(1.2),
                val_loss: None,
                seconds: None
            })
        );
        assert_eq!(
            parse(r#"{"epoch": 1, "batch": 3, "batches": 10, "loss": 2.0}"#),
            Line::Report(Report::Batch {
                epoch: 1,
                batch: 3,
                batches: 10,
                loss: Some(2.0)
            })
        );
        assert_eq!(
            parse(r#"{"metric": 0.9, "reward": 0.7, "params": 1234}"#),
            Line::Report(Report::Final {
                metric: 0.9,
                reward: Some(0.7),
                params: Some(1234)
            })
        );
        assert_eq!(parse(r#"{"reward": 1}"#), Line::Report(Report::Reward(1.0)));
        assert_eq!(parse("loss went down"), Line::Other);
        assert_eq!(parse(r#"{"lr": 0.1}"#), Line::Other);
        assert_eq!(parse("{not json at all"), Line::Other);
    }

    #[test]
    fn python_non_finite_numbers_are_read() {
        match parse(r#"{"metric": NaN}"#) {
            Line::Report(Report::Final { metric, .. }) => assert!(metric.is_nan()),
            other => panic!("{other:?}"),
        }
        match parse(r#"{"epoch": 1, "metric": -Infinity, "note": "NaN inside"}"#) {
            Line::Report(Report::Epoch { metric, .. }) => assert_eq!(metric, f64::NEG_INFINITY),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_reports_are_errors_not_output() {
        for bad in [
            r#"{"metric": "high"}"#,
            r#"{"metric": 0.5"#,
            r#"{"epoch": 0, "metric": 0.5}"#,
            r#"{"epoch": 1}"#,
            r#"{"epoch": -1, "metric": 0.5}"#,
            r#"{"metric": 0.5, "params": -3}"#,
        ] {
            assert!(matches!(parse(bad), Line::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn written_lines_read_back() {
        for r in [
            Report::Epoch {
                epoch: 4,
                metric: 0.25,
                train_loss: Some(f64::NAN),
                val_loss: Some(1.5),
                seconds: Some(0.1),
            },
            Report::Batch {
                epoch: 1,
                batch: 2,
                batches: 3,
                loss: None,
            },
            Report::Final {
                metric: 80.5,
                reward: None,
                params: Some(7),
            },
            Report::Reward(-2.0),
        ] {
            let back = parse(&line(&r));
            match (&r, &back) {
                (
                    Report::Epoch { train_loss, .. },
                    Line::Report(Report::Epoch { train_loss: t, .. }),
                ) => {
                    assert!(train_loss.unwrap().is_nan() && t.unwrap().is_nan())
                }
                _ => assert_eq!(back, Line::Report(r.clone())),
            }
        }
    }
}
