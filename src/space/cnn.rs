//! The CNN search space (CIFAR-10): per layer filter height and width,
//! optional strides, number of filters, optional max pooling, then the skip
//! connections sampled at the layer's anchor point.

use serde::{Deserialize, Serialize};

use super::config::CnnSpaceConfig;
use super::{Head, Schema, SpaceError, Step};

/// One convolutional layer: conv → batch norm → ReLU (→ max pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnLayer {
    pub filter_height: usize,
    pub filter_width: usize,
    pub stride_height: usize,
    pub stride_width: usize,
    pub num_filters: usize,
    /// Max pooling after the layer (paper v3).
    pub max_pool: bool,
    /// Earlier layers whose outputs are concatenated as this layer's input
    /// (sorted); empty = the image.
    pub inputs: Vec<usize>,
}

/// A CNN: its layers in order; every output no layer consumes goes to the classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnArch {
    pub layers: Vec<CnnLayer>,
}

impl CnnArch {
    /// Inputs sorted and without repeats; everything else is already canonical.
    pub fn canonical(&self) -> CnnArch {
        let mut a = self.clone();
        for l in &mut a.layers {
            l.inputs.sort_unstable();
            l.inputs.dedup();
        }
        a
    }

    /// Layers whose output no later layer consumes (they feed the classifier).
    pub fn outputs(&self) -> Vec<usize> {
        let mut used = vec![false; self.layers.len()];
        for l in &self.layers {
            for &j in &l.inputs {
                if j < used.len() {
                    used[j] = true;
                }
            }
        }
        (0..self.layers.len()).filter(|&i| !used[i]).collect()
    }

    /// e.g. `3 layers: 0:3x3x36 1:5x5x48/s2<-[0] 2:1x7x24+pool<-[0,1] → [2]`.
    pub fn describe(&self) -> String {
        let layers: Vec<String> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut s = format!(
                    "{i}:{}x{}x{}",
                    l.filter_height, l.filter_width, l.num_filters
                );
                if l.stride_height != 1 || l.stride_width != 1 {
                    s += &format!("/s{}x{}", l.stride_height, l.stride_width);
                }
                if l.max_pool {
                    s += "+pool";
                }
                if !l.inputs.is_empty() {
                    let ins: Vec<String> = l.inputs.iter().map(|j| j.to_string()).collect();
                    s += &format!("<-[{}]", ins.join(","));
                }
                s
            })
            .collect();
        let outs: Vec<String> = self.outputs().iter().map(|j| j.to_string()).collect();
        format!(
            "{} layers: {} → [{}]",
            self.layers.len(),
            layers.join(" "),
            outs.join(",")
        )
    }
}

/// Head indices of the CNN space (only the enabled ones exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heads {
    filter_height: usize,
    filter_width: usize,
    stride_height: Option<usize>,
    stride_width: Option<usize>,
    num_filters: usize,
    pool: Option<usize>,
}

/// The configured CNN space.
#[derive(Debug, Clone, PartialEq)]
pub struct CnnSpace {
    config: CnnSpaceConfig,
    heads: Heads,
}

impl CnnSpace {
    pub fn new(config: CnnSpaceConfig) -> CnnSpace {
        let mut next = 0;
        let mut take = |on: bool| {
            on.then(|| {
                next += 1;
                next - 1
            })
        };
        let filter_height = take(true).unwrap_or(0);
        let filter_width = take(true).unwrap_or(1);
        let stride_height = take(config.predict_strides);
        let stride_width = take(config.predict_strides);
        let num_filters = take(true).unwrap_or(0);
        let pool = take(config.predict_pooling);
        CnnSpace {
            heads: Heads {
                filter_height,
                filter_width,
                stride_height,
                stride_width,
                num_filters,
                pool,
            },
            config,
        }
    }

    pub fn config(&self) -> &CnnSpaceConfig {
        &self.config
    }

