#!/usr/bin/env python3
"""A nas-actor trial in PyTorch: a CNN built from a declared layer-wise
space, trained on Fashion-MNIST, reporting validation accuracy per epoch.

The architecture (``configs/fashion_mnist_torch.toml``) is a global
optimizer and learning rate and a group ``layer`` repeated N times, each
repeat with ``kernel``, ``filters``, ``activation`` and skip ``inputs``:

    {"optimizer": "sgd", "lr": 0.05,
     "layer": [{"kernel": 3, "filters": 32, "activation": "relu", "inputs": []},
               {"kernel": 5, "filters": 16, "activation": "tanh", "inputs": [0]}, ...]}

Layer i reads the previous layer's output (the image for layer 0) and the
outputs of the earlier layers its ``inputs`` name, concatenated along the
channels (every convolution keeps the 28x28 size); each layer is
convolution, batch norm, activation; then average pooling to 4x4 and a
linear classifier. The data are the IDX files of the Debian package
``dataset-fashion-mnist``; the validation set is held out of the training
set (the test set is never touched during a search).

Run by nas-actor (``child.backend = "command"``), or by hand:

    NAS_ARCH_FILE=arch.json .venv/bin/python examples/trials/fashion_mnist_cnn.py --epochs 1
"""

import argparse
import gzip
import os
import struct
import sys
import time
from pathlib import Path

try:
    import nas_trial as trial
except ImportError:  # run by hand from a checkout: the helper is in python/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    import nas_trial as trial

import torch
import torch.nn as nn
import torch.nn.functional as F

# The last layer is average-pooled to POOLED x POOLED before the classifier.
POOLED = 4

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu, "sigmoid": torch.sigmoid}


def read_idx(path):
    """An IDX file (gzipped or not) as a uint8 tensor of its shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise ValueError("%s is not an IDX file of unsigned bytes" % path)
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = Path(data_dir) / name
        if p.exists():
            return p
    raise FileNotFoundError(
        "%s(.gz) not found in %s (apt-get install dataset-fashion-mnist, or pass --data)"
        % (stem, data_dir)
    )


def load(data_dir, train_limit, val_limit, seed):
    """(train images, train labels, val images, val labels) as float / long tensors."""
    images = read_idx(find(data_dir, "train-images-idx3-ubyte")).float().div_(255.0)
    labels = read_idx(find(data_dir, "train-labels-idx1-ubyte")).long()
    # The validation set is a fixed slice of the training set (the same for
    # every child, so their accuracies compare); training order follows the seed.
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(12345))
    val_idx, train_idx = order[:10000][:val_limit], order[10000:][:train_limit]
    mean, std = 0.2860, 0.3530
    norm = lambda x: ((x - mean) / std).unsqueeze(1)
    return norm(images[train_idx]), labels[train_idx], norm(images[val_idx]), labels[val_idx]


class Net(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        widths = []
        for i, layer in enumerate(layers):
            sources = self.sources(i, layer)
            in_ch = sum(1 if s < 0 else widths[s] for s in sources)
            k = int(layer["kernel"])
            self.convs.append(nn.Conv2d(in_ch, int(layer["filters"]), k, padding=k // 2, bias=False))
            self.norms.append(nn.BatchNorm2d(int(layer["filters"])))
            widths.append(int(layer["filters"]))
        self.head = nn.Linear(widths[-1] * POOLED * POOLED, 10)

    @staticmethod
    def sources(i, layer):
        """Layer indices feeding layer i (-1: the image)."""
        first = [i - 1] if i > 0 else [-1]
        return first + sorted(set(int(j) for j in layer.get("inputs", [])) - {i - 1})

    def forward(self, x):
        outs = []
        for i, layer in enumerate(self.layers):
            h = torch.cat([x if s < 0 else outs[s] for s in self.sources(i, layer)], dim=1)
            act = ACTIVATIONS[str(layer.get("activation", "relu"))]
            outs.append(act(self.norms[i](self.convs[i](h))))
        return self.head(F.adaptive_avg_pool2d(outs[-1], POOLED).flatten(1))


def accuracy(model, x, y, batch):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / max(1, len(x))


def arguments(doc):
    """The command line both trials share (the persistent one:
    fashion_mnist_cnn_persistent.py)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=trial.epochs(3))
    ap.add_argument("--train-limit", type=int, default=50000)
    ap.add_argument("--val-limit", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=128)
    return ap.parse_args()


def device():
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def load_on(args, dev):
    """The data of ``args`` on ``dev``: (train images, train labels, val images, val labels)."""
    return tuple(t.to(dev) for t in load(args.data, args.train_limit, args.val_limit, 0))


def train_child(arch, seed, epochs, data, batch_size, dev):
    """Train the child ``arch`` for ``epochs`` on ``data`` and report it
    through ``nas_trial`` (its epochs, then its best accuracy); returns
    nothing."""
    xtr, ytr, xva, yva = data
    torch.manual_seed(seed)
    model = Net(arch["layer"]).to(dev)
    params = sum(p.numel() for p in model.parameters())
    lr = float(arch.get("lr", 0.05))
    if arch.get("optimizer", "sgd") == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(xtr), generator=gen).to(dev)
        total, batches = 0.0, 0
        n_batches = (len(xtr) + batch_size - 1) // batch_size
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
            if not torch.isfinite(loss):
                print("loss is %s at epoch %d batch %d" % (loss.item(), epoch, b), file=sys.stderr)
                trial.final(float("nan"))
                return
            if b % 20 == 0:
                trial.progress(epoch, b + 1, n_batches, loss.item())
        acc = accuracy(model, xva, yva, 512)
        best = max(best, acc)
        trial.report(epoch, acc, train_loss=total / max(1, batches), seconds=time.time() - t0)
    torch.save(model.state_dict(), os.path.join(trial.output_dir(), "model.pt"))
    trial.final(best, params=params)


def main():
    args = arguments(__doc__)
    dev = device()
    data = load_on(args, dev)
    print("child %d: %d train / %d val images on %s, %d threads"
          % (trial.child_id(), len(data[0]), len(data[2]), dev, torch.get_num_threads()))
    train_child(trial.architecture(), trial.seed(), args.epochs, data, args.batch_size, dev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
