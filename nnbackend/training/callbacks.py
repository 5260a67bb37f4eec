"""Callbacks: what runs around the training loop without being part of its math.

A :class:`Callback` overrides the hooks it needs; :class:`nnbackend.training.trainer.Trainer`
calls them in the order given (``callbacks=[...]``), from Python as from the command line:

- ``on_begin(trainer)`` before the first step;
- ``on_step(trainer)`` after every step (keep it cheap: it runs between GPU launches);
- ``on_record(trainer, record)`` after each history record (print interval);
- ``on_epoch_end(trainer)`` when a pass over the data completes;
- ``on_end(trainer, result)`` when the run ends, also after Ctrl-C, and with ``result``
  None when an exception is on its way out.

Later steps update the state's arrays in place, so a callback copies what it keeps
(``Backend.to_host``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import NNBackendError

if TYPE_CHECKING:
    from .trainer import Trainer, TrainingResult

Record = dict[str, Any]


class Callback:
    """Hooks of the training loop (all optional; the defaults do nothing)."""

    def on_begin(self, trainer: Trainer) -> None:
        """Before the first step."""

    def on_step(self, trainer: Trainer) -> None:
        """After each step (``trainer.state.step`` counts it)."""

    def on_record(self, trainer: Trainer, record: Record) -> None:
        """After each history record."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """After the last step of each pass over the data."""

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        """When the run ends (``result`` is None when it ends with an exception)."""


#: The hooks the loop calls on every callback.
HOOKS = ("on_begin", "on_step", "on_record", "on_epoch_end", "on_end")


def checked_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list, refused in one line unless each one has every hook.

    Without this, a wrong value surfaces as an ``AttributeError`` from inside the loop,
    after the work has started. None is no callbacks; a string is not a list of them.
    """
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (Sequence, set)):
        raise NNBackendError(f"callbacks must be a list of Callback objects "
                             f"(nnbackend.training.callbacks), got {callbacks!r}")
    for callback in callbacks:
        if not all(callable(getattr(callback, hook, None)) for hook in HOOKS):
            raise NNBackendError(f"callbacks must be Callback objects (subclass "
                                 f"nnbackend.training.callbacks.Callback), got {callback!r}")
    return list(callbacks)


class Functions(Callback):
    """Plain functions as callbacks: ``on_record(record)`` and ``on_step(trainer)``."""

    def __init__(self, on_record: Callable[[Record], None] | None = None,
                 on_step: Callable[[Trainer], None] | None = None) -> None:
        self.record, self.step = on_record, on_step

    def on_record(self, trainer: Trainer, record: Record) -> None:
        if self.record is not None:
            self.record(record)

    def on_step(self, trainer: Trainer) -> None:
        if self.step is not None:
            self.step(trainer)


class Checkpoints(Callback):
    """Write a checkpoint every ``every`` steps and when the run ends (Ctrl-C included),
    never one with non-finite parameters (a diverging run keeps its last good one).

    Parameters
    ----------
    every : int
        Steps between checkpoints.
    save : callable
        ``save(trainer)`` writes one (e.g. :func:`nnbackend.persistence.checkpoints.
        save_checkpoint` with the run's description), atomically.
    warn : callable, optional
        ``warn(message)`` when a write fails (a full disk): the run goes on, keeping the
        last checkpoint written, and tries again at the next one, so that a full scratch
        disk does not cost the run its ``--save``. Default: the error is raised.

    Attributes
    ----------
    written : int or None
        The step of the last checkpoint this run wrote; None while it has written none
        (so that nobody claims a checkpoint that does not exist).
    """

    def __init__(self, every: int, save: Callable[[Trainer], None],
                 warn: Callable[[str], object] | None = None) -> None:
        self.every, self.save, self.warn = every, save, warn
        self.written: int | None = None

    def on_step(self, trainer: Trainer) -> None:
        if trainer.state.step % self.every == 0:
            self._save_finite(trainer)

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        # A diverged run keeps the last checkpoint whose parameters were finite.
        if result is not None:
            self._save_finite(trainer)

    def _save_finite(self, trainer: Trainer) -> None:
        """Save, unless a parameter is NaN or infinite (checked on the device first; in a
        stack, those of the models still training)."""
        if not trainer.models.savable(trainer):
            return
        try:
            self.save(trainer)
        except (OSError, NNBackendError) as error:
            if self.warn is None:
                raise
            kept = ("none is kept yet" if self.written is None
                    else f"the one of step {self.written} is kept")
            self.warn(f"the checkpoint of step {trainer.state.step} could not be written "
                      f"({error}); training goes on and {kept}")
            return
        self.written = trainer.state.step


