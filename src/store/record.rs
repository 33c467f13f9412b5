//! One line of `children.jsonl`: everything known about one trained child.
//!
//! JSON has no NaN or infinity (serde_json would write `null` and then fail to
//! read it back), yet a diverged child's losses are exactly that. Floats of a
//! record are therefore written as numbers when finite and as the strings
//! `"NaN"`, `"inf"` or `"-inf"` otherwise, and read back from either form.
//! Binary encodings (a record inside a checkpoint) keep plain `f64`s.
//!
//! A loss that was never measured (a trial command reports only its metric)
//! is left out of its epoch, never written as `"NaN"`: `"NaN"` is a loss that
//! was measured and diverged. Logs written before this rule may hold `"NaN"`
//! for an unreported loss; they are read as they are.

use serde::{Deserialize, Serialize};

use crate::child::{ChildOutcome, ChildSpec, ChildStatus, EpochMetrics, Placement};

/// One finished child, as appended to `children.jsonl` before its reward is used.
///
/// Its spec's fields are flattened into the line (`id`, `replica`, `version`,
/// `tokens`, `arch`, `hash`, `seed`), so the line reads as one flat object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildRecord {
    /// The child that was trained.
    #[serde(flatten)]
    pub spec: ChildSpec,
    pub status: ChildStatus,
    /// The reward the controller received.
    #[serde(with = "float")]
    pub reward: f64,
    /// The metric the reward came from (accuracy or perplexity), if any.
    #[serde(with = "opt_float")]
    pub metric: Option<f64>,
    /// Per-epoch metrics.
    #[serde(with = "epochs")]
    pub epochs: Vec<EpochMetrics>,
    /// Trainable parameters of the child.
    pub params: usize,
    /// The trainer slot's label, e.g. `cuda:0#1` or `cpu#0`.
    pub device: String,
    /// When training started, in unix seconds.
    #[serde(with = "float")]
    pub started: f64,
    /// Wall time of training, in seconds.
    #[serde(with = "float")]
    pub seconds: f64,
    /// Why it diverged or failed.
    pub message: Option<String>,
    /// Where its process ran (a Slurm step: node and GPUs), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

impl ChildRecord {
    /// The record of `spec` trained on `device` from `started` (unix
    /// seconds) for `seconds` of wall time, with what training produced.
    pub fn new(
        spec: ChildSpec,
        outcome: ChildOutcome,
        device: String,
        started: f64,
        seconds: f64,
    ) -> ChildRecord {
        // Destructured so that a new field in ChildOutcome fails to compile here.
        let ChildOutcome {
            status,
            reward,
            metric,
            epochs,
            params,
            seconds: _,
            message,
        } = outcome;
        ChildRecord {
            spec,
            status,
            reward,
            metric,
            epochs,
            params,
            device,
            started,
            seconds,
            message,
            placement: None,
        }
    }

    /// The record, with where its process ran.
    pub fn placed(mut self, placement: Option<Placement>) -> ChildRecord {
        self.placement = placement;
        self
    }

    /// One line for a person: `best: child ID reward R (accuracy 91.20%): ARCH`.
    pub fn best_line(&self, metric: &crate::task::Metric) -> String {
        format!(
            "best: child {} reward {}{}: {}",
            self.spec.id,
            crate::format::reward(self.reward),
            self.metric
                .and_then(|m| metric.show(m))
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            self.spec.arch.describe()
        )
    }
}

/// An `f64` that survives JSON when it is NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() || !s.is_human_readable() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Float, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Float;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or one of \"NaN\", \"inf\", \"-inf\"")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Float, E> {
                match v {
                    "NaN" => Ok(Float(f64::NAN)),
                    "inf" => Ok(Float(f64::INFINITY)),
                    "-inf" => Ok(Float(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        if d.is_human_readable() {
            d.deserialize_any(Visitor)
        } else {
            d.deserialize_f64(Visitor)
        }
    }
}

/// `#[serde(with)]` for an `f64` field.
mod float {
    use super::Float;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Float(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Float::deserialize(d)?.0)
    }
}

/// `#[serde(with)]` for an `Option<f64>` field.
mod opt_float {
    use super::Float;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Float).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Float>::deserialize(d)?.map(|f| f.0))
    }
}

/// `#[serde(with)]` for the epoch list: [`EpochMetrics`] with NaN-safe floats.
mod epochs {
    use super::Float;
    use crate::child::EpochMetrics;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The wire form of one [`EpochMetrics`]; same field names.
    #[derive(Serialize, Deserialize)]
    struct Epoch {
        epoch: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        train_loss: Option<Float>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        val_loss: Option<Float>,
        val_metric: Float,
        seconds: Float,
    }

    impl From<&EpochMetrics> for Epoch {
        fn from(m: &EpochMetrics) -> Epoch {
            // Destructured so that a new field in EpochMetrics fails to compile here.
            let EpochMetrics {
                epoch,
                train_loss,
                val_loss,
                val_metric,
                seconds,
            } = *m;
            Epoch {
                epoch,
                train_loss: train_loss.map(Float),
                val_loss: val_loss.map(Float),
                val_metric: Float(val_metric),
                seconds: Float(seconds),
            }
        }
    }

    pub fn serialize<S: Serializer>(v: &[EpochMetrics], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(Epoch::from))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EpochMetrics>, D::Error> {
        let wire = Vec::<Epoch>::deserialize(d)?;
        Ok(wire
            .into_iter()
            .map(|e| EpochMetrics {
                epoch: e.epoch,
                train_loss: e.train_loss.map(|f| f.0),
                val_loss: e.val_loss.map(|f| f.0),
                val_metric: e.val_metric.0,
                seconds: e.seconds.0,
            })
            .collect())
    }
}

/// The best distinct architectures: status ok or cached, highest reward
/// first (ties: lower id first), one record per architecture hash.
pub fn top_records(records: &[ChildRecord], top: usize) -> Vec<&ChildRecord> {
    let mut good: Vec<&ChildRecord> = records
        .iter()
        .filter(|r| matches!(r.status, ChildStatus::Ok | ChildStatus::Cached))
        .filter(|r| r.reward.is_finite())
        .collect();
    good.sort_by(|a, b| {
        b.reward
            .total_cmp(&a.reward)
            .then(a.spec.id.cmp(&b.spec.id))
    });
    let mut seen = std::collections::HashSet::new();
    good.retain(|r| seen.insert(r.spec.hash.as_str()));
    good.truncate(top);
    good
}
