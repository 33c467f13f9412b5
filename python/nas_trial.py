"""nas_trial: the trial side of nas-actor's trial-command protocol.

A trial is any program nas-actor runs once per sampled architecture
(``child.backend = "command"``).  This module is all a Python trial needs;
it uses only the standard library::

    import nas_trial as trial

    arch = trial.architecture()          # the sampled architecture, a dict
    for epoch in range(1, epochs + 1):
        ...                              # train one epoch
        trial.report(epoch, val_acc)     # shown live, recorded per epoch
    trial.final(val_acc)                 # the child's metric (ends the trial)

Inside a trial started by nas-actor, ``import nas_trial`` works as is:
nas-actor puts this module's directory first on ``PYTHONPATH``.  To use it
elsewhere (tests, a first run by hand) copy this file into your project.
Run by hand, set ``NAS_ARCH_FILE`` to a JSON file with an architecture.

The protocol is plain JSON lines on stdout, so any other line your program
prints is kept in the child's log and never misread.
"""

import json
import math
import os
import sys

__all__ = [
    "architecture",
    "report",
    "final",
    "child_id",
    "seed",
    "output_dir",
    "run_dir",
    "epochs",
    "progress",
]


def _env(name, default=None):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def architecture():
    """The architecture to train, as nas-actor wrote it (a dict)."""
    path = _env("NAS_ARCH_FILE")
    if path is None:
        raise RuntimeError(
            "NAS_ARCH_FILE is not set: this program is meant to be started by "
            "nas-actor (child.backend = \"command\"); to run it by hand, set "
            "NAS_ARCH_FILE to a JSON file holding an architecture"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def child_id():
    """The child's id in the run (0 when run by hand)."""
    return int(_env("NAS_CHILD_ID", "0"))


def seed():
    """The seed the child should train with (0 when run by hand)."""
    return int(_env("NAS_SEED", "0"))


def output_dir():
    """A directory of the child's own, for checkpoints and logs."""
    path = _env("NAS_OUTPUT_DIR", ".")
    os.makedirs(path, exist_ok=True)
    return path


def run_dir():
    """The run directory (None when run by hand)."""
    return _env("NAS_RUN_DIR")


def epochs(default=None):
    """``child.command.epochs`` from the config, else ``default``."""
    value = _env("NAS_EPOCHS")
    return int(value) if value is not None else default


def _emit(message):
    # One write per line, flushed at once, so that nas-actor sees it live.
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _number(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, got %r" % (name, value)) from None
    return value


def report(epoch, metric, **extra):
    """Epoch ``epoch`` (from 1) ended with validation ``metric``.

    Optional keywords: ``train_loss``, ``val_loss``, ``seconds``.
    """
    message = {"epoch": int(epoch), "metric": _number("metric", metric)}
    for key in ("train_loss", "val_loss", "seconds"):
        if extra.get(key) is not None:
            message[key] = _number(key, extra[key])
    _emit(message)


def progress(epoch, batch, batches, loss=None):
    """Progress inside an epoch (optional; shown on the slot's line)."""
    message = {"epoch": int(epoch), "batch": int(batch), "batches": int(batches)}
    if loss is not None:
        message["loss"] = _number("loss", loss)
    _emit(message)


def final(metric, reward=None, params=None):
    """The child's final metric; ``reward`` overrides the config's reward rule.

    A non-finite metric (NaN, inf) is reported as such and makes the child
    a failure.
    """
    message = {"metric": _number("metric", metric)}
    if reward is not None:
        message["reward"] = _number("reward", reward)
    if params is not None:
        message["params"] = int(params)
    _emit(message)


def is_finite(value):
    """True for a finite number (a convenience for trials)."""
    return math.isfinite(float(value))
