"""A convolutional network found by neural architecture search (nas-actor export).

@SOURCE@
Network: @DESCRIPTION@

Self-contained: needs only PyTorch. `NasCnn` has the same parameter and
buffer names and shapes as the tch model, so the weights that
`nas-actor retrain` saves (final.safetensors) load with
`NasCnn.from_safetensors(path)` (call `.eval()` to use the batch-norm
running statistics).

Each layer: convolution ("same" padding: output size ceil(size / stride), no
bias) -> batch norm -> ReLU (-> max pooling, window and stride POOL_SIZE,
ceil mode). A layer's input is the depth concatenation of the layers it names
(zero-padded bottom/right to the largest height and width), or the image when
it names none; every output no layer consumes is concatenated the same way,
averaged over space and classified by a linear layer.

Input: images standardised per channel as training did them. `preprocess`
does it: pixels in [0, 1] (uint8 images are divided by 255) minus MEAN,
divided by STD, per channel -- the training split's statistics, which
`nas-actor retrain` records in final.json:

    model = NasCnn.from_safetensors("RUN_DIR/final.safetensors").eval()
    logits = model(preprocess(images))  # images [N, C, H, W]

Parameter names: layer{i}.conv.weight [filters, in, fh, fw],
layer{i}.bn.{weight, bias, running_mean, running_var}, classifier.{weight, bias}.
"""

import json
import struct

import torch
import torch.nn.functional as F
from torch import nn

# Per layer: (filter_height, filter_width, stride_height, stride_width,
#             num_filters, max_pool, inputs).
LAYERS = [
@LAYERS@
]
# Layers whose output feeds the classifier.
OUTPUTS = @OUTPUTS@
IN_CHANNELS = @CHANNELS@
NUM_CLASSES = @CLASSES@
POOL_SIZE = @POOL@
BN_EPS = @BN_EPS@
# Per-channel mean and std of the training images (pixels in [0, 1]), from
# final.json; None when the run was not retrained (then give them to preprocess).
MEAN = @MEAN@
STD = @STD@


def preprocess(images, mean=None, std=None):
    """Standardise images [N, C, H, W] as training did: float pixels in [0, 1]
    (uint8 ones are divided by 255 first), then (x - mean) / std per channel,
    with MEAN and STD unless `mean` and `std` are given."""
    mean = MEAN if mean is None else mean
    std = STD if std is None else std
    if mean is None or std is None:
        raise ValueError(
            "no image statistics recorded: run `nas-actor retrain` first (final.json "
            "keeps the training mean and std), or pass mean= and std="
        )
    if not torch.is_floating_point(images):
        images = images.float() / 255.0
    m = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - m) / s


def _same_padding(size, kernel, stride):
    """(before, after) padding that makes a convolution's output ceil(size / stride)."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_concat(xs):
    """Zero-pad bottom/right to the largest height and width, concatenate along depth."""
    if len(xs) == 1:
        return xs[0]
    h = max(x.shape[2] for x in xs)
    w = max(x.shape[3] for x in xs)
    return torch.cat([F.pad(x, (0, w - x.shape[3], 0, h - x.shape[2])) for x in xs], 1)


class ConvLayer(nn.Module):
    """conv ("same" padding) -> batch norm -> ReLU (-> max pool)."""

    def __init__(self, in_channels, spec, pool_size, bn_eps):
        super().__init__()
        fh, fw, sh, sw, filters, max_pool, _ = spec
        self.kernel = (fh, fw)
        self.stride = (sh, sw)
        self.max_pool = max_pool
        self.pool_size = pool_size
        self.conv = nn.Conv2d(in_channels, filters, (fh, fw), stride=(sh, sw), bias=False)
        self.bn = nn.BatchNorm2d(filters, eps=bn_eps, momentum=0.1)

    def forward(self, x):
        """[N, C_in, H, W] -> [N, filters, ceil(H/sh), ceil(W/sw)] (pooled: ceil(./pool) again)."""
        top, bottom = _same_padding(x.shape[2], self.kernel[0], self.stride[0])
        left, right = _same_padding(x.shape[3], self.kernel[1], self.stride[1])
        y = F.relu(self.bn(self.conv(F.pad(x, (left, right, top, bottom)))))
        if not self.max_pool:
            return y
        p = self.pool_size
        ph, pw = max(p - y.shape[2], 0), max(p - y.shape[3], 0)
        if ph or pw:
            y = F.pad(y, (0, pw, 0, ph))
        return F.max_pool2d(y, p, p, 0, 1, ceil_mode=True)


class NasCnn(nn.Module):
    """The searched network: images [N, C, H, W] -> logits [N, classes]."""

    def __init__(self, in_channels=IN_CHANNELS, num_classes=NUM_CLASSES,
                 pool_size=POOL_SIZE, bn_eps=BN_EPS):
        super().__init__()
        for i, spec in enumerate(LAYERS):
            inputs = spec[6]
            cin = in_channels if not inputs else sum(LAYERS[j][4] for j in inputs)
            self.add_module(f"layer{i}", ConvLayer(cin, spec, pool_size, bn_eps))
        features = sum(LAYERS[j][4] for j in OUTPUTS)
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, images):
        outs = []
        for i, spec in enumerate(LAYERS):
            inputs = spec[6]
            x = images if not inputs else _pad_concat([outs[j] for j in inputs])
            outs.append(getattr(self, f"layer{i}")(x))
        features = _pad_concat([outs[j] for j in OUTPUTS]).mean(dim=(2, 3))
        return self.classifier(features)

    @classmethod
    def from_safetensors(cls, path, **kwargs):
        """A NasCnn with the weights of `path`; channels and classes come from the file."""
        tensors = load_safetensors(path)
        kwargs.setdefault("in_channels", tensors["layer0.conv.weight"].shape[1])
        kwargs.setdefault("num_classes", tensors["classifier.weight"].shape[0])
        return load_weights(cls(**kwargs), path)

@COMMON@
