"""Model files you can trust: plain arrays plus a JSON header in one ``.npz``, never pickle.

Layout of a model file (an uncompressed ``numpy.savez`` archive):

* ``W1, b1, ..., WL, bL``: the parameters as plain float arrays, in the notes' shapes
  (``W[l]`` is ``(n[l], n[l-1])``, ``b[l]`` is ``(n[l], 1)``).
* ``__header__``: a UTF-8 JSON object stored as a 1-D ``uint8`` array, so reading it needs
  no unpickling. Keys: ``format`` ("nnbackend-model"), ``format_version`` (1),
  ``nnbackend_version``, ``layer_sizes``, ``hidden_activation``, ``task``, ``dtype``,
  ``backend`` (where it was trained), ``classes`` (a JSON list, None for regression),
  ``standardization`` (``Standardizer.to_dict()`` or None), ``extra`` (training options,
  history) and ``checksum``; for a model trained on data with column names (a CSV),
  ``feature_names`` (the inputs' columns, in order) and ``target`` (the label column),
  by which later data is matched. Files without them are matched by position.

The checksum is SHA-256 over the canonical JSON of the header without its ``checksum`` key
(sorted keys, no spaces), then, for each parameter in the order ``W1, b1, W2, b2, ...``,
``"\\0{name}\\0{dtype.str}\\0{list(shape)}\\0"`` and the array's C-order bytes. It catches
truncation, bit rot and hand edits; it is not a signature against a deliberate forger (who
could recompute it), but loading never executes code, so a forged file can only give
wrong predictions.

Reading trusts nothing before it is checked: the archive is read member by member
(:mod:`nnbackend.data.arrayfiles`), the JSON header first, its every field checked
(:func:`header_problem`: types, nesting depth, classes a flat list of distinct labels,
history records of numbers, ...), then each parameter's ``.npy`` header against the layer
sizes, and only then the parameters' data. Any problem, whatever zipfile, zlib or NumPy
raise underneath, is one :class:`~nnbackend.errors.NNBackendError` line.

Writes are atomic (:mod:`nnbackend.persistence.atomic`): a failed save leaves the old file
untouched. :func:`model_to_bytes` and :func:`model_from_bytes` give the same file as bytes
(for pickling an estimator), through the same code and checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

import numpy as np

from .._version import __version__
from ..core.activations import get_hidden_activation
from ..core.backend import Backend
from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..data.arrayfiles import ArrayFileError, NpzArchive
from ..data.columns import Columns
from ..data.files import ZIP_MAGIC
from ..data.preprocessing import Standardizer
from ..errors import NNBackendError
from .atomic import atomic_write, atomic_write_text

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_write_text", "header_problem",
           "load_model", "load_state", "model_from_bytes", "model_to_bytes", "read_model",
           "save_model"]

FORMAT_NAME = "nnbackend-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
#: Archive keys of extra state arrays (checkpoints): ``state.<name>``.
STATE_PREFIX = "state."
#: Deepest nesting of lists and objects a header may have (a written one has about 6).
MAX_DEPTH = 32

#: What a model comes from: a path, or the bytes of :func:`model_to_bytes`.
Source = str | os.PathLike[str] | bytes


def save_model(
    path: str | os.PathLike[str],
    network: Network,
    extra: Mapping[str, Any] | None = None,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
    standardization: Mapping[str, Any] | None = None,
    state: Mapping[str, np.ndarray] | None = None,
    columns: Columns | None = None,
) -> Path:
    """Write ``network`` to ``path`` as a model file, atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write (``.npz`` is the usual suffix; none is added).
    network : Network
        Its parameters are copied to the host with ``network.backend.to_host``.
    extra : mapping, optional
        JSON-ready training options and history (NumPy scalars and arrays are converted).
    classes : sequence, optional
        The original labels of class indices ``0 .. K-1`` (numbers or strings); None for
        regression.
    standardization : mapping, optional
        ``Standardizer.to_dict()`` of the training features, or None.
    state : mapping, optional
        Extra host arrays (a checkpoint's optimizer state, permutation, generator keys),
        stored under ``state.<name>`` and covered by the checksum; read them back with
        :func:`load_state`. The file stays a valid model file.
    columns : Columns, optional
        The training data's feature and target column names (header keys
        ``feature_names`` and ``target``); None for data without names.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    NNBackendError
        The directory is missing or the file cannot be written (one line).
    """
    arrays = _archive_arrays(network, extra, classes, standardization, state, columns)
    return atomic_write(path, lambda fh: _write_archive(fh, arrays))


def model_to_bytes(
    network: Network,
    extra: Mapping[str, Any] | None = None,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
    standardization: Mapping[str, Any] | None = None,
    columns: Columns | None = None,
) -> bytes:
    """The bytes :func:`save_model` would write, for storing a model inside something else.

    Parameters are as for :func:`save_model`; read the bytes back with
    :func:`model_from_bytes`.
    """
    buffer = io.BytesIO()
    _write_archive(buffer, _archive_arrays(network, extra, classes, standardization, None,
                                           columns))
    return buffer.getvalue()


def load_model(path: str | os.PathLike[str], backend: Backend) -> tuple[Network, dict[str, Any]]:
    """Read a model file onto ``backend``, refusing anything that is not intact.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    backend : Backend
        Where the parameters go; they are cast to its dtype, so a float32 CUDA model
        loads on a float64 CPU backend and back.

    Returns
    -------
    network : Network
    header : dict
        The parsed header (classes, standardization, extra, ...).

    Raises
    ------
    NNBackendError
        A missing, non-regular, truncated or corrupted file, a file that is not an
        nnbackend model, another format version, an invalid header, a checksum mismatch,
        or missing or mis-shaped parameters.
    """
    header, params, _ = read_model(path)
    return network_from(header, params, backend), header


def model_from_bytes(data: bytes, backend: Backend) -> tuple[Network, dict[str, Any]]:
    """Read the bytes of :func:`model_to_bytes` onto ``backend``, with every check of
    :func:`load_model` (messages name "model bytes" instead of a file)."""
    header, params, _ = read_model(bytes(data))
    return network_from(header, params, backend), header


def load_state(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file's header and its extra state arrays (see ``save_model(state=)``).

    Returns
    -------
    header : dict
    state : dict
        ``name -> host array`` for each ``state.<name>`` entry (empty for plain models).
    """
    header, _, state = read_model(path)
    return header, state


