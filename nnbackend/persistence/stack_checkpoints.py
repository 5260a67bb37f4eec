"""Checkpoints of stacks of models, and the file that holds a sweep's.

A stack's run (:class:`~nnbackend.training.stacked.StackedModels` in the one training loop)
is kept as a single run's is (:mod:`nnbackend.persistence.checkpoints`): the
:class:`~nnbackend.training.trainer.TrainingState`, walked field by field by the same code,
plus what is per model in a stack: each model's stop and early stopping
(:meth:`StackedModels.bookkeeping`) and each model's host generator. Resumed, a stack
continues bit for bit where it stopped (same backend and dtype).

A sweep checkpoint is not a model file (it holds many models, or none yet): an
uncompressed ``.npz`` of named host arrays and a ``__header__`` JSON object (a 1-D
``uint8`` array, never pickle), with a SHA-256 checksum over the canonical header and
every array, written atomically. Its header is JSON as Python writes it, ``NaN`` and
``Infinity`` included, so every float (a diverged model's cost) comes back exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.backend import Backend
from ..data.arrayfiles import ArrayFileError, NpzArchive
from ..data.files import ZIP_MAGIC
from ..errors import NNBackendError
from ..training.divergence import FIX, DivergedError
from ..training.trainer import TrainingState
from .atomic import atomic_write
from .checkpoints import _build, _host_of, _split

if TYPE_CHECKING:
    from ..training.stacked import StackedModels
    from ..training.trainer import Trainer

#: The format of a sweep checkpoint's header.
SWEEP_FORMAT = "nnbackend-sweep-checkpoint"
SWEEP_VERSION = 1
HEADER_KEY = "__header__"
#: Archive prefix of a stack's parameters (the state's other arrays keep their names).
PARAMS = "params."


# ---- one stack ----------------------------------------------------------------------


def stack_state(trainer: Trainer) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A stack's run as ``(header, host arrays)``, between two steps.

    The state's fields as :func:`~nnbackend.persistence.checkpoints.save_checkpoint`
    splits them, the stacked parameters under ``params.``, the history (records of
    per-model lists) and the models' bookkeeping in the header, and each model's
    generator (keys ``rng_keys``, ``(k, 624)``).
    """
    models = typing.cast("StackedModels", trainer.models)
    st, backend = trainer.state, trainer.network.backend
    counters, arrays = _split(st, _host_of(backend))
    arrays.update({PARAMS + name: np.asarray(backend.to_host(value))
                   for name, value in st.params.items()})
    states = [typing.cast(tuple[Any, ...], rng.get_state()) for rng in models.stack.rngs]
    arrays["rng_keys"] = np.stack([np.asarray(s[1]) for s in states])
    rngs = [{"kind": s[0], "pos": int(s[2]), "has_gauss": int(s[3]),
             "cached_gaussian": float(s[4])} for s in states]
    header = {"state": counters, "history": st.history, "models": models.bookkeeping(),
              "rngs": rngs}
    return header, arrays


def resume_stack(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 models: StackedModels) -> TrainingState:
    """:func:`stack_state` backwards onto a freshly built ``models`` (the same plans):
    its bookkeeping and generators are restored; the state is returned for
    ``Trainer(..., state=..., stack=models)``.

    Raises
    ------
    NNBackendError
        The saved stack does not match ``models`` (other sizes or count).
    """
    backend: Backend = models.stack.backend
    net = models.network
    params = {name[len(PARAMS):]: value for name, value in arrays.items()
              if name.startswith(PARAMS)}
    shapes = {name: tuple(value.shape) for name, value in net.params.items()}
    keys = arrays.get("rng_keys")
    if ({name: tuple(value.shape) for name, value in params.items()} != shapes
            or keys is None or keys.shape != (models.k, 624)
            or len(header.get("rngs", [])) != models.k):
        raise NNBackendError("the checkpoint's stack does not match the models being "
                             "resumed; resume from another checkpoint or start again")
    models.restore(dict(header["models"]))
    for rng, saved, key in zip(models.stack.rngs, header["rngs"], keys, strict=True):
        rng.set_state((saved["kind"], key, saved["pos"], saved["has_gauss"],
                       saved["cached_gaussian"]))
    net.params = {name: backend.asarray(value) for name, value in params.items()}
    rest = {name: value for name, value in arrays.items() if not name.startswith(PARAMS)}
    return _build(TrainingState, dict(header["state"]), rest, backend,
                  {"params": net.params, "history": list(header["history"])})


