"""Checkpoints: a model file that also carries everything the training loop changes.

A checkpoint is written with :func:`nnbackend.persistence.models.save_model`, so it is a
valid model file (``nnbackend predict --model checkpoint.npz`` works) and inherits its
guarantees: atomic writes, a SHA-256 checksum, no pickle, a fully checked header.

What it stores is derived from :class:`~nnbackend.training.trainer.TrainingState`'s
dataclass fields and their type hints, not listed here field by field, so a field added
to the state is saved, restored and checked without touching this module:

* ``params`` are the model's own parameters (``W1``, ``b1``, ...). ``history`` is kept
  as columns, one checksummed int64 or float64 array per record key (``history.<i>``,
  their names and kinds in ``extra["history_columns"]``), not as JSON records: a long
  history made each checkpoint slow (20,000 records: 0.63 s to write, 1.9 MB) and it is
  written again at every checkpoint. Records that do not share their keys stay in
  ``extra["history"]``, where model files keep theirs.
* ``int`` and ``float`` fields go to the header's ``extra["checkpoint"]`` (a non-finite
  float as the string ``"inf"``, ``"-inf"`` or ``"nan"``).
* array fields (hint ``Any``, e.g. the epoch's permutation ``order``) become the
  checksummed archive entry ``state.<name>``; None is no entry.
* dict fields (``optimizer_state``, ``best_params``, ``best_record``) and dataclass fields
  (``epoch_totals``) are split by value: arrays to ``state.<name>.<key>``, numbers to the
  header under the field's name.

Some archive names keep the first checkpoint format's spelling (:data:`ARCHIVE_NAMES`,
:data:`LEGACY_COUNTERS`), so checkpoints written before still resume. Besides the state,
the host generator's Mersenne-Twister state is stored (``rng_keys`` and ``rng``).

On loading, floating arrays go to the backend's device (in its dtype); integer arrays
(the permutation) stay host NumPy arrays, as the loop keeps them. Resuming restores all
of it, so a run killed at any point and resumed from its last checkpoint ends with the
same parameters as an uninterrupted run (bit for bit on NumPy).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ..core.backend import Backend, host_rng
from ..core.network import Network
from ..errors import NNBackendError
from ..training.divergence import refuse_non_finite
from ..training.trainer import Trainer, TrainingState
from .models import is_int, is_number, is_record, network_from, read_model, save_model

#: Archive prefixes of fields, where the first checkpoint format spelled them shorter.
ARCHIVE_NAMES = {"optimizer_state": "opt", "best_params": "best", "epoch_totals": "epoch"}
#: Fields a model file already holds: the parameters and ``extra["history"]``.
MODEL_FIELDS = ("params", "history")
#: Header counters of the first checkpoint format: ``name -> (field, key)``.
LEGACY_COUNTERS = {"optimizer_t": ("optimizer_state", "t"),
                   "epoch_examples": ("epoch_totals", "examples")}
#: Archive prefix of the history's columns (``history.0``, ...: one array per key).
HISTORY_PREFIX = "history."
#: Per trainer, the history columns its earlier checkpoints converted.
_CONVERTED: weakref.WeakKeyDictionary[Trainer, dict[str, Any]] = weakref.WeakKeyDictionary()
#: Non-finite floats as the header spells them (JSON has no infinity).
NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def save_checkpoint(path: str | os.PathLike[str], trainer: Trainer, run: dict[str, Any],
                    classes: Any = None, standardization: dict[str, Any] | None = None) -> Path:
    """Write the trainer's current state to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The checkpoint file (replaced atomically; an interrupted write keeps the old one).
    trainer : Trainer
        Saved between two steps (from its ``on_step`` callback or after ``run``).
    run : dict
        JSON-ready description of the run (data, architecture, options), needed to rebuild
        the data and the trainer on resume.
    classes, standardization
        As for :func:`nnbackend.persistence.models.save_model`.

    Raises
    ------
    DivergedError
        A parameter is NaN or infinite: nothing is written, ``path`` keeps what it had.
    """
    if trainer.models.stacked:  # a model file holds one model
        raise NNBackendError("a stack of models is checkpointed by nnbackend.persistence."
                             "stack_checkpoints.save_stack_checkpoint, not save_checkpoint")
    st, backend = trainer.state, trainer.network.backend
    refuse_non_finite(backend, st.params, path)  # a checkpoint never holds a diverged run
    counters, arrays = _split(st, _host_of(backend))
    kind, keys, position, has_gauss, cached_gaussian = trainer.rng.get_state()
    arrays["rng_keys"] = np.asarray(keys)  # already an array; typed as such
    counters["rng"] = {"kind": kind, "pos": int(position), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached_gaussian)}
    current = dataclasses.replace(trainer.network, params=st.params)  # not the old ones
    # Where it was written: a resumed copy that has moved since writes beside itself.
    extra = {"run": run, "history": st.history, "checkpoint": counters,
             "written_to": os.path.abspath(path)}
    columns = history_columns(st.history, _CONVERTED.setdefault(trainer, {}))
    if columns is not None:  # the usual case: compact arrays, not JSON (see the docstring)
        extra["history"], extra["history_columns"] = [], columns[0]
        arrays.update(columns[1])
    return save_model(path, current, extra, classes=classes, standardization=standardization,
                      state=arrays)


def load_checkpoint(path: str | os.PathLike[str], backend: Backend
                    ) -> tuple[Network, dict[str, Any], TrainingState, Any]:
    """Read a checkpoint onto ``backend``.

    Returns
    -------
    network : Network
        With the checkpoint's parameters.
    header : dict
        The model header; ``header["extra"]["run"]`` is the run description.
    state : TrainingState
        To pass to :class:`~nnbackend.training.trainer.Trainer` (``state=``).
    rng : numpy.random.RandomState
        The host generator, exactly where the run left it.

    Raises
    ------
    NNBackendError
        The file is not a checkpoint (e.g. a model saved with ``--save``), its counters
        or state arrays are missing or malformed, or any problem
        :func:`nnbackend.persistence.models.load_model` reports.
    """
    header, params, arrays = read_model(path)
    extra = header["extra"]
    counters = extra.get("checkpoint")
    if not isinstance(counters, dict) or "run" not in extra:
        raise NNBackendError(f"{path} is a model file, not a checkpoint; resume from a file "
                             "written by --checkpoint")
    counters = _upgraded(counters)
    history = _history_from(extra.get("history_columns"), arrays)
    problem = (checkpoint_problem(counters, arrays, params)
               or (None if isinstance(extra["run"], dict) else "run is not an object")
               or (history if isinstance(history, str) else None))
    if problem:
        raise NNBackendError(f"checkpoint {path} is malformed ({problem}); resume from "
                             "another checkpoint or start the run again")
    network = network_from(header, params, backend)
    records = history if isinstance(history, list) else list(extra.get("history", []))
    state = _build(TrainingState, counters, arrays, backend,
                   {"params": network.params, "history": records})
    return network, header, state, _generator(path, counters["rng"], arrays["rng_keys"])


# ---- the history as columns -------------------------------------------------------------


def history_columns(history: list[dict[str, Any]], done: dict[str, Any] | None = None
                    ) -> tuple[list[list[str]], dict[str, np.ndarray]] | None:
    """The records as ``([[key, kind], ...], {"history.<i>": column})``: one int64 or
    float64 array per key, or None when the records do not share their keys and types
    (they then stay JSON records in the header, as before).

    ``done`` (a dict kept between calls for the same, growing history) holds what earlier
    calls converted: only the records appended since are converted again, so a run
    checkpointed again and again does not redo its whole history each time.
    """
    if not history:
        return None
    done = {} if done is None else done
    n = done.get("records", 0)
    if not (0 < n <= len(history) and history[n - 1] is done.get("last")):
        n, done["arrays"] = 0, None  # a new or rewritten history: from the start
    keys = list(history[0])
    part = history[n:]
    if any(list(record) != keys for record in part) or (n and keys != done["keys"]):
        return None
    columns, arrays = [], {}
    for i, key in enumerate(keys):
        values = [record[key] for record in part]
        kinds = {type(value) for value in values} | ({done["kinds"][i]} if n else set())
        if kinds not in ({int}, {float}):
            return None  # (bools, None, text or mixed numbers: JSON keeps them exactly)
        kind = "int" if kinds == {int} else "float"
        new = np.asarray(values, dtype=np.int64 if kind == "int" else np.float64)
        name = f"{HISTORY_PREFIX}{i}"
        arrays[name] = np.concatenate([done["arrays"][name], new]) if n else new
        columns.append([key, kind])
    done.update(records=len(history), last=history[-1], keys=keys, arrays=arrays,
                kinds=[int if kind == "int" else float for _, kind in columns])
    return columns, dict(arrays)


def _history_from(columns: Any, arrays: dict[str, np.ndarray]
                  ) -> list[dict[str, Any]] | str | None:
    """:func:`history_columns` backwards: the records, None when the checkpoint keeps
    them as JSON, or what is wrong with the columns."""
    if columns is None:
        return None
    if not (isinstance(columns, list) and all(
            isinstance(c, list) and len(c) == 2 and isinstance(c[0], str)
            and c[1] in ("int", "float") for c in columns)):
        return "history_columns is not a list of [name, int|float]"
    values = []
    for i, (key, kind) in enumerate(columns):
        column = arrays.get(f"{HISTORY_PREFIX}{i}")
        if (column is None or column.ndim != 1
                or column.dtype.kind != ("i" if kind == "int" else "f")):
            return f"history column {key} is missing or not 1-D {kind}s"
        values.append(column.tolist())  # Python ints and floats, exactly
    if len({len(v) for v in values}) > 1:
        return "history columns differ in length"
    keys = [key for key, _ in columns]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]


# ---- the generic walk over the state's fields ------------------------------------------


def _kind(hint: Any) -> str:
    """How a field of this type hint is stored: ``int``, ``float``, ``dict``, ``records``,
    ``dataclass`` or ``array``."""
    if hint in (int, float):
        return hint.__name__
    inner = _unwrap_optional(hint)
    origin = typing.get_origin(inner)
    if origin is dict:
        return "dict"
    if origin is list:
        return "records"
    if dataclasses.is_dataclass(inner):
        return "dataclass"
    return "array"


def _is_optional(hint: Any) -> bool:
    return (typing.get_origin(hint) in (typing.Union, types.UnionType)
            and type(None) in typing.get_args(hint))


def _unwrap_optional(hint: Any) -> Any:
    """``X | None`` -> ``X``; any other hint as it is."""
    if _is_optional(hint):
        return next(h for h in typing.get_args(hint) if h is not type(None))
    return hint


def _fields(cls: type) -> list[tuple[str, str, bool, dataclasses.Field[Any]]]:
    """``(name, kind, optional, field)`` of a dataclass, from its resolved type hints."""
    hints = typing.get_type_hints(cls)
    return [(f.name, _kind(hints[f.name]), _is_optional(hints[f.name]), f)
            for f in dataclasses.fields(cls) if f.name not in MODEL_FIELDS]


def _archive_name(name: str, prefix: str = "") -> str:
    return prefix + ARCHIVE_NAMES.get(name, name)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _scalar_out(value: Any) -> Any:
    """A header value: Python numbers, non-finite floats spelled as strings."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return next(text for text, number in NON_FINITE.items()
                    if number == value or (math.isnan(number) and math.isnan(value)))
    return value