def network_from(header: Mapping[str, Any], params: Mapping[str, np.ndarray],
                 backend: Backend) -> Network:
    """The :class:`Network` of a checked header and its host parameters, on ``backend``."""
    return Network(
        tuple(header["layer_sizes"]), get_hidden_activation(header["hidden_activation"]),
        OUTPUT_LAYERS[header["task"]], backend,
        {name: backend.asarray(value) for name, value in params.items()},
    )


def read_model(
    source: Source,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Open, check and verify a model: ``(header, parameters, state arrays)``, on the host.

    ``source`` is a path or the bytes of :func:`model_to_bytes`. The state arrays are
    keyed without their ``state.`` prefix.

    Raises
    ------
    NNBackendError
        Everything :func:`load_model` refuses.
    """
    name = "model bytes" if isinstance(source, bytes) else f"model file {Path(source)}"
    _check_source(source)
    try:
        with NpzArchive(source) as archive:
            header, params, extras = _read_members(name, archive)
    except ArrayFileError as exc:
        raise _unreadable(name, exc) from None
    stored = header.pop("checksum")
    if _digest(header, params, extras) != stored["value"]:
        raise NNBackendError(f"checksum mismatch in {name}: it was changed or corrupted "
                             "after saving; save the model again")
    header["checksum"] = stored
    state = {key[len(STATE_PREFIX):]: value for key, value in extras.items()}
    return header, params, state


def _check_source(source: Source) -> None:
    """Refuse what is not a zip archive before opening it as one."""
    if isinstance(source, bytes):
        if source[:4] != ZIP_MAGIC:
            raise NNBackendError("model bytes are not an nnbackend model (not an .npz "
                                 "archive); give bytes from model_to_bytes")
        return
    if not os.fspath(source).strip():  # Path('') is ".", a directory: say what was given
        raise NNBackendError("the model path is empty; give a model file written by nnbackend")
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise NNBackendError(f"model file {path} not found; check the path") from None
    except OSError as exc:
        raise NNBackendError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise NNBackendError(f"model path {path} is a directory; give the model file")
    if not stat.S_ISREG(mode):
        # /dev/zero, a pipe or a socket (perhaps behind a symbolic link): never read it.
        raise NNBackendError(f"model path {path} is not a regular file (a device, pipe or "
                             "socket); give the model file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise NNBackendError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if magic != ZIP_MAGIC:
        raise NNBackendError(f"{path} is not an nnbackend model file (not an .npz "
                             "archive); give a file written by nnbackend")


def _read_members(
    name: str, archive: NpzArchive,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Header, then parameter shapes, then data: nothing is read before it is checked."""
    if HEADER_KEY not in archive.files:
        raise NNBackendError(f"{_display(name)} is not an nnbackend model file (no "
                             f"{HEADER_KEY}); give a file written by nnbackend")
    header = _parse_header(name, archive.read(HEADER_KEY))
    sizes = header["layer_sizes"]
    names = _parameter_names(len(sizes) - 1)
    state_keys = [key for key in archive.files if key.startswith(STATE_PREFIX)]
    unknown = sorted(set(archive.files) - set(names) - {HEADER_KEY} - set(state_keys))
    missing = [key for key in names if key not in archive.files]
    if missing or unknown:
        problem = (f"is missing parameter {', '.join(missing)}" if missing
                   else f"has unexpected entries {', '.join(unknown)}")
        raise NNBackendError(f"{name} {problem}; save the model again")
    for l in range(1, len(sizes)):  # noqa: E741 -- the notes' layer index
        for key, shape in ((f"W{l}", (sizes[l], sizes[l - 1])), (f"b{l}", (sizes[l], 1))):
            declared = archive.header(key)
            if declared.shape != shape or declared.dtype.name != header["dtype"]:
                raise NNBackendError(
                    f"{name}: parameter {key} is {declared.dtype.name} {declared.shape}, the "
                    f"header says {header['dtype']} {shape}; save the model again"
                )
    params = {key: archive.read(key) for key in names}
    extras = {key: archive.read(key) for key in state_keys}
    return header, params, extras


def _display(name: str) -> str:
    """``model file X`` -> ``X`` (the wording "X is not an nnbackend model file")."""
    return name.removeprefix("model file ")


def _unreadable(name: str, exc: ArrayFileError) -> NNBackendError:
    """One line for a member that cannot be read."""
    where = f" ({exc.key})" if exc.key else ""
    if exc.kind == "objects":
        reason = "it holds Python objects, which nnbackend never unpickles"
    else:
        reason = exc.detail
    state = "cannot be read" if exc.kind in ("inflates", "memory") else (
        "is corrupted or truncated")
    return NNBackendError(f"{name} {state}{where}: {reason}; save the model again")


def _archive_arrays(
    network: Network,
    extra: Mapping[str, Any] | None,
    classes: Sequence[Any] | np.ndarray | None,
    standardization: Mapping[str, Any] | None,
    state: Mapping[str, np.ndarray] | None,
    columns: Columns | None = None,
) -> dict[str, np.ndarray]:
    """Everything a model file holds, header included, as named host arrays."""
    params = {name: np.ascontiguousarray(network.backend.to_host(value))
              for name, value in network.params.items()}
    names = _parameter_names(len(network.layer_sizes) - 1)
    if sorted(params) != sorted(names):
        raise ValueError(f"network parameters {sorted(params)} do not match its layer sizes")
    task = network.output.task
    class_list = None if classes is None else np.asarray(classes).tolist()
    if task == "regression" and class_list is not None:
        raise ValueError("a regression model has no classes; pass classes=None")
    core = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnbackend_version": __version__,
        "layer_sizes": list(network.layer_sizes),
        "hidden_activation": network.hidden.name,
        "task": task,
        "dtype": network.backend.dtype_name,
        "backend": network.backend.as_dict(),
        "classes": class_list,
        "standardization": None if standardization is None else dict(standardization),
        "extra": dict(extra or {}),
        # Only with names, so that a model without them is the file older versions wrote.
        **({} if columns is None else columns.to_header()),
    }
    # Round-trip through JSON first, so the checksum covers exactly what a reader parses.
    core = json.loads(_canonical_json(core))
    # np.asarray(order="C"), not ascontiguousarray: the latter turns 0-d arrays into 1-d.
    extras = {f"{STATE_PREFIX}{name}": np.asarray(value, order="C")
              for name, value in (state or {}).items()}
    digest = _digest(core, params, extras)
    header = {**core, "checksum": {"algorithm": "sha256", "value": digest}}
    text = json.dumps(header, sort_keys=True, default=_json_default)
    return {HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **params,
            **extras}


