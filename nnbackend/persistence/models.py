"""Model files you can trust: plain arrays plus a JSON header in one ``.npz``, never pickle.

Layout of a model file (an uncompressed ``numpy.savez`` archive):

* ``W1, b1, ..., WL, bL``: the parameters as plain float arrays, in the notes' shapes
  (``W[l]`` is ``(n[l], n[l-1])``, ``b[l]`` is ``(n[l], 1)``).
* ``__header__``: a UTF-8 JSON object stored as a 1-D ``uint8`` array, so reading it needs
  no unpickling. Keys: ``format`` ("nnbackend-model"), ``format_version`` (1),
  ``nnbackend_version``, ``layer_sizes``, ``hidden_activation``, ``task``, ``dtype``,
  ``backend`` (where it was trained), ``classes`` (a JSON list, None for regression),
  ``standardization`` (``Standardizer.to_dict()`` or None), ``extra`` (training options,
  history) and ``checksum``.

The checksum is SHA-256 over the canonical JSON of the header without its ``checksum`` key
(sorted keys, no spaces), then, for each parameter in the order ``W1, b1, W2, b2, ...``,
``"\\0{name}\\0{dtype.str}\\0{list(shape)}\\0"`` and the array's C-order bytes. It catches
truncation, bit rot and hand edits; it is not a signature against a deliberate forger (who
could recompute it), but loading never executes code, so a forged file can only give
wrong predictions.

Writes are atomic (:mod:`nnbackend.persistence.atomic`): a failed save leaves the old file
untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..core.activations import get_hidden_activation
from ..core.backend import Backend
from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..data.files import ZIP_MAGIC
from ..data.preprocessing import Standardizer
from ..errors import NNBackendError
from .atomic import atomic_write, atomic_write_text

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_write_text", "load_model", "load_state",
           "save_model"]

FORMAT_NAME = "nnbackend-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
#: Archive keys of extra state arrays (checkpoints): ``state.<name>``.
STATE_PREFIX = "state."


def save_model(
    path: str | os.PathLike[str],
    network: Network,
    extra: Mapping[str, Any] | None = None,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
    standardization: Mapping[str, Any] | None = None,
    state: Mapping[str, np.ndarray] | None = None,
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

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    NNBackendError
        The directory is missing or the file cannot be written (one line).
    """
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
    }
    # Round-trip through JSON first, so the checksum covers exactly what a reader parses.
    core = json.loads(_canonical_json(core))
    # np.asarray(order="C"), not ascontiguousarray: the latter turns 0-d arrays into 1-d.
    extras = {f"{STATE_PREFIX}{name}": np.asarray(value, order="C")
              for name, value in (state or {}).items()}
    digest = _digest(core, params, extras)
    header = {**core, "checksum": {"algorithm": "sha256", "value": digest}}
    text = json.dumps(header, sort_keys=True, default=_json_default)
    arrays = {HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **params,
              **extras}
    # Through a Callable[..., Any]: NumPy's stubs fear a key named allow_pickle in **arrays.
    savez: Callable[..., Any] = np.savez
    return atomic_write(path, lambda fh: savez(fh, **arrays))


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
        A missing, truncated or corrupted file, a file that is not an nnbackend model,
        another format version, a checksum mismatch, or missing or mis-shaped parameters.
    """
    header, params, _ = _read_archive(path)
    network = Network(
        tuple(header["layer_sizes"]), get_hidden_activation(header["hidden_activation"]),
        OUTPUT_LAYERS[header["task"]], backend,
        {name: backend.asarray(value) for name, value in params.items()},
    )
    return network, header


def load_state(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file's header and its extra state arrays (see ``save_model(state=)``).

    Returns
    -------
    header : dict
    state : dict
        ``name -> host array`` for each ``state.<name>`` entry (empty for plain models).
    """
    header, _, state = _read_archive(path)
    return header, state