class EarlyStopping(Callback):
    """Keep the parameters of the best validation cost; stop when it has not improved for
    ``patience`` records, and restore them at the end.

    The trainer adds one, first, whenever it has validation data (with ``patience`` None
    it only keeps the best parameters, which checkpoints carry). Its bookkeeping lives in
    the trainer's state (``best_cost``, ``best_params``, ``best_record``,
    ``bad_records``), so a resumed run continues it. Every rank of a data-parallel run
    keeps it (``all_ranks``), so that all stop and restore together.

    Parameters
    ----------
    patience : int or None
        Records without a better validation cost before the run stops.
    """

    all_ranks = True

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.stopped = False

    def on_record(self, trainer: Trainer, record: Record) -> None:
        if "val_cost" not in record:
            return
        st = trainer.state
        if record["val_cost"] < st.best_cost:
            # Eagerly, a reference is enough: the loop never donates (updates in place) the
            # parameters held as the best, so the next step writes new arrays instead. A
            # graphed step always updates its static arrays in place, and a compiled one
            # is donated its parameters: keep a copy.
            xp = trainer.network.backend.xp
            best = ({name: xp.asarray(value, copy=True) for name, value in st.params.items()}
                    if trainer.use_graphs or trainer.compiled else st.params)
            st.best_cost, st.best_params, st.best_record = record["val_cost"], best, record
            st.bad_records = 0
            return
        st.bad_records += 1
        if self.patience is None or st.bad_records < self.patience or st.best_record is None:
            return
        self.stopped = True
        best = st.best_record
        where = f"epoch {best['epoch']}" if "epoch" in best else f"iteration {best['iteration']}"
        trainer.request_stop("early_stopping", (
            f"early stopping: validation cost did not improve for {self.patience} "
            f"evaluations; restored the parameters of {where} (validation cost "
            f"{best['val_cost']:.6f})"))

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        st = trainer.state
        if (result is not None and self.stopped and result.stopped_by == "early_stopping"
                and st.best_params is not None):
            trainer.restore(st.best_params)
            result.best = st.best_record


class StopOnInterrupt(Callback):
    """A stop signal ends the run cleanly after the current step; a second Ctrl-C aborts.

    Parameters
    ----------
    signals : sequence of int
        The signals that stop the run (default: SIGINT, i.e. Ctrl-C). The command line
        passes :data:`nnbackend.training.stops.CAUGHT_SIGNALS` (SIGTERM, SIGUSR1, SIGHUP
        and SIGINT), so that a scheduler's stop keeps the work.

    Attributes
    ----------
    signum : int or None
        The signal the run stopped for (the same on every rank of a data-parallel run).

    The handlers live for the run only (the main thread's previous ones are put back at
    the end), or for a ``with`` block around more than the run (a command line that must
    not die while it writes its files). On ranks of a data-parallel run (``comm``) a
    signal is a vote (:class:`nnbackend.training.stops.StopVote`) summed with the next
    step's gradients: every rank stops after the same step, whichever rank was signalled.
    Handlers can only be installed on the main thread; elsewhere :meth:`request` is the
    way in.
    """

    all_ranks = True  # every rank must read the vote, not rank 0 alone

    def __init__(self, signals: Sequence[int] = (signal.SIGINT,)) -> None:
        self.signals = tuple(signals)
        self.signum: int | None = None
        self.requested: int | None = None  # the first signal this process received
        self.previous: dict[int, Any] = {}
        self._trainer: Trainer | None = None
        self._scoped = False  # installed by a with block, which restores them
        self._ended = False

    def __enter__(self) -> StopOnInterrupt:
        self._install()
        self._scoped = bool(self.previous)
        return self

    def __exit__(self, *exc: object) -> None:
        self._scoped = False
        self._restore()

    @property
    def running(self) -> bool:
        """Whether a run is under way (between its ``on_begin`` and ``on_end``)."""
        return self._trainer is not None

    def request(self, signum: int) -> None:
        """Ask the run to stop for ``signum`` after the current step (the signal
        handlers' action; also usable from another thread, or for a closed output)."""
        if self.requested is None:
            self.requested = signum
        trainer = self._trainer
        if trainer is None:
            return  # before the run: on_begin passes it on
        if trainer.comm is None:
            if self.signum is None:
                self.signum = signum
            trainer.request_stop()
        else:  # never alone: the ranks agree at the next step's all-reduce
            trainer.comm.stop_vote.request(signum)

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.requested is not None:
            raise KeyboardInterrupt  # the second Ctrl-C: abort now
        self.request(signum)

    def _install(self) -> None:
        if self.previous or threading.current_thread() is not threading.main_thread():
            return  # already installed; or a thread (signal.signal works on the main one)
        self.previous = {s: signal.signal(s, self._handle) for s in self.signals}

    def _restore(self) -> None:
        if self._scoped:
            return
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _agree(self, trainer: Trainer, read_device: bool) -> None:
        """Stop when the ranks' summed vote says so (after the same step on each)."""
        if trainer.comm is None or self.signum is not None:
            return
        agreed = trainer.comm.stop_vote.agreed(trainer.network.backend, read_device)
        if agreed is not None:
            self.signum = agreed
            trainer.request_stop()

    def on_begin(self, trainer: Trainer) -> None:
        if self._ended:  # used again: the last run's stop is not this one's
            self.signum = self.requested = None
            self._ended = False
        self._trainer = trainer
        if trainer.comm is not None:
            trainer.comm.stop_vote.reset()  # nor is a vote left on the communicator
        self._install()
        if self.requested is not None:  # signalled before the first step
            self.request(self.requested)

    def on_step(self, trainer: Trainer) -> None:
        self._agree(trainer, read_device=False)

    def on_record(self, trainer: Trainer, record: Record) -> None:
        self._agree(trainer, read_device=True)

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        self._trainer = None
        self._ended = True  # signum stays readable until the next run begins
        self._restore()