def _write_archive(fh: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    # Through a Callable[..., Any]: NumPy's stubs fear a key named allow_pickle in **arrays.
    savez: Callable[..., Any] = np.savez
    savez(fh, **arrays)


def _parameter_names(depth: int) -> list[str]:
    """``W1, b1, ..., WL, bL``: the defined order of the checksum."""
    return [f"{kind}{l}" for l in range(1, depth + 1) for kind in "Wb"]  # noqa: E741


def _digest(core: Mapping[str, Any], params: Mapping[str, np.ndarray],
            extras: Mapping[str, np.ndarray] | None = None) -> str:
    """SHA-256 over the canonical header, the parameters, then the state arrays by name."""
    digest = hashlib.sha256(_canonical_json(core).encode("utf-8"))
    arrays = {**params, **(extras or {})}
    for name in _parameter_names(len(params) // 2) + sorted(extras or {}):
        value = arrays[name]
        digest.update(f"\0{name}\0{value.dtype.str}\0{list(value.shape)}\0".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    """NumPy scalars and arrays in ``extra`` become plain JSON numbers and lists."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _parse_header(name: str, raw: np.ndarray) -> dict[str, Any]:
    """Decode and check the JSON header; every problem is one line naming the file."""
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"header is {raw.dtype} {raw.shape}, not bytes")
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        if nesting_depth(header) > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    except RecursionError:
        raise NNBackendError(f"{name} has an unreadable header (nested too deeply); save "
                             "the model again") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise NNBackendError(f"{name} has an unreadable header ({exc}); save the model "
                             "again") from None
    if header.get("format") != FORMAT_NAME:
        raise NNBackendError(f"{_display(name)} is not an nnbackend model file (format "
                             f"{_short(header.get('format'))}); give a file written by "
                             "nnbackend")
    version = header.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        fix = ("upgrade nnbackend" if isinstance(version, int) and version > FORMAT_VERSION
               else "save the model again")
        raise NNBackendError(f"{name} has format version {_short(version)}; nnbackend "
                             f"{__version__} reads version {FORMAT_VERSION}; {fix}")
    problem = header_problem(header)
    if problem:
        raise NNBackendError(f"{name} has an invalid header ({problem}); save the model "
                             "again")
    return header


def nesting_depth(value: Any) -> int:
    """Levels of lists and dicts in a parsed JSON value (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to one short line (a forged header may hold anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer (``bool`` is a Python int, but not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number (int or float, not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_record(value: Any) -> bool:
    """A history record: an object of numbers (None where a value was not finite)."""
    return isinstance(value, dict) and all(v is None or is_number(v) for v in value.values())


def header_problem(header: Mapping[str, Any]) -> str | None:
    """What is wrong with a parsed header's fields (every field, nested too), or None.

    ``format`` and ``format_version`` are checked by the reader before this.
    """
    for check in (_network_problem, _labels_problem, _columns_problem, _metadata_problem):
        problem = check(header)
        if problem:
            return problem
    return None


def _network_problem(header: Mapping[str, Any]) -> str | None:
    sizes = header.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(is_int(n) and n >= 1 for n in sizes)):
        return f"layer_sizes {_short(sizes)}"
    task = header.get("task")
    if not isinstance(task, str) or task not in OUTPUT_LAYERS:
        return f"task {_short(task)}"
    if header.get("dtype") not in ("float32", "float64"):
        return f"dtype {_short(header.get('dtype'))}"
    activation = header.get("hidden_activation")
    try:
        if not isinstance(activation, str):
            raise NNBackendError("not a name")
        get_hidden_activation(activation)
    except NNBackendError:
        return f"hidden_activation {_short(activation)}"
    if task == "binary" and sizes[-1] != 1:
        return f"a binary model has 1 output, not {sizes[-1]}"
    return None


def _labels_problem(header: Mapping[str, Any]) -> str | None:
    sizes, task = header["layer_sizes"], header["task"]
    classes = header.get("classes")
    n_out = sizes[-1]
    expected = None if task == "regression" else (2 if task == "binary" else n_out)
    if classes is not None:
        if not isinstance(classes, list) or len(classes) != expected:
            return f"classes {_short(classes)} for a {task} model with {n_out} output(s)"
        if not all(isinstance(c, (str, int, float)) for c in classes):
            return f"classes {_short(classes)} are not a flat list of numbers or strings"
        if len({(type(c).__name__ == "str", c) for c in classes}) != len(classes):
            return f"classes {_short(classes)} repeat a label"
    record = header.get("standardization")
    if record is not None:
        try:
            if not isinstance(record, dict):
                raise NNBackendError("not an object")
            n_features = Standardizer.from_dict(record).n_features
        except NNBackendError:
            return "standardization is malformed"
        if n_features != sizes[0]:
            return f"standardization has {n_features} features, the network {sizes[0]}"
    return None


def _columns_problem(header: Mapping[str, Any]) -> str | None:
    names, target = header.get("feature_names"), header.get("target")
    if names is not None:
        if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            return f"feature_names {_short(names)} are not distinct column names"
        if len(names) != header["layer_sizes"][0]:
            return (f"feature_names has {len(names)} names, the network "
                    f"{header['layer_sizes'][0]} inputs")
    if target is not None and (not isinstance(target, str) or target in (names or [])):
        return f"target {_short(target)} is not a column name apart from the features"
    return None


def _metadata_problem(header: Mapping[str, Any]) -> str | None:
    if not isinstance(header.get("nnbackend_version"), str):
        return f"nnbackend_version {_short(header.get('nnbackend_version'))}"
    backend = header.get("backend")
    if not (isinstance(backend, dict) and all(isinstance(v, str) for v in backend.values())):
        return f"backend {_short(backend)}"
    checksum = header.get("checksum")
    if not (isinstance(checksum, dict) and checksum.get("algorithm") == "sha256"
            and isinstance(checksum.get("value"), str)):
        return "no sha256 checksum"
    extra = header.get("extra")
    if not isinstance(extra, dict):
        return "extra is not an object"
    history = extra.get("history", [])
    if not (isinstance(history, list) and all(is_record(entry) for entry in history)):
        return "extra.history is not a list of records of numbers"
    return None