def _read_archive(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Open, check and verify a model file: ``(header, parameters, state arrays)``."""
    path = Path(path)
    if path.is_dir():
        raise NNBackendError(f"model path {path} is a directory; give the model file")
    if not path.is_file():
        raise NNBackendError(f"model file {path} not found; check the path")
    with open(path, "rb") as fh:
        if fh.read(4) != ZIP_MAGIC:
            raise NNBackendError(f"{path} is not an nnbackend model file (not an .npz "
                                 "archive); give a file written by nnbackend")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupted(path, exc) from None
    with archive:
        if HEADER_KEY not in archive.files:
            raise NNBackendError(f"{path} is not an nnbackend model file (no {HEADER_KEY}); "
                                 "give a file written by nnbackend")
        header = _parse_header(path, _member(path, archive, HEADER_KEY))
        sizes = header["layer_sizes"]
        names = _parameter_names(len(sizes) - 1)
        state_keys = [key for key in archive.files if key.startswith(STATE_PREFIX)]
        unknown = sorted(set(archive.files) - set(names) - {HEADER_KEY} - set(state_keys))
        missing = [name for name in names if name not in archive.files]
        if missing or unknown:
            problem = (f"is missing parameter {', '.join(missing)}" if missing
                       else f"has unexpected entries {', '.join(unknown)}")
            raise NNBackendError(f"model file {path} {problem}; save the model again")
        params = {name: _member(path, archive, name) for name in names}
        extras = {key: _member(path, archive, key) for key in state_keys}
    for l in range(1, len(sizes)):  # noqa: E741 -- the notes' layer index
        for name, shape in ((f"W{l}", (sizes[l], sizes[l - 1])), (f"b{l}", (sizes[l], 1))):
            value = params[name]
            if value.shape != shape or value.dtype.name != header["dtype"]:
                raise NNBackendError(
                    f"model file {path}: parameter {name} is {value.dtype.name} "
                    f"{value.shape}, the header says {header['dtype']} {shape}; save the "
                    "model again"
                )
    stored = header.pop("checksum")
    if _digest(header, params, extras) != stored["value"]:
        raise NNBackendError(f"checksum mismatch in model file {path}: it was changed or "
                             "corrupted after saving; save the model again")
    header["checksum"] = stored
    state = {key[len(STATE_PREFIX):]: value for key, value in extras.items()}
    return header, params, state


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


def _member(path: Path, archive: Any, key: str) -> np.ndarray:
    try:
        return archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _corrupted(path, exc, key) from None


def _corrupted(path: Path, exc: Exception, key: str | None = None) -> NNBackendError:
    where = f" ({key})" if key else ""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ValueError) and "pickle" in reason.lower():
        reason = "it holds Python objects, which nnbackend never unpickles"
    return NNBackendError(f"model file {path} is corrupted or truncated{where}: {reason}; "
                          "save the model again")


def _parse_header(path: Path, raw: np.ndarray) -> dict[str, Any]:
    """Decode and check the JSON header; every problem is one line naming the file."""
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"header is {raw.dtype} {raw.shape}, not bytes")
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise NNBackendError(f"model file {path} has an unreadable header ({exc}); save the "
                             "model again") from None
    if header.get("format") != FORMAT_NAME:
        raise NNBackendError(f"{path} is not an nnbackend model file (format "
                             f"{header.get('format')!r}); give a file written by nnbackend")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        fix = ("upgrade nnbackend" if isinstance(version, int) and version > FORMAT_VERSION
               else "save the model again")
        raise NNBackendError(f"model file {path} has format version {version!r}; nnbackend "
                             f"{__version__} reads version {FORMAT_VERSION}; {fix}")
    problem = _header_problem(header)
    if problem:
        raise NNBackendError(f"model file {path} has an invalid header ({problem}); save the "
                             "model again")
    return header


def _header_problem(header: Mapping[str, Any]) -> str | None:
    """What is wrong with a parsed header's fields, or None."""
    sizes = header.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                       for n in sizes)):
        return f"layer_sizes {sizes!r}"
    task = header.get("task")
    if task not in OUTPUT_LAYERS:
        return f"task {task!r}"
    if header.get("dtype") not in ("float32", "float64"):
        return f"dtype {header.get('dtype')!r}"
    try:
        get_hidden_activation(str(header.get("hidden_activation")))
    except NNBackendError:
        return f"hidden_activation {header.get('hidden_activation')!r}"
    checksum = header.get("checksum")
    if not (isinstance(checksum, dict) and checksum.get("algorithm") == "sha256"
            and isinstance(checksum.get("value"), str)):
        return "no sha256 checksum"
    classes = header.get("classes")
    n_out = sizes[-1]
    expected = None if task == "regression" else (2 if task == "binary" else n_out)
    if classes is not None and (not isinstance(classes, list) or len(classes) != expected):
        return f"classes {classes!r} for a {task} model with {n_out} output(s)"
    if task == "binary" and n_out != 1:
        return f"a binary model has 1 output, not {n_out}"
    if not isinstance(header.get("extra"), dict):
        return "extra is not an object"
    record = header.get("standardization")
    if record is not None:
        try:
            n_features = Standardizer.from_dict(record).n_features
        except NNBackendError:
            return "standardization is malformed"
        if n_features != sizes[0]:
            return f"standardization has {n_features} features, the network {sizes[0]}"
    return None