def save_stack_checkpoint(path: str | os.PathLike[str], trainer: Trainer) -> Path:
    """Write a stack's run to ``path`` atomically (e.g. from a
    :class:`~nnbackend.training.callbacks.Checkpoints` callback's ``save``), in the sweep
    checkpoint's file format.

    Raises
    ------
    DivergedError
        A model still training has NaN or infinite parameters: nothing is written (a
        frozen diverged model's NaN is kept, and blocks nothing).
    """
    if not trainer.models.savable(trainer):
        raise DivergedError(f"a model still training has NaN or infinite parameters; "
                            f"nothing was written to {path}, which keeps what it had; {FIX}")
    header, arrays = stack_state(trainer)
    return write_sweep_file(path, {"stack": header}, arrays)


def load_stack_checkpoint(path: str | os.PathLike[str], models: StackedModels
                          ) -> TrainingState:
    """:func:`save_stack_checkpoint` backwards onto ``models`` (built as the first run
    built them); pass the state to ``Trainer(..., state=..., stack=models)``."""
    header, arrays = read_sweep_file(path)
    if not isinstance(header.get("stack"), dict):
        raise NNBackendError(f"{path} holds no stack's run (a sweep's checkpoint?); resume "
                             "it with nnbackend.sweep(resume=...)")
    return resume_stack(header["stack"], arrays, models)


# ---- the sweep's file ------------------------------------------------------------------


def write_sweep_file(path: str | os.PathLike[str], header: Mapping[str, Any],
                     arrays: Mapping[str, np.ndarray]) -> Path:
    """Write a sweep checkpoint atomically (a failed write keeps the old file)."""
    core = json.loads(plain_json({"format": SWEEP_FORMAT, "format_version": SWEEP_VERSION,
                                  **header}))  # as a reader parses it, for the checksum
    host = {name: np.asarray(value, order="C") for name, value in arrays.items()}
    text = plain_json({**core, "checksum": _digest(core, host)})
    members = {HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **host}
    savez: Callable[..., Any] = np.savez  # (NumPy's stubs fear a key named allow_pickle)
    return atomic_write(path, lambda fh: savez(fh, **members))


def read_sweep_file(path: str | os.PathLike[str]
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a sweep checkpoint: ``(header, arrays)``.

    Raises
    ------
    NNBackendError
        One line: not found, not a sweep checkpoint (a model file, a train checkpoint),
        another format version, unreadable, or changed since it was written.
    """
    again = "resume from another checkpoint or start the sweep again"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise NNBackendError(f"cannot read the sweep checkpoint {path}: "
                             f"{exc.strerror or exc}; check the path") from None
    if magic != ZIP_MAGIC:
        raise NNBackendError(f"{path} is not a sweep checkpoint (not an .npz archive); "
                             "resume from a file written by sweep --checkpoint")
    try:
        with NpzArchive(path) as archive:
            if HEADER_KEY not in archive.files:
                raise NNBackendError(f"{path} is not a sweep checkpoint (a model file or a "
                                     "train checkpoint?); resume it with the command that "
                                     "wrote it")
            header = json.loads(archive.read(HEADER_KEY).tobytes().decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != SWEEP_FORMAT:
                raise NNBackendError(f"{path} is not a sweep checkpoint (a model file or a "
                                     "train checkpoint?); resume it with the command that "
                                     "wrote it")
            arrays = {key: archive.read(key) for key in archive.files if key != HEADER_KEY}
    except ArrayFileError as exc:
        raise NNBackendError(f"sweep checkpoint {path} cannot be read ({exc.detail}); "
                             f"{again}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NNBackendError(f"sweep checkpoint {path} has an unreadable header ({exc}); "
                             f"{again}") from None
    if header.get("format_version") != SWEEP_VERSION:
        raise NNBackendError(f"{path} has sweep checkpoint version "
                             f"{header.get('format_version')!r}; this nnbackend reads version "
                             f"{SWEEP_VERSION}; {again}")
    stored = header.pop("checksum", None)
    if stored != _digest(header, arrays):
        raise NNBackendError(f"checksum mismatch in sweep checkpoint {path}: it was changed "
                             f"or corrupted after it was written; {again}")
    return header, arrays


def plain_json(value: Any) -> str:
    """``value`` as the header's JSON: sorted keys, NumPy numbers as Python's, tuples as
    lists, non-finite floats as Python writes them (``NaN``, ``Infinity``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _digest(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the canonical header, then each array by name (dtype, shape, bytes)."""
    digest = hashlib.sha256(plain_json(header).encode("utf-8"))
    for name in sorted(arrays):
        value = arrays[name]
        digest.update(f"\0{name}\0{value.dtype.str}\0{list(value.shape)}\0".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()
