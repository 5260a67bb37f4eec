"""A sweep that loses no work: its checkpoint, and resuming from it.

:class:`SweepCheckpoint` is what :func:`nnbackend.model.sweep.sweep_prepared` keeps while it
trains (``checkpoint=``): what the sweep is (its grid, fixed settings, dtype and each
data split's fingerprint), each finished model's table row, result and own parameters
(so that ``best_model`` and ``SweepResult.model(i)`` come back as they were), and the
state of each stack under way (:mod:`nnbackend.persistence.stack_checkpoints`), written
every ``every`` steps, after each finished stack and when a stop (a signal) ends a stack.

Resumed, a finished stack is not trained again, and the stack under way continues from
its step: the table, ``best_model`` and every model equal an uninterrupted sweep's, bit
for bit on the same backend and dtype. A checkpoint of another grid, other settings or
other data is refused in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.activations import get_hidden_activation
from ..core.backend import Backend
from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..data.pipeline import PreparedData, fingerprint
from ..errors import NNBackendError
from ..persistence.stack_checkpoints import (
    plain_json,
    read_sweep_file,
    resume_stack,
    stack_state,
    write_sweep_file,
)
from ..training.callbacks import Callback
from ..training.trainer import TrainingResult, TrainingState

if TYPE_CHECKING:
    from ..training.stacked import StackedModels
    from ..training.trainer import Trainer

#: A finished model's result fields kept in the checkpoint (its ``TrainingResult``).
RESULT_FIELDS = ("history", "steps", "epochs", "stop_reason", "best", "stopped_by")


class SweepInterrupted(NNBackendError):
    """A stop (a signal) ended a stack of the sweep; its state is in the checkpoint.

    Attributes
    ----------
    checkpoint : SweepCheckpoint
        Holds the sweep so far; :meth:`SweepCheckpoint.write` it where it should go
        (already written when it has a ``path``).
    where : str
        Which stack stopped, and after which step (``stack 2/3 at step 700 of 2000``).
    """

    def __init__(self, checkpoint: SweepCheckpoint, where: str) -> None:
        super().__init__(f"the sweep was stopped ({where}); resume it from its checkpoint")
        self.checkpoint, self.where = checkpoint, where


def _key(rows: Sequence[int]) -> str:
    """A stack's name in the file: its rows (grid order), ``3,4,7``."""
    return ",".join(str(r) for r in rows)


def _plain_json(value: Any) -> Any:
    """``value`` as it comes back from the file (tuples as lists, keys as text)."""
    return json.loads(plain_json(value))


