#!/usr/bin/env python3
"""The Fashion-MNIST trial of fashion_mnist_cnn.py as a persistent trial:
one process per slot serves every child of the slot
(``child.command.persistent = true``), so Python, torch and the data are
loaded once per slot instead of once per child.

The model, the data and the training are fashion_mnist_cnn.py's, with the
same arguments; only the loop is new: one request per child, each
answered with that child's epoch reports and final accuracy. Run by
nas-actor with ``configs/fashion_mnist_torch_persistent.toml``, or by hand
with requests on stdin, one JSON line per child:

    echo '{"child": 0, "seed": 1, "architecture": {"layer": [{"kernel": 3, "filters": 8, "activation": "relu", "inputs": []}]}}' \
        | .venv/bin/python examples/trials/fashion_mnist_cnn_persistent.py --epochs 1 --train-limit 2048
"""

import os
import sys
import time

from fashion_mnist_cnn import arguments, device, load_on, torch, train_child, trial


def main():
    t0 = time.time()
    args = arguments(__doc__)
    dev = device()
    data = load_on(args, dev)  # once for every child of this process
    print("pid %d: %d train / %d val images on %s, %d threads, loaded in %.1f s"
          % (os.getpid(), len(data[0]), len(data[2]), dev, torch.get_num_threads(), time.time() - t0))
    for req in trial.requests():
        print("child %d served by pid %d" % (req.child_id, os.getpid()))
        try:
            train_child(req.architecture, req.seed, req.epochs(args.epochs), data, args.batch_size, dev)
        except Exception as e:  # one bad child fails, the process serves the next
            print("child %d failed: %r" % (req.child_id, e), file=sys.stderr)
            req.final(float("nan"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