class RecordLog(Callback):
    """Write every history record to a file as it is made, for ``tail -f``, pandas or a
    notebook: JSON Lines (one object per line), or CSV when the name ends in ``.csv``.

    Each line is flushed when written. The file starts with the records the run already
    has (a resumed run's history), so it always holds the whole history. Non-finite
    numbers are written as JSON ``null`` (CSV: empty), never as invalid JSON. The file is
    opened as ``open()`` does (a link's target, a device or pipe written through), since
    it grows while the run goes on.

    A log is not worth a run: when a write fails (a full disk), ``warn`` is called once
    with one line and the run goes on without the log.

    Parameters
    ----------
    path : str or path-like
        The log file (replaced at the start of the run).
    warn : callable, optional
        ``warn(message)`` for a failed write; default :func:`warnings.warn`
        (``RuntimeWarning``).

    Raises
    ------
    NNBackendError
        From ``on_begin``, when the file cannot be opened (one line).
    """

    def __init__(self, path: str | os.PathLike[str],
                 warn: Callable[[str], object] | None = None) -> None:
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self.file: TextIO | None = None
        self.columns: list[str] | None = None
        self.warn = warn or (lambda text: warnings.warn(text, RuntimeWarning, stacklevel=2))

    def on_begin(self, trainer: Trainer) -> None:
        try:
            self.file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise NNBackendError(f"cannot write the log file {self.path}: "
                                 f"{exc.strerror or exc}; give a path you may write") from None
        for record in trainer.state.history:
            self.write(record)

    def on_record(self, trainer: Trainer, record: Record) -> None:
        self.write(record)

    def write(self, record: Record) -> None:
        """Append one record and flush it (nothing, once a write has failed)."""
        if self.file is None:
            return
        clean = {key: json_safe(value) for key, value in record.items()}
        try:
            if not self.csv:
                self.file.write(json.dumps(clean, allow_nan=False) + "\n")
            else:
                writer = csv.writer(self.file, lineterminator="\n")
                if self.columns is None:
                    self.columns = list(clean)
                    writer.writerow(self.columns)
                writer.writerow(["" if clean.get(c) is None else clean[c]
                                 for c in self.columns])
            self.file.flush()
        except OSError as exc:
            self.close()
            self.warn(f"cannot write the log file {self.path} ({exc.strerror or exc}); "
                      "training goes on without it")

    def close(self) -> None:
        """Close the file; a failure to flush its last bytes is not worth a run either."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        self.close()


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by None, recursively, so
    that ``json.dumps(..., allow_nan=False)`` writes valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
