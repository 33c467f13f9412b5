//! The CNN child of a [`CnnArch`]: each layer is conv ("same" padding) → batch
//! norm → ReLU (→ max pooling); a layer's inputs are the depth concatenation of
//! the layers it names (zero-padded bottom/right to the largest spatial size),
//! or the image when it names none; every output no layer consumes is
//! concatenated the same way, averaged over space and classified by a linear layer.
//!
//! Convolutions have no bias: the batch norm that follows has its own shift.
//!
//! A child is either built with variables of its own ([`CnnChild::new`]) or
//! from tensors given to it ([`CnnChild::from_weights`]: a supernet's
//! slices, see [`crate::child::cnn_supernet`]); the forward pass is the same.

use tch::{nn, nn::ModuleT, TchError, Tensor};

use crate::space::CnnArch;

/// The batch norm after a convolution.
#[derive(Debug)]
enum Norm {
    /// With running statistics, used outside training (a child of its own).
    Tracked(nn::BatchNorm),
    /// Always the batch's own statistics, with the given scale and shift
    /// (a child under shared weights, whose running statistics would mix
    /// every architecture's).
    Batch {
        weight: Tensor,
        bias: Tensor,
        eps: f64,
    },
}

impl Norm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        match self {
            Norm::Tracked(bn) => Ok(bn.forward_t(xs, train)),
            Norm::Batch { weight, bias, eps } => xs.f_batch_norm(
                Some(weight),
                Some(bias),
                None::<&Tensor>,
                None::<&Tensor>,
                true,
                0.1,
                *eps,
                false,
            ),
        }
    }
}

/// The tensors of one layer of [`CnnChild::from_weights`].
#[derive(Debug)]
pub struct LayerWeights {
    /// `[num_filters, in_channels, filter_height, filter_width]`, the input
    /// channels in the order of the layer's inputs (the image when none).
    pub conv: Tensor,
    /// Batch-norm scale and shift, `[num_filters]` each.
    pub bn_weight: Tensor,
    pub bn_bias: Tensor,
}

/// One conv → BN → ReLU (→ pool) layer.
#[derive(Debug)]
struct ConvLayer {
    /// `[num_filters, in_channels, filter_height, filter_width]`.
    weight: Tensor,
    bn: Norm,
    kernel: [i64; 2],
    stride: [i64; 2],
    max_pool: bool,
    inputs: Vec<usize>,
}

/// A CNN child network.
#[derive(Debug)]
pub struct CnnChild {
    layers: Vec<ConvLayer>,
    outputs: Vec<usize>,
    classifier: nn::Linear,
    pool_size: i64,
}

/// Input channels of every layer: the image's when it has no inputs, else the
/// sum of its inputs' filters.
fn in_channels(arch: &CnnArch, channels: usize) -> Vec<usize> {
    arch.layers
        .iter()
        .map(|l| {
            if l.inputs.is_empty() {
                channels
            } else {
                l.inputs
                    .iter()
                    .map(|&j| arch.layers.get(j).map_or(0, |x| x.num_filters))
                    .sum()
            }
        })
        .collect()
}

/// Channels the classifier sees: the concatenated outputs (the image's when there are no layers).
fn feature_channels(arch: &CnnArch, channels: usize) -> usize {
    if arch.layers.is_empty() {
        return channels;
    }
    arch.outputs()
        .iter()
        .map(|&j| arch.layers[j].num_filters)
        .sum()
}

/// Trainable parameters of the CNN child, computed from the architecture alone:
/// per layer `in·fh·fw·filters` (conv) + `2·filters` (BN), then `features·classes + classes`.
pub fn param_count(arch: &CnnArch, channels: usize, classes: usize) -> usize {
    let convs: usize = arch
        .layers
        .iter()
        .zip(in_channels(arch, channels))
        .map(|(l, cin)| cin * l.filter_height * l.filter_width * l.num_filters + 2 * l.num_filters)
        .sum();
    convs + feature_channels(arch, channels) * classes + classes
}

/// Padding (before, after) that makes a convolution's output `ceil(size / stride)`.
fn same_padding(size: i64, kernel: i64, stride: i64) -> (i64, i64) {
    let out = (size + stride - 1) / stride;
    let total = ((out - 1) * stride + kernel - size).max(0);
    (total / 2, total - total / 2)
}