class SweepCheckpoint:
    """A sweep's checkpoint, kept in memory and written to ``path``.

    Parameters
    ----------
    path : str or path-like, optional
        Where it is written (atomically); None: only when :meth:`write` is given one
        (the command line's default file after a stop).
    every : int, optional
        Steps between writes while a stack trains (None: after each stack and at a stop
        only).
    resume : str or path-like, optional
        A checkpoint to continue (read now; :meth:`check` compares it with the sweep).
    See :meth:`keep_in` for ``print_every`` and ``warn``.

    Attributes
    ----------
    written : bool
        Whether this sweep has written its checkpoint.
    failed : bool
        Whether its last write failed (a full disk; see ``warn``).
    extra : dict
        JSON-ready facts kept with it (the command line's options, to resume it); a
        resumed checkpoint's until replaced.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, every: int | None = None,
                 resume: str | os.PathLike[str] | None = None, *,
                 print_every: int | None = None,
                 warn: Callable[[str], object] | None = None) -> None:
        self.resume = resume
        self.keep_in(path, every, print_every, warn)
        self.header: dict[str, Any] = {"extra": {}, "identity": None, "finished": {},
                                       "running": {}}
        self.arrays: dict[str, np.ndarray] = {}
        self.written = self.failed = False
        self._lock = threading.Lock()  # stacks may finish on several threads
        if resume is not None:
            self.header, self.arrays = read_sweep_file(resume)
            if not isinstance(self.header.get("finished"), dict) or not isinstance(
                    self.header.get("running"), dict):
                raise NNBackendError(f"sweep checkpoint {resume} is malformed (no finished "
                                     "or running stacks); resume from another checkpoint "
                                     "or start the sweep again")

    def progress(self) -> str:
        """What a resumed checkpoint holds, in words: ``3 models finished; a stack at step
        700``."""
        steps = [saved["state"]["step"] for saved in self.header["running"].values()]
        done = len(self.header["finished"])
        return (f"{done} model{'' if done == 1 else 's'} finished"
                + "".join(f"; a stack at step {step}" for step in steps))

    def keep_in(self, path: str | os.PathLike[str] | None, every: int | None = None,
                print_every: int | None = None,
                warn: Callable[[str], object] | None = None) -> None:
        """Where and how often to write.

        Parameters
        ----------
        path, every
            As the class takes them.
        print_every : int, optional
            Without ``every``, the print interval (iterations, or epochs): checkpoints
            of a stack under way at that cadence, as ``nnbackend train --checkpoint``
            writes them.
        warn : callable, optional
            ``warn(message)`` when a write fails (a full disk): the sweep goes on and
            tries again at the next one. Default: the error is raised.
        """
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):
            raise NNBackendError(f"checkpoint_every must be an integer >= 1, got {every!r}")
        self.path, self.every, self.print_every, self.warn = path, every, print_every, warn

    @property
    def extra(self) -> dict[str, Any]:
        """The facts kept with the checkpoint."""
        return dict(self.header.get("extra") or {})

    @extra.setter
    def extra(self, value: Mapping[str, Any]) -> None:
        self.header["extra"] = dict(value)

    # -- what the sweep is ------------------------------------------------------------

    def check(self, grid: Mapping[str, Any], fixed: Mapping[str, Any], split: bool,
              datas: Mapping[Any, PreparedData], backend: Backend) -> None:
        """Record what the sweep is; a resumed checkpoint must be of the same sweep.

        Raises
        ------
        NNBackendError
            One line naming what differs (a setting, the data, the dtype).
        """
        identity = _plain_json({
            "grid": dict(grid), "fixed": dict(fixed), "split": split,
            "dtype": backend.dtype_name,
            "data": {str(key): fingerprint(data) for key, data in datas.items()}})
        stored = self.header.get("identity")
        if self.resume is not None and stored != identity:
            raise NNBackendError(f"{self.resume} is the checkpoint of another sweep "
                                 f"({_difference(stored, identity)}); resume with the same "
                                 "grid, settings and data, or start a new sweep")
        self.header["identity"] = identity

    def stacks(self, planned: Sequence[Sequence[int]], models: int) -> list[list[int]]:
        """The stacks to train, kept in the checkpoint: a resumed checkpoint's own (so that
        its finished stacks and stacks under way are found again, whatever the free memory,
        ranks or workers now), else ``planned``; ``models``: how many the grid has."""
        chosen = [list(rows) for rows in planned]
        stored = None if self.resume is None else self.header.get("stacks")
        if stored is not None:
            with self._malformed():
                chosen = [[int(row) for row in rows] for rows in stored]
                if sorted(row for rows in chosen for row in rows) != list(range(models)):
                    raise ValueError("its stacks are not the grid's models")
        self.header["stacks"] = chosen
        return chosen

    # -- finished stacks --------------------------------------------------------------

    def finished(self, rows: Sequence[int]) -> bool:
        """Whether every model of these rows finished in the checkpoint."""
        return all(str(r) in self.header["finished"] for r in rows)

    def restored(self, rows: Sequence[int], sizes: Sequence[Sequence[int]],
                 hidden: Sequence[str], task: str, backend: Backend, table: list[Any]
                 ) -> dict[int, tuple[Network, TrainingResult]]:
        """The finished models of ``rows`` as their stack's training handed them back:
        their table rows put into ``table``, ``{row: (network, result)}`` returned."""
        out: dict[int, tuple[Network, TrainingResult]] = {}
        with self._malformed():
            for row, size, activation in zip(rows, sizes, hidden, strict=True):
                done = self.header["finished"][str(row)]
                prefix = f"model.{row}."
                host = {name[len(prefix):]: value for name, value in self.arrays.items()
                        if name.startswith(prefix)}
                shapes = {f"{kind}{l}": (size[l], size[l - 1] if kind == "W" else 1)
                          for l in range(1, len(size)) for kind in "Wb"}  # noqa: E741
                if {name: value.shape for name, value in host.items()} != shapes:
                    raise ValueError(f"model {row}'s parameters are not its layers'")
                network = Network(tuple(size), get_hidden_activation(activation),
                                  OUTPUT_LAYERS[task], backend,
                                  {name: backend.asarray(value) for name, value in host.items()})
                out[row] = (network, TrainingResult(**done["result"]))
                table[row] = {name: done["row"][name]
                              for name in done.get("columns", done["row"])}
        return out

    @contextlib.contextmanager
    def _malformed(self) -> Iterator[None]:
        """One line for a checksummed file whose content is not a sweep's (made by hand)."""
        try:
            yield
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise NNBackendError(f"sweep checkpoint {self.resume} is malformed ({exc}); "
                                 "resume from another checkpoint or start the sweep "
                                 "again") from None

    def stack_done(self, rows: Sequence[int], table: Sequence[Mapping[str, Any]],
                   trained: Mapping[int, tuple[Network, TrainingResult]]) -> None:
        """Keep a finished stack's rows, results and parameters; write the checkpoint."""
        with self._lock:
            for row in rows:
                network, result = trained[row]
                self.header["finished"][str(row)] = {
                    # The header's JSON sorts keys: the columns' order is kept beside them.
                    "row": dict(table[row]), "columns": list(table[row]),
                    "result": {name: getattr(result, name) for name in RESULT_FIELDS}}
                for name, value in network.params.items():
                    self.arrays[f"model.{row}.{name}"] = np.asarray(
                        network.backend.to_host(value))
            self._forget(rows)
            self._write_if_placed()

    # -- stacks under way ---------------------------------------------------------------

    def resumed_state(self, rows: Sequence[int], models: StackedModels
                      ) -> TrainingState | None:
        """The saved state of this stack under way, restored onto ``models``; None when
        the checkpoint has none (the stack starts from the beginning)."""
        key = _key(rows)
        saved = self.header["running"].get(key)
        if saved is None:
            return None
        prefix = f"stack.{key}."
        arrays = {name[len(prefix):]: value for name, value in self.arrays.items()
                  if name.startswith(prefix)}
        with self._malformed():
            return resume_stack(saved, arrays, models)

    def callback(self, rows: Sequence[int], models: StackedModels) -> Callback:
        """The loop's callback that keeps this stack: every :attr:`every` steps, and at
        a stop."""
        return StackCheckpoints(self, rows, models)

    def keep_stack(self, rows: Sequence[int], trainer: Trainer,
                   book: dict[str, Any]) -> None:
        """Keep a stack's state under way (with the models' bookkeeping ``book``, as of
        before the run's end); write the checkpoint where it has a place."""
        header, arrays = stack_state(trainer)
        header["models"] = book
        with self._lock:
            self._forget(rows)
            key = _key(rows)
            self.header["running"][key] = header
            self.arrays.update({f"stack.{key}.{name}": value for name, value in arrays.items()})
            self._write_if_placed()

    def _forget(self, rows: Sequence[int]) -> None:
        key = _key(rows)
        self.header["running"].pop(key, None)
        prefix = f"stack.{key}."
        for name in [n for n in self.arrays if n.startswith(prefix)]:
            del self.arrays[name]

    # -- several ranks ------------------------------------------------------------------

    def part(self, stacks: Sequence[Sequence[int]]
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What this checkpoint holds of ``stacks`` (their finished models and their states
        under way), for :meth:`take` on the rank that writes the file."""
        rows = {str(row) for one in stacks for row in one}
        keys = {_key(one) for one in stacks}
        prefixes = tuple([f"model.{row}." for row in rows] + [f"stack.{key}." for key in keys])
        with self._lock:
            header = {"stacks": [list(one) for one in stacks],
                      "finished": {row: done for row, done in self.header["finished"].items()
                                   if row in rows},
                      "running": {key: saved for key, saved in self.header["running"].items()
                                  if key in keys}}
            arrays = {name: value for name, value in self.arrays.items()
                      if name.startswith(prefixes)}
        return header, arrays

    def take(self, part: tuple[dict[str, Any], dict[str, np.ndarray]]) -> None:
        """Another rank's :meth:`part` in place of what this checkpoint held of its stacks
        (a resumed file's older state of them)."""
        header, arrays = part
        with self._lock:
            for one in header["stacks"]:
                self._forget(one)
                for row in one:
                    self.header["finished"].pop(str(row), None)
                    for name in [n for n in self.arrays if n.startswith(f"model.{row}.")]:
                        del self.arrays[name]
            self.header["finished"].update(header["finished"])
            self.header["running"].update(header["running"])
            self.arrays.update(arrays)

    def save(self) -> None:
        """Write the checkpoint where it has a place (after :meth:`take`)."""
        with self._lock:
            self._write_if_placed()

    # -- the file -------------------------------------------------------------------------

    def _write_if_placed(self) -> None:
        if self.path is None:
            return
        try:
            self.write(self.path)
        except (OSError, NNBackendError) as error:
            if self.warn is None:
                raise
            self.failed = True
            kept = "an earlier one is kept" if self.written else "none is kept yet"
            self.warn(f"the sweep checkpoint could not be written to {self.path} ({error}); "
                      f"the sweep goes on and {kept}")

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the checkpoint to ``path`` (atomically)."""
        write_sweep_file(path, self.header, self.arrays)
        self.path, self.written, self.failed = path, True, False


class StackCheckpoints(Callback):
    """Keep one stack of a sweep in its :class:`SweepCheckpoint`: every ``every`` steps,
    and when a stop (a signal) ends the run; never parameters that are NaN or infinite
    in a model still training (a frozen diverged model's blocks nothing).

    The models' bookkeeping (which are frozen, and why) is taken at each record, where it
    changes, so that what the end of an interrupted run adds (a late divergence found,
    step counts filled) is not kept: the resumed stack finds it itself, where the
    uninterrupted one does.
    """

    def __init__(self, checkpoint: SweepCheckpoint, rows: Sequence[int],
                 models: StackedModels) -> None:
        self.checkpoint, self.rows, self.models = checkpoint, tuple(rows), models
        self.book: dict[str, Any] = models.bookkeeping()
        self.every: int | None = None

    def on_begin(self, trainer: Trainer) -> None:
        self.book = self.models.bookkeeping()
        kept = self.checkpoint
        self.every = kept.every
        if kept.every is None and kept.print_every is not None:  # in steps
            self.every = kept.print_every * (-(-trainer.m // trainer.batch)
                                             if trainer.by_epoch else 1)
        if kept.path is None:
            self.every = None  # nowhere to write them until a stop names a place

    def on_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.book = self.models.bookkeeping()

    def on_step(self, trainer: Trainer) -> None:
        every = self.every
        if every is not None and trainer.state.step % every == 0:
            self._keep(trainer)

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        if result is not None and result.stopped_by == "interrupted":
            self._keep(trainer)

    def _keep(self, trainer: Trainer) -> None:
        if self.models.savable(trainer, self.book["frozen"]):
            self.checkpoint.keep_stack(self.rows, trainer, self.book)


def _difference(stored: Any, now: Mapping[str, Any]) -> str:
    """What differs between two sweeps' identities, in words."""
    if not isinstance(stored, dict):
        return "it holds no sweep description"
    for part, noun in (("grid", "the grid's"), ("fixed", "the fixed setting")):
        before, after = stored.get(part) or {}, now[part]
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                return f"{noun} {name}: {before.get(name)} then, {after.get(name)} now"
    if stored.get("dtype") != now["dtype"]:
        return f"dtype {stored.get('dtype')} then, {now['dtype']} now"
    if stored.get("split") != now["split"]:
        return "a validation split then, none now" if stored.get("split") else (
            "no validation split then, one now")
    return "other data: its rows, features or values differ"