    /// filter_height, filter_width, [stride_height, stride_width], num_filters, [pool].
    pub fn heads(&self) -> Vec<Head> {
        let c = &self.config;
        let mut heads = vec![
            Head {
                name: "filter_height".into(),
                size: c.filter_heights.len(),
            },
            Head {
                name: "filter_width".into(),
                size: c.filter_widths.len(),
            },
        ];
        if c.predict_strides {
            heads.push(Head {
                name: "stride_height".into(),
                size: c.strides.len(),
            });
            heads.push(Head {
                name: "stride_width".into(),
                size: c.strides.len(),
            });
        }
        heads.push(Head {
            name: "num_filters".into(),
            size: c.num_filters.len(),
        });
        if c.predict_pooling {
            heads.push(Head {
                name: "max_pool".into(),
                size: 2,
            });
        }
        heads
    }

    /// The schema for `layers` layers.
    pub fn schema(&self, layers: usize) -> Schema {
        let h = self.heads;
        let mut steps = Vec::new();
        for layer in 0..layers {
            steps.push(Step::Choice {
                head: h.filter_height,
            });
            steps.push(Step::Choice {
                head: h.filter_width,
            });
            for head in [h.stride_height, h.stride_width].into_iter().flatten() {
                steps.push(Step::Choice { head });
            }
            steps.push(Step::Choice {
                head: h.num_filters,
            });
            if let Some(head) = h.pool {
                steps.push(Step::Choice { head });
            }
            if self.config.skip_connections {
                steps.push(Step::Anchor { layer });
            }
        }
        Schema {
            heads: self.heads(),
            steps,
        }
    }

    fn per_layer_choices(&self) -> usize {
        2 + 2 * usize::from(self.config.predict_strides)
            + 1
            + usize::from(self.config.predict_pooling)
    }

    /// Tokens of an architecture with `layers` layers.
    fn token_count(&self, layers: usize) -> usize {
        let skips = if self.config.skip_connections {
            layers * layers.saturating_sub(1) / 2
        } else {
            0
        };
        layers * self.per_layer_choices() + skips
    }

    /// The schema whose sequences have `len` tokens.
    pub fn schema_for_len(&self, len: usize) -> Result<Schema, SpaceError> {
        let mut layers = 1;
        while self.token_count(layers) < len {
            layers += 1;
        }
        if self.token_count(layers) == len {
            Ok(self.schema(layers))
        } else {
            Err(SpaceError::WrongLength {
                expected: self.token_count(self.config.layers),
                got: len,
            })
        }
    }

    /// Decode tokens (any layer count the length fits).
    pub fn decode(&self, tokens: &[usize]) -> Result<CnnArch, SpaceError> {
        let schema = self.schema_for_len(tokens.len())?;
        schema.check(tokens)?;
        let c = &self.config;
        let h = self.heads;
        let mut layers: Vec<CnnLayer> = Vec::new();
        let mut pos = 0;
        let mut current: Option<CnnLayer> = None;
        let next = |pos: &mut usize| {
            *pos += 1;
            tokens[*pos - 1]
        };
        for step in &schema.steps {
            match *step {
                Step::Choice { head } => {
                    let t = next(&mut pos);
                    if head == h.filter_height {
                        if let Some(l) = current.take() {
                            layers.push(l);
                        }
                        let i = layers.len();
                        current = Some(CnnLayer {
                            filter_height: c.filter_heights[t],
                            filter_width: 1,
                            stride_height: 1,
                            stride_width: 1,
                            num_filters: 0,
                            max_pool: false,
                            inputs: if c.skip_connections || i == 0 {
                                vec![]
                            } else {
                                vec![i - 1]
                            },
                        });
                    } else if let Some(l) = current.as_mut() {
                        if head == h.filter_width {
                            l.filter_width = c.filter_widths[t];
                        } else if Some(head) == h.stride_height {
                            l.stride_height = c.strides[t];
                        } else if Some(head) == h.stride_width {
                            l.stride_width = c.strides[t];
                        } else if head == h.num_filters {
                            l.num_filters = c.num_filters[t];
                        } else if Some(head) == h.pool {
                            l.max_pool = t == 1;
                        }
                    }
                }
                Step::Anchor { layer } => {
                    let inputs: Vec<usize> = (0..layer).filter(|_| next(&mut pos) == 1).collect();
                    if let Some(l) = current.as_mut() {
                        l.inputs = inputs;
                    }
                }
            }
        }
        if let Some(l) = current.take() {
            layers.push(l);
        }
        Ok(CnnArch { layers })
    }