def _host_of(backend: Backend) -> typing.Callable[[Any], np.ndarray]:
    """Host copy of a state array: device arrays through the backend, host ones as they
    are (the permutation is a NumPy array on every backend)."""
    return lambda value: value if isinstance(value, np.ndarray) else backend.to_host(value)


def _split(obj: Any, host: typing.Callable[[Any], np.ndarray], prefix: str = ""
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A dataclass's fields as ``(header counters, archive arrays)``."""
    counters: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, kind, _, _ in _fields(type(obj)):
        value, key = getattr(obj, name), _archive_name(name, prefix)
        if kind == "array":
            if value is not None:
                arrays[key] = host(value)
        elif kind == "dataclass":
            counters[name], inner = _split(value, host, key + ".")
            arrays.update(inner)
        elif kind == "dict" and value is not None:
            counters[name] = {k: _scalar_out(v) for k, v in value.items() if _is_scalar(v)}
            arrays.update({f"{key}.{k}": host(v) for k, v in value.items()
                           if not _is_scalar(v)})
        else:
            counters[name] = None if value is None else _scalar_out(value)
    return counters, arrays


def _build(cls: type, counters: dict[str, Any], arrays: dict[str, np.ndarray],
           backend: Backend, given: dict[str, Any], prefix: str = "") -> Any:
    """:func:`_split` backwards: a ``cls`` from checked counters and arrays."""
    values = dict(given)
    for name, kind, optional, field in _fields(cls):
        key, stored = _archive_name(name, prefix), counters.get(name)
        if kind == "array":
            values[name] = _placed(arrays[key], backend) if key in arrays else None
        elif kind == "dataclass":
            values[name] = _build(_dataclass_of(cls, name), stored or {}, arrays, backend, {},
                                  key + ".")
        elif kind == "dict":
            members = {k[len(key) + 1:]: _placed(v, backend) for k, v in arrays.items()
                       if k.startswith(key + ".")}
            if stored is None and not members:
                values[name] = None if optional else {}
            else:
                values[name] = {**(stored or {}), **members}
        elif kind == "float":
            values[name] = (_default(field) if stored is None
                            else NON_FINITE.get(stored, stored) if isinstance(stored, str)
                            else float(stored))
        else:
            values[name] = stored
    return cls(**values)


def _placed(value: np.ndarray, backend: Backend) -> Any:
    """Floating arrays to the device; integer ones (permutations) stay on the host."""
    return backend.asarray(value) if value.dtype.kind == "f" else value


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _dataclass_of(cls: type, name: str) -> type:
    return typing.cast(type, _unwrap_optional(typing.get_type_hints(cls)[name]))


# ---- checks, from the same field list --------------------------------------------------


def _upgraded(counters: dict[str, Any]) -> dict[str, Any]:
    """Counters of the first checkpoint format in today's nesting."""
    counters = dict(counters)
    for old, (name, key) in LEGACY_COUNTERS.items():
        if old in counters and not isinstance(counters.get(name), dict):
            counters[name] = {key: counters.pop(old)}
    return counters


def checkpoint_problem(counters: dict[str, Any], arrays: dict[str, np.ndarray],
                       params: dict[str, np.ndarray]) -> str | None:
    """What is wrong with a checkpoint's counters and state arrays, or None.

    Every field of :class:`TrainingState` is checked by its kind: integers present and
    ``>= 0``, floats numbers (or a non-finite spelling), dicts objects of numbers, arrays
    floating or a permutation; moving averages and best parameters have their
    parameter's shape. The generator's state is checked as NumPy's ``set_state`` needs it.
    """
    problem = _fields_problem(TrainingState, counters, arrays, "")
    return problem or _shapes_problem(arrays, params) or _rng_problem(counters, arrays)


def _fields_problem(cls: type, counters: Any, arrays: dict[str, np.ndarray],
                    prefix: str) -> str | None:
    if not isinstance(counters, dict):
        return f"{prefix or 'checkpoint'} is not an object"
    for name, kind, optional, _ in _fields(cls):
        value, key = counters.get(name), _archive_name(name, prefix)
        if kind == "int" and not (is_int(value) and value >= 0):
            return f"counter {name} is {value!r}, not a count"
        if kind == "float" and not (value is None or is_number(value) or value in NON_FINITE):
            return f"{name} is {value!r}, not a number"
        if kind == "dict" and not (is_record(value) or (value is None and optional)):
            return f"{name} is {'missing' if value is None else 'not an object of numbers'}"
        if kind == "array" and key in arrays and arrays[key].dtype.kind not in "fiu":
            return f"state array {key} is {arrays[key].dtype}, not numbers"
        if kind == "dataclass":
            inner = _fields_problem(_dataclass_of(cls, name), value or {}, arrays, key + ".")
            if inner:
                return inner
    order = arrays.get(_archive_name("order"))
    if order is not None and not _is_permutation(order):
        return "state array order is not a permutation"
    return None


def _is_permutation(order: np.ndarray) -> bool:
    if order.ndim != 1 or order.dtype.kind not in "iu":
        return False
    return bool(np.array_equal(np.sort(order), np.arange(order.size)))


def _shapes_problem(arrays: dict[str, np.ndarray], params: dict[str, np.ndarray]
                    ) -> str | None:
    """Arrays named after a parameter (``opt.vdW1``, ``best.W1``) need its shape."""
    for key, value in arrays.items():
        match = re.search(r"(W|b)\d+$", key)
        if match and match.group() in params and value.shape != params[match.group()].shape:
            return (f"state array {key} is {value.shape}, parameter {match.group()} "
                    f"{params[match.group()].shape}")
    return None


def _rng_problem(counters: dict[str, Any], arrays: dict[str, np.ndarray]) -> str | None:
    rng, keys = counters.get("rng"), arrays.get("rng_keys")
    if not (isinstance(rng, dict) and rng.get("kind") == "MT19937"
            and is_int(rng.get("pos")) and is_int(rng.get("has_gauss"))
            and is_number(rng.get("cached_gaussian"))):
        return "the random generator's state is missing or malformed"
    if keys is None or keys.shape != (624,) or keys.dtype.kind not in "iu":
        return "the random generator's keys are missing or malformed"
    return None


def _generator(path: str | os.PathLike[str], r: dict[str, Any], keys: np.ndarray) -> Any:
    rng = host_rng(None)
    try:
        rng.set_state((r["kind"], keys, r["pos"], r["has_gauss"], r["cached_gaussian"]))
    except (ValueError, TypeError, OverflowError) as exc:
        raise NNBackendError(f"checkpoint {path} is malformed (random generator state: "
                             f"{exc}); resume from another checkpoint or start the run "
                             "again") from None
    return rng
