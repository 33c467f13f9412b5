"""PyTorch eager reference for `examples/bench_children.rs`.

Reads the JSON spec the example writes (models, sizes, steps, threads) and
times the same training steps the tch side times, on fixed random data after
warm-up: the plain LSTM language model, the searched-cell language model and
the CNN with skip connections. Prints one JSON line with seconds per step:
{"lstm": s, "cell": s, "cnn": s}.

The cell follows src/space/cell.rs: leaf k: pre_k = W_k x_t (+) U_k h_{t-1};
inner node: pre_k = left (+) right; out_k = act_k(pre_k); at the inject node
out_k <- act_inj(out_k (+)_inj c_{t-1}); c_t = pre_{cell_node}; h_t = out_root.
W_k / U_k are columns k*H..(k+1)*H of one input / recurrent weight; no biases.
The CNN follows src/child/cnn.rs: conv ("same" padding, no bias) -> batch
norm -> ReLU (-> max pool); inputs concatenated along depth after zero-padding
bottom/right to the largest size; unconsumed outputs concatenated, averaged
over space, linear classifier.

Usage: python bench/reference.py SPEC.json
"""

import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def children(base, k):
    """The two children of inner node k of a tree with `base` leaves (None for a leaf)."""
    if k < base:
        return None
    start, width = 0, base
    while k >= start + width:
        start += width
        width //= 2
    j = k - start
    below = start - width * 2
    return below + 2 * j, below + 2 * j + 1


def combine(name, a, b):
    if name == "add":
        return a + b
    if name == "elem_mult":
        return a * b
    if name == "max":
        return torch.maximum(a, b)
    raise ValueError(f"unknown combination {name}")


def activate(name, x):
    return {
        "identity": lambda v: v,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "sin": torch.sin,
    }[name](x)


class Cell(nn.Module):
    """One layer of the searched cell, with the fused projections of src/child/cell.rs."""

    def __init__(self, arch, input_size, hidden):
        super().__init__()
        self.arch, self.hidden = arch, hidden
        width = arch["base"] * hidden
        self.w_x = nn.Parameter(torch.empty(input_size, width).uniform_(-0.1, 0.1))
        self.w_h = nn.Parameter(torch.empty(hidden, width).uniform_(-0.1, 0.1))

    def forward(self, xs, state):
        steps, batch, _ = xs.shape
        projected = (xs.reshape(steps * batch, -1) @ self.w_x).view(steps, batch, -1)
        h, c = state
        outputs = []
        for t in range(steps):
            h, c = self.step(projected[t], h, c)
            outputs.append(h)
        return torch.stack(outputs, 0), (h, c)

    def step(self, x_proj, h_prev, c_prev):
        a, size = self.arch, self.hidden
        h_proj = h_prev @ self.w_h
        pre, out = [], []
        for k, node in enumerate(a["nodes"]):
            kids = children(a["base"], k)
            if kids is None:
                start = k * size
                p = combine(node["combination"], x_proj.narrow(1, start, size),
                            h_proj.narrow(1, start, size))
            else:
                p = combine(node["combination"], out[kids[0]], out[kids[1]])
            o = activate(node["activation"], p)
            if k == a["inject_node"]:
                inj = a["inject"]
                o = activate(inj["activation"], combine(inj["combination"], o, c_prev))
            pre.append(p)
            out.append(o)
        return out[-1], pre[a["cell_node"]]


class WordLm(nn.Module):
    """Embedding -> recurrent layers -> linear decoder (untied, dropout 0)."""

    def __init__(self, cfg, cell_arch=None):
        super().__init__()
        v, e, h = cfg["vocab"], cfg["embedding"], cfg["hidden"]
        self.encoder = nn.Parameter(torch.empty(v, e).uniform_(-0.1, 0.1))
        layers = []
        for i in range(cfg["layers"]):
            size_in = e if i == 0 else h
            if cell_arch is None:
                layers.append(nn.LSTM(size_in, h, 1))
            else:
                layers.append(Cell(cell_arch, size_in, h))
        self.layers = nn.ModuleList(layers)
        self.decoder = nn.Linear(h, v)
        self.hidden = h
        for p in self.parameters():
            nn.init.uniform_(p, -cfg["init_range"], cfg["init_range"])

    def zero_state(self, batch):
        return [(torch.zeros(batch, self.hidden), torch.zeros(batch, self.hidden))
                for _ in self.layers]

    def forward(self, tokens, state):
        xs = F.embedding(tokens, self.encoder)
        new = []
        for layer, (h, c) in zip(self.layers, state):
            if isinstance(layer, nn.LSTM):
                xs, (h2, c2) = layer(xs, (h.unsqueeze(0), c.unsqueeze(0)))
                new.append((h2.squeeze(0), c2.squeeze(0)))
            else:
                xs, s = layer(xs, (h, c))
                new.append(s)
        return self.decoder(xs), new


