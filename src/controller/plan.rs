//! A schema checked against the controller's heads and laid out for the LSTM:
//! one [`PlanStep`] per LSTM step, with where its tokens sit in a sequence.

use super::ControllerError;
use crate::space::{Head, Schema, Step};

/// Row of the `start` embedding in the controller's input table.
pub(crate) const START_ROW: i64 = 0;
/// Row of the `anchor` embedding in the controller's input table.
pub(crate) const ANCHOR_ROW: i64 = 1;

/// One LSTM step of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanStep {
    /// A categorical decision of head `head`; its token is at `pos`.
    Choice { head: usize, pos: usize },
    /// The anchor of layer `layer`; its `layer` skip tokens start at `pos`.
    Anchor { layer: usize, pos: usize },
}

/// A schema the controller can run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub steps: Vec<PlanStep>,
    pub num_tokens: usize,
    /// Number of anchors (CNN layers with skip decisions).
    pub anchors: usize,
}

impl Plan {
    /// Check `schema` against the controller's `heads` and lay it out.
    pub fn new(schema: &Schema, heads: &[Head]) -> Result<Plan, ControllerError> {
        if schema.heads.len() != heads.len()
            || schema
                .heads
                .iter()
                .zip(heads)
                .any(|(a, b)| a.size != b.size)
        {
            return Err(ControllerError::Schema(format!(
                "the schema's heads {} differ from the controller's heads {}; build the controller \
                 from the same space config",
                describe(&schema.heads),
                describe(heads)
            )));
        }
        let mut steps = Vec::with_capacity(schema.steps.len());
        let mut pos = 0;
        let mut anchors = 0;
        for step in &schema.steps {
            match *step {
                Step::Choice { head } => {
                    if head >= heads.len() {
                        return Err(ControllerError::Schema(format!(
                            "a step uses head {head}, but there are only {} heads",
                            heads.len()
                        )));
                    }
                    steps.push(PlanStep::Choice { head, pos });
                    pos += 1;
                }
                Step::Anchor { layer } => {
                    if layer != anchors {
                        return Err(ControllerError::Schema(format!(
                            "anchor of layer {layer} where the anchor of layer {anchors} was \
                             expected; anchors must come in layer order"
                        )));
                    }
                    steps.push(PlanStep::Anchor { layer, pos });
                    pos += layer;
                    anchors += 1;
                }
            }
        }
        Ok(Plan {
            steps,
            num_tokens: pos,
            anchors,
        })
    }

    /// Rows of every LSTM step's input in the input table, step-major
    /// (`rows[t * n + k]` for sequence `k` of `batch` at step `t`), given the
    /// row of each head's first embedding (`head_rows`).
    ///
    /// Step 0 reads `start`; a step after a choice reads that token's
    /// embedding; a step after an anchor reads `anchor`.
    pub fn input_rows(&self, head_rows: &[i64], batch: &[Vec<usize>]) -> Vec<i64> {
        let n = batch.len();
        let mut rows = Vec::with_capacity(self.steps.len() * n);
        if self.steps.is_empty() {
            return rows;
        }
        rows.extend(std::iter::repeat_n(START_ROW, n));
        for step in &self.steps[..self.steps.len() - 1] {
            match *step {
                PlanStep::Choice { head, pos } => {
                    rows.extend(batch.iter().map(|seq| head_rows[head] + seq[pos] as i64))
                }
                PlanStep::Anchor { .. } => rows.extend(std::iter::repeat_n(ANCHOR_ROW, n)),
            }
        }
        rows
    }
}

fn describe(heads: &[Head]) -> String {
    let parts: Vec<String> = heads
        .iter()
        .map(|h| format!("{}:{}", h.name, h.size))
        .collect();
    format!("[{}]", parts.join(", "))
}