/// Zero-pad every tensor bottom/right to the largest height and width, then
/// concatenate along depth. `[N, C_i, H_i, W_i]` → `[N, ΣC_i, max H, max W]`.
fn pad_concat(xs: &[Tensor]) -> Result<Tensor, TchError> {
    if xs.len() == 1 {
        return Ok(xs[0].shallow_clone());
    }
    let h = xs.iter().map(|x| x.size()[2]).max().unwrap_or(0);
    let w = xs.iter().map(|x| x.size()[3]).max().unwrap_or(0);
    let padded = xs
        .iter()
        .map(|x| {
            let s = x.size();
            if s[2] == h && s[3] == w {
                Ok(x.shallow_clone())
            } else {
                x.f_constant_pad_nd([0, w - s[3], 0, h - s[2]])
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tensor::f_cat(&padded, 1)
}

impl ConvLayer {
    fn of(l: &crate::space::CnnLayer, weight: Tensor, bn: Norm) -> ConvLayer {
        ConvLayer {
            weight,
            bn,
            kernel: [l.filter_height as i64, l.filter_width as i64],
            stride: [l.stride_height as i64, l.stride_width as i64],
            max_pool: l.max_pool,
            inputs: l.inputs.clone(),
        }
    }

    /// `[N, C_in, H, W]` → `[N, filters, ⌈H/sh⌉, ⌈W/sw⌉]` (pooled: `⌈·/pool⌉` again).
    fn forward_t(&self, xs: &Tensor, train: bool, pool: i64) -> Result<Tensor, TchError> {
        let s = xs.size();
        let (top, bottom) = same_padding(s[2], self.kernel[0], self.stride[0]);
        let (left, right) = same_padding(s[3], self.kernel[1], self.stride[1]);
        let conv = if top == bottom && left == right {
            xs.f_conv2d(
                &self.weight,
                None::<Tensor>,
                self.stride,
                [top, left],
                [1, 1],
                1,
            )?
        } else {
            xs.f_constant_pad_nd([left, right, top, bottom])?.f_conv2d(
                &self.weight,
                None::<Tensor>,
                self.stride,
                [0, 0],
                [1, 1],
                1,
            )?
        };
        let ys = self.bn.forward_t(&conv, train)?.f_relu()?;
        if !self.max_pool {
            return Ok(ys);
        }
        // Values are ≥ 0 after the ReLU, so zero padding up to one window never changes a max.
        let s = ys.size();
        let ys = if s[2] < pool || s[3] < pool {
            ys.f_constant_pad_nd([0, (pool - s[3]).max(0), 0, (pool - s[2]).max(0)])?
        } else {
            ys
        };
        ys.f_max_pool2d([pool, pool], [pool, pool], [0, 0], [1, 1], true)
    }
}

impl CnnChild {
    /// Build the network for images with `channels` channels and `classes` classes.
    /// Variables: `layer{i}.conv.weight`, `layer{i}.bn.{weight,bias}` (+ running stats),
    /// `classifier.{weight,bias}`. tch's initialisation is replaced by
    /// [`init_cnn_params`](super::init_cnn_params) in training.
    pub fn new(
        p: &nn::Path,
        arch: &CnnArch,
        channels: usize,
        classes: usize,
        pool_size: usize,
        bn_eps: f64,
    ) -> CnnChild {
        let bn_config = nn::BatchNormConfig {
            eps: bn_eps,
            ..Default::default()
        };
        let layers = arch
            .layers
            .iter()
            .zip(in_channels(arch, channels))
            .enumerate()
            .map(|(i, (l, cin))| {
                let lp = p / format!("layer{i}");
                let kernel = [l.filter_height as i64, l.filter_width as i64];
                let shape = [l.num_filters as i64, cin as i64, kernel[0], kernel[1]];
                ConvLayer::of(
                    l,
                    (&lp / "conv").var("weight", &shape, nn::Init::Const(0.0)),
                    Norm::Tracked(nn::batch_norm2d(
                        &lp / "bn",
                        l.num_filters as i64,
                        bn_config,
                    )),
                )
            })
            .collect();
        let features = feature_channels(arch, channels) as i64;
        CnnChild {
            layers,
            outputs: arch.outputs(),
            classifier: nn::linear(
                p / "classifier",
                features,
                classes as i64,
                Default::default(),
            ),
            pool_size: pool_size.max(1) as i64,
        }
    }

    /// The network of `arch` with the given tensors (one [`LayerWeights`]
    /// per layer, and the classifier over the concatenated outputs): no
    /// variables of its own, so gradients reach whatever the tensors were
    /// sliced from. Its batch norms always use the batch's statistics.
    pub fn from_weights(
        arch: &CnnArch,
        layers: Vec<LayerWeights>,
        classifier: nn::Linear,
        pool_size: usize,
        bn_eps: f64,
    ) -> CnnChild {
        let layers = arch
            .layers
            .iter()
            .zip(layers)
            .map(|(l, w)| {
                ConvLayer::of(
                    l,
                    w.conv,
                    Norm::Batch {
                        weight: w.bn_weight,
                        bias: w.bn_bias,
                        eps: bn_eps,
                    },
                )
            })
            .collect();
        CnnChild {
            layers,
            outputs: arch.outputs(),
            classifier,
            pool_size: pool_size.max(1) as i64,
        }
    }

    /// Standardised images `[N, C, H, W]` → logits `[N, classes]`.
    /// `train` selects batch statistics (and updates the running ones).
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let input = if layer.inputs.is_empty() {
                images.shallow_clone()
            } else {
                let xs: Vec<Tensor> = layer
                    .inputs
                    .iter()
                    .map(|&j| outs[j].shallow_clone())
                    .collect();
                pad_concat(&xs)?
            };
            outs.push(layer.forward_t(&input, train, self.pool_size)?);
        }
        let finals: Vec<Tensor> = if self.layers.is_empty() {
            vec![images.shallow_clone()]
        } else {
            self.outputs
                .iter()
                .map(|&j| outs[j].shallow_clone())
                .collect()
        };
        let features = pad_concat(&finals)?.f_mean_dim([2i64, 3].as_slice(), false, None)?;
        features.f_linear(&self.classifier.ws, self.classifier.bs.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::same_padding;

    #[test]
    fn same_padding_gives_ceil_of_size_over_stride() {
        for size in 1..12i64 {
            for kernel in 1..8i64 {
                for stride in 1..4i64 {
                    let (a, b) = same_padding(size, kernel, stride);
                    let out = (size + a + b - kernel) / stride + 1;
                    assert_eq!(
                        out,
                        (size + stride - 1) / stride,
                        "{size} {kernel} {stride}"
                    );
                    assert!(b - a == 0 || b - a == 1);
                }
            }
        }
    }
}
