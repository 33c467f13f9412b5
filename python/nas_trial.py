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

A persistent trial (``child.command.persistent = true``) is started once
per slot and serves one child per request; whatever it loads before the
loop (the framework, the data, shared weights) stays loaded::

    import nas_trial as trial

    data = load_data()                   # once per process
    for req in trial.requests():         # one request per child
        model = build(req.architecture)
        for epoch in range(1, req.epochs(3) + 1):
            ...
            req.report(epoch, val_acc)   # tagged with req.child_id
        req.final(val_acc)               # ends this child, not the process

Inside the loop the module's functions (``architecture()``, ``seed()``,
``report()``, ``final()``, ...) speak for the current request, so code
written for a trial per child runs unchanged in the loop body.  A request
left without a final report is reported failed when the loop moves on.

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
    "requests",
    "Request",
]

# The request being served inside ``requests()`` (None outside it).
_current = None


def _env(name, default=None):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def architecture():
    """The architecture to train, as nas-actor wrote it (a dict)."""
    if _current is not None:
        return _current.architecture
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
    if _current is not None:
        return _current.child_id
    return int(_env("NAS_CHILD_ID", "0"))


def seed():
    """The seed the child should train with (0 when run by hand)."""
    if _current is not None:
        return _current.seed
    return int(_env("NAS_SEED", "0"))


def output_dir():
    """A directory of the child's own, for checkpoints and logs."""
    if _current is not None:
        return _current.output_dir()
    path = _env("NAS_OUTPUT_DIR", ".")
    os.makedirs(path, exist_ok=True)
    return path


def run_dir():
    """The run directory (None when run by hand)."""
    if _current is not None:
        return _current.run_dir
    return _env("NAS_RUN_DIR")


def epochs(default=None):
    """``child.command.epochs`` from the config, else ``default``."""
    if _current is not None:
        return _current.epochs(default)
    value = _env("NAS_EPOCHS")
    return int(value) if value is not None else default


def _emit(message):
    # One write per line, flushed at once, so that nas-actor sees it live.
    # Inside ``requests()`` every report is tagged with its child's id.
    if _current is not None and "child" not in message:
        message = dict(child=_current.child_id, **message)
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _number(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, got %r" % (name, value)) from None
    return value


def _report(emit, epoch, metric, **extra):
    message = {"epoch": int(epoch), "metric": _number("metric", metric)}
    for key in ("train_loss", "val_loss", "seconds"):
        if extra.get(key) is not None:
            message[key] = _number(key, extra[key])
    emit(message)


def _progress(emit, epoch, batch, batches, loss):
    message = {"epoch": int(epoch), "batch": int(batch), "batches": int(batches)}
    if loss is not None:
        message["loss"] = _number("loss", loss)
    emit(message)


def _final(emit, metric, reward, params):
    message = {"metric": _number("metric", metric)}
    if reward is not None:
        message["reward"] = _number("reward", reward)
    if params is not None:
        message["params"] = int(params)
    emit(message)


def report(epoch, metric, **extra):
    """Epoch ``epoch`` (from 1) ended with validation ``metric``.

    Optional keywords: ``train_loss``, ``val_loss``, ``seconds``.
    """
    _report(_emit, epoch, metric, **extra)


def progress(epoch, batch, batches, loss=None):
    """Progress inside an epoch (optional; shown on the slot's line)."""
    _progress(_emit, epoch, batch, batches, loss)


def final(metric, reward=None, params=None):
    """The child's final metric; ``reward`` overrides the config's reward rule.

    A non-finite metric (NaN, inf) is reported as such and makes the child
    a failure.  Inside ``requests()`` it ends the current child.
    """
    if _current is not None:
        _current.final(metric, reward, params)
        return
    _final(_emit, metric, reward, params)


class Request:
    """One child's request to a persistent trial: what an ordinary trial
    reads from its environment, and its own report functions (each line
    tagged with the child's id)."""

    def __init__(self, message):
        self.child_id = int(message["child"])
        self.architecture = message["architecture"]
        self.seed = int(message.get("seed", 0))
        self.arch_file = message.get("arch_file")
        self.run_dir = message.get("run_dir")
        self.slot = message.get("slot")
        self._epochs = message.get("epochs")
        self._output_dir = message.get("output_dir", ".")
        self.finished = False

    def epochs(self, default=None):
        """``child.command.epochs`` from the config, else ``default``."""
        return int(self._epochs) if self._epochs is not None else default

    def output_dir(self):
        """A directory of the child's own (where its ``trial.log`` is)."""
        os.makedirs(self._output_dir, exist_ok=True)
        return self._output_dir

    def _emit(self, message):
        _emit(dict(child=self.child_id, **message))

    def report(self, epoch, metric, **extra):
        """Epoch ``epoch`` (from 1) ended with validation ``metric``."""
        _report(self._emit, epoch, metric, **extra)

    def progress(self, epoch, batch, batches, loss=None):
        """Progress inside an epoch (optional)."""
        _progress(self._emit, epoch, batch, batches, loss)

    def final(self, metric, reward=None, params=None):
        """The child's final metric: ends this child (not the process)."""
        _final(self._emit, metric, reward, params)
        self.finished = True

    def __repr__(self):
        return "Request(child=%d, seed=%d)" % (self.child_id, self.seed)


def requests(stream=None):
    """The requests of a persistent trial, one per child, until nas-actor
    closes stdin (the end of the run).  Each is a :class:`Request`; answer
    it with ``req.report`` / ``req.final`` (or the module's functions,
    which speak for the current request inside the loop)."""
    global _current
    stream = sys.stdin if stream is None else stream
    while True:
        line = stream.readline()
        if not line:
            return
        if not line.strip():
            continue
        req = Request(json.loads(line))
        _current = req
        try:
            yield req
        finally:
            _current = None
        if not req.finished:
            # nas-actor waits for this child's final line: without it the
            # child would hang until its timeout.
            sys.stderr.write(
                "nas_trial: child %d ended without a final report "
                "(req.final(metric)); it is recorded as failed\n" % req.child_id
            )
            sys.stderr.flush()
            req.final(float("nan"))


def is_finite(value):
    """True for a finite number (a convenience for trials)."""
    return math.isfinite(float(value))
