//! The recurrent-cell search space (Penn Treebank): a binary tree with
//! `base` leaves; each node has a combination and an activation; "cell
//! inject" merges c_{t-1} into one node; "cell indices" choose that node and
//! the node whose pre-activation becomes c_t.
//!
//! Node numbering: leaves are 0..base, then each level above them in order;
//! node `base + j` at the level above has children `2j` and `2j + 1` of the
//! level below (for base 2: leaves 0 and 1, root 2). The root is the last node.
//!
//! Token order (the paper's Figure 4 generalised): for every node in index
//! order its [combination, activation]; right after the leaves the cell
//! inject [combination, activation]; at the end the cell indices
//! [inject node, c_t node].
//!
//! Semantics (one time step), for node k with pre-activation `pre_k`:
//! - leaf: `pre_k = W_k x_t ⊕ U_k h_{t-1}`; inner: `pre_k = left ⊕ right`;
//! - `out_k = act_k(pre_k)`; for the inject node `out_k ← act_inj(out_k ⊕_inj c_{t-1})`;
//! - `c_t = pre_{c_node}`; `h_t = out_root`.

use serde::{Deserialize, Serialize};

use super::config::CellSpaceConfig;
pub use super::config::{Activation, Combination};
use super::{Head, Schema, SpaceError, Step};

/// A combination and an activation (a tree node, or the cell inject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellNode {
    pub combination: Combination,
    pub activation: Activation,
}

/// A recurrent cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellArch {
    /// Number of leaves (a power of two).
    pub base: usize,
    /// All `2·base − 1` nodes in index order (leaves first, root last).
    pub nodes: Vec<CellNode>,
    /// How c_{t-1} is merged into `inject_node`.
    pub inject: CellNode,
    /// The node that receives c_{t-1}.
    pub inject_node: usize,
    /// The node whose pre-activation becomes c_t.
    pub cell_node: usize,
}

/// Number of nodes of a tree with `base` leaves.
pub fn num_nodes(base: usize) -> usize {
    2 * base - 1
}

/// The two children of inner node `k` of a tree with `base` leaves (None for a leaf).
pub fn children(base: usize, k: usize) -> Option<(usize, usize)> {
    if k < base {
        return None;
    }
    // Find k's level: level 0 starts at 0 with `base` nodes, level l+1 starts after level l.
    let (mut start, mut width) = (0, base);
    while k >= start + width {
        start += width;
        width /= 2;
    }
    let j = k - start;
    let below = start - width * 2;
    Some((below + 2 * j, below + 2 * j + 1))
}

impl CellArch {
    /// The root (h_t).
    pub fn root(&self) -> usize {
        num_nodes(self.base) - 1
    }

    /// Canonical form: at every node, the two subtrees are ordered by their
    /// canonical description (every combination is commutative, and leaves
    /// have their own weights), with the cell indices renumbered to match.
    pub fn canonical(&self) -> CellArch {
        if self.nodes.len() != num_nodes(self.base) {
            return self.clone();
        }
        let (_, levels) = self.canonical_subtree(self.root());
        let order: Vec<usize> = levels.into_iter().flatten().collect();
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        CellArch {
            base: self.base,
            nodes: order.iter().map(|&old| self.nodes[old]).collect(),
            inject: self.inject,
            inject_node: new_index
                .get(self.inject_node)
                .copied()
                .unwrap_or(self.inject_node),
            cell_node: new_index
                .get(self.cell_node)
                .copied()
                .unwrap_or(self.cell_node),
        }
    }

    /// (description, original node ids per level from the leaves up) of the subtree at `k`.
    fn canonical_subtree(&self, k: usize) -> (String, Vec<Vec<usize>>) {
        let n = self.nodes[k];
        let mut label = format!("{}/{}", n.combination.name(), n.activation.name());
        if k == self.inject_node {
            label += "!inj";
        }
        if k == self.cell_node {
            label += "!c";
        }
        match children(self.base, k) {
            None => (format!("L({label})"), vec![vec![k]]),
            Some((a, b)) => {
                let mut first = self.canonical_subtree(a);
                let mut second = self.canonical_subtree(b);
                if second.0 < first.0 {
                    std::mem::swap(&mut first, &mut second);
                }
                let mut levels: Vec<Vec<usize>> = first
                    .1
                    .into_iter()
                    .zip(second.1)
                    .map(|(mut x, y)| {
                        x.extend(y);
                        x
                    })
                    .collect();
                levels.push(vec![k]);
                (format!("N({label})[{},{}]", first.0, second.0), levels)
            }
        }
    }

    /// e.g. `base 2: n0=tanh(add) n1=relu(mul) n2=sigmoid(mul) inject relu(add)→n0 c_t=pre(n1)`.
    pub fn describe(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("n{i}={}({})", n.activation.name(), n.combination.name()))
            .collect();
        format!(
            "base {}: {} inject {}({})→n{} c_t=pre(n{})",
            self.base,
            nodes.join(" "),
            self.inject.activation.name(),
            self.inject.combination.name(),
            self.inject_node,
            self.cell_node
        )
    }
}