def same_padding(size, kernel, stride):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_concat(xs):
    if len(xs) == 1:
        return xs[0]
    h = max(x.shape[2] for x in xs)
    w = max(x.shape[3] for x in xs)
    return torch.cat([x if (x.shape[2], x.shape[3]) == (h, w)
                      else F.pad(x, (0, w - x.shape[3], 0, h - x.shape[2])) for x in xs], 1)


class Cnn(nn.Module):
    def __init__(self, arch, channels, classes, bn_eps, pool=2):
        super().__init__()
        self.layers = arch["layers"]
        self.pool = pool
        cins = [channels if not l["inputs"] else
                sum(self.layers[j]["num_filters"] for j in l["inputs"]) for l in self.layers]
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, l["num_filters"], (l["filter_height"], l["filter_width"]),
                      stride=(l["stride_height"], l["stride_width"]), bias=False)
            for l, cin in zip(self.layers, cins))
        self.bns = nn.ModuleList(nn.BatchNorm2d(l["num_filters"], eps=bn_eps) for l in self.layers)
        used = {j for l in self.layers for j in l["inputs"]}
        self.outputs = [i for i in range(len(self.layers)) if i not in used]
        features = sum(self.layers[i]["num_filters"] for i in self.outputs)
        self.classifier = nn.Linear(features, classes)

    def forward(self, images):
        outs = []
        for l, conv, bn in zip(self.layers, self.convs, self.bns):
            x = images if not l["inputs"] else pad_concat([outs[j] for j in l["inputs"]])
            top, bottom = same_padding(x.shape[2], l["filter_height"], l["stride_height"])
            left, right = same_padding(x.shape[3], l["filter_width"], l["stride_width"])
            if top == bottom and left == right:
                y = F.conv2d(x, conv.weight, None, conv.stride, (top, left))
            else:
                y = F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, None, conv.stride)
            y = torch.relu(bn(y))
            if l["max_pool"]:
                p = self.pool
                if y.shape[2] < p or y.shape[3] < p:
                    y = F.pad(y, (0, max(p - y.shape[3], 0), 0, max(p - y.shape[2], 0)))
                y = F.max_pool2d(y, p, p, ceil_mode=True)
            outs.append(y)
        features = pad_concat([outs[i] for i in self.outputs]).mean(dim=(2, 3))
        return self.classifier(features)


def time_lm(spec, cell_arch):
    cfg = spec["lm"]
    model = WordLm(cfg, cell_arch)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    t, b, v = cfg["bptt"], cfg["batch"], cfg["vocab"]
    data = [torch.randint(v, (t + 1, b)) for _ in range(spec["warmup"] + spec["lm_steps"])]
    state = model.zero_state(b)
    start = time.perf_counter()
    for i, seq in enumerate(data):
        if i == spec["warmup"]:
            start = time.perf_counter()
        x, y = seq[:t], seq[1:]
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, v), y.reshape(-1))
        value = loss.item()
        if value != value:
            raise RuntimeError("the LM loss became NaN")
        opt.zero_grad()
        (loss * t).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        state = [(h.detach(), c.detach()) for h, c in state]
    return (time.perf_counter() - start) / spec["lm_steps"]


def time_cnn(spec):
    cfg = spec["cnn"]
    c, h, w = cfg["image"]
    model = Cnn(cfg["arch"], c, cfg["classes"], cfg["bn_eps"])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"], nesterov=True)
    n = cfg["batch"]
    data = [(torch.randn(n, c, h, w), torch.randint(cfg["classes"], (n,)))
            for _ in range(spec["warmup"] + spec["cnn_steps"])]
    start = time.perf_counter()
    for i, (x, y) in enumerate(data):
        if i == spec["warmup"]:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        value = loss.item()
        if value != value:
            raise RuntimeError("the CNN loss became NaN")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / spec["cnn_steps"]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/reference.py SPEC.json")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    result = {
        "lstm": time_lm(spec, None),
        "cell": time_lm(spec, spec["cell"]),
        "cnn": time_cnn(spec),
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