    /// Encode an architecture; errors name what does not fit the space.
    pub fn encode(&self, arch: &CnnArch) -> Result<Vec<usize>, SpaceError> {
        let c = &self.config;
        let n = arch.layers.len();
        if n == 0 {
            return Err(SpaceError::Mismatch("the CNN has no layers".into()));
        }
        let allowed = match &c.growth {
            None => n == c.layers,
            Some(g) => {
                let max = g.max_layers.unwrap_or(c.layers).max(g.start_layers);
                n >= g.start_layers
                    && n <= max
                    && (n - g.start_layers).is_multiple_of(g.add_layers.max(1))
            }
        };
        if !allowed {
            return Err(SpaceError::Mismatch(format!(
                "{n} layers, but space.cnn allows {}",
                match &c.growth {
                    None => format!("exactly {}", c.layers),
                    Some(g) => format!(
                        "{} + {}·k up to {}",
                        g.start_layers,
                        g.add_layers,
                        g.max_layers.unwrap_or(c.layers)
                    ),
                }
            )));
        }
        fn index(list: &[usize], v: usize, what: &str, layer: usize) -> Result<usize, SpaceError> {
            list.iter().position(|&x| x == v).ok_or_else(|| {
                SpaceError::Mismatch(format!("layer {layer}: {what} {v} is not one of {list:?}"))
            })
        }
        let mut tokens = Vec::with_capacity(self.token_count(n));
        for (i, l) in arch.layers.iter().enumerate() {
            tokens.push(index(
                &c.filter_heights,
                l.filter_height,
                "filter_height",
                i,
            )?);
            tokens.push(index(&c.filter_widths, l.filter_width, "filter_width", i)?);
            if c.predict_strides {
                tokens.push(index(&c.strides, l.stride_height, "stride_height", i)?);
                tokens.push(index(&c.strides, l.stride_width, "stride_width", i)?);
            } else if l.stride_height != 1 || l.stride_width != 1 {
                return Err(SpaceError::Mismatch(format!(
                    "layer {i} has strides {}x{} but space.cnn.predict_strides is false",
                    l.stride_height, l.stride_width
                )));
            }
            tokens.push(index(&c.num_filters, l.num_filters, "num_filters", i)?);
            if c.predict_pooling {
                tokens.push(usize::from(l.max_pool));
            } else if l.max_pool {
                return Err(SpaceError::Mismatch(format!(
                    "layer {i} has max pooling but space.cnn.predict_pooling is false"
                )));
            }
            if let Some(&j) = l.inputs.iter().find(|&&j| j >= i) {
                return Err(SpaceError::Mismatch(format!(
                    "layer {i} takes input from layer {j}; inputs must be earlier layers"
                )));
            }
            if c.skip_connections {
                tokens.extend((0..i).map(|j| usize::from(l.inputs.contains(&j))));
            } else {
                let chain: Vec<usize> = if i == 0 { vec![] } else { vec![i - 1] };
                if l.inputs != chain {
                    return Err(SpaceError::Mismatch(format!(
                        "layer {i} has inputs {:?} but space.cnn.skip_connections is false (a plain chain)",
                        l.inputs
                    )));
                }
            }
        }
        Ok(tokens)
    }
}