/// The configured cell space.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSpace {
    config: CellSpaceConfig,
}

/// Head indices of the cell space.
pub const NODE_COMBINATION: usize = 0;
pub const NODE_ACTIVATION: usize = 1;
pub const INJECT_COMBINATION: usize = 2;
pub const INJECT_ACTIVATION: usize = 3;
pub const INJECT_NODE: usize = 4;
pub const CELL_NODE: usize = 5;

impl CellSpace {
    pub fn new(config: CellSpaceConfig) -> CellSpace {
        CellSpace { config }
    }

    pub fn config(&self) -> &CellSpaceConfig {
        &self.config
    }

    pub fn heads(&self) -> Vec<Head> {
        let nodes = num_nodes(self.config.base);
        vec![
            Head {
                name: "node_combination".into(),
                size: self.config.combinations.len(),
            },
            Head {
                name: "node_activation".into(),
                size: self.config.activations.len(),
            },
            Head {
                name: "inject_combination".into(),
                size: self.config.combinations.len(),
            },
            Head {
                name: "inject_activation".into(),
                size: self.config.activations.len(),
            },
            Head {
                name: "inject_node".into(),
                size: nodes,
            },
            Head {
                name: "cell_node".into(),
                size: nodes,
            },
        ]
    }

    pub fn schema(&self) -> Schema {
        let base = self.config.base;
        let mut steps = Vec::new();
        for k in 0..num_nodes(base) {
            steps.push(Step::Choice {
                head: NODE_COMBINATION,
            });
            steps.push(Step::Choice {
                head: NODE_ACTIVATION,
            });
            if k + 1 == base {
                steps.push(Step::Choice {
                    head: INJECT_COMBINATION,
                });
                steps.push(Step::Choice {
                    head: INJECT_ACTIVATION,
                });
            }
        }
        steps.push(Step::Choice { head: INJECT_NODE });
        steps.push(Step::Choice { head: CELL_NODE });
        Schema {
            heads: self.heads(),
            steps,
        }
    }

    pub fn decode(&self, tokens: &[usize]) -> Result<CellArch, SpaceError> {
        self.schema().check(tokens)?;
        let base = self.config.base;
        let c = &self.config.combinations;
        let a = &self.config.activations;
        let mut it = tokens.iter().copied();
        let mut next = || it.next().unwrap_or(0);
        let mut nodes = Vec::with_capacity(num_nodes(base));
        let mut inject = None;
        for k in 0..num_nodes(base) {
            let combination = c[next()];
            let activation = a[next()];
            nodes.push(CellNode {
                combination,
                activation,
            });
            if k + 1 == base {
                let combination = c[next()];
                let activation = a[next()];
                inject = Some(CellNode {
                    combination,
                    activation,
                });
            }
        }
        let inject = inject.unwrap_or(nodes[0]);
        let inject_node = next();
        let cell_node = next();
        Ok(CellArch {
            base,
            nodes,
            inject,
            inject_node,
            cell_node,
        })
    }

    pub fn encode(&self, arch: &CellArch) -> Result<Vec<usize>, SpaceError> {
        let base = self.config.base;
        if arch.base != base {
            return Err(SpaceError::Mismatch(format!(
                "the cell has base {} but space.cell.base is {base}",
                arch.base
            )));
        }
        let n = num_nodes(base);
        if arch.nodes.len() != n {
            return Err(SpaceError::Mismatch(format!(
                "a base-{base} cell has {n} nodes, the architecture lists {}",
                arch.nodes.len()
            )));
        }
        for (what, k) in [
            ("inject_node", arch.inject_node),
            ("cell_node", arch.cell_node),
        ] {
            if k >= n {
                return Err(SpaceError::Mismatch(format!(
                    "{what} is {k}, but the nodes are numbered 0..{}",
                    n - 1
                )));
            }
        }
        let comb = |x: Combination, at: &str| {
            self.config
                .combinations
                .iter()
                .position(|&y| y == x)
                .ok_or_else(|| {
                    SpaceError::Mismatch(format!(
                        "{at}: combination {} is not in space.cell.combinations",
                        x.name()
                    ))
                })
        };
        let act = |x: Activation, at: &str| {
            self.config
                .activations
                .iter()
                .position(|&y| y == x)
                .ok_or_else(|| {
                    SpaceError::Mismatch(format!(
                        "{at}: activation {} is not in space.cell.activations",
                        x.name()
                    ))
                })
        };
        let mut tokens = Vec::with_capacity(self.schema().num_tokens());
        for (k, node) in arch.nodes.iter().enumerate() {
            let at = format!("node {k}");
            tokens.push(comb(node.combination, &at)?);
            tokens.push(act(node.activation, &at)?);
            if k + 1 == base {
                tokens.push(comb(arch.inject.combination, "cell inject")?);
                tokens.push(act(arch.inject.activation, "cell inject")?);
            }
        }
        tokens.push(arch.inject_node);
        tokens.push(arch.cell_node);
        Ok(tokens)
    }
}
