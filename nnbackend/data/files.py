"""Read the user's data files into host arrays ``X (m, n_features)`` and ``y (m,)``.

Three formats, no pandas and never pickle:

* ``.csv``: a header row, then one example per line. The label column is ``target``
  (default: the LAST column); every other column is a numeric feature. Labels may be
  numbers or class names (strings), not both. UTF-8 (a BOM is ignored); blank lines are
  skipped. Parsed in blocks (:mod:`nnbackend.data.csvfiles`): the numbers are held, not
  the cells as strings; :func:`read_data` also gives the column names.
* ``.npz``: an archive with arrays ``X`` and ``y``, as written by
  ``numpy.savez("data.npz", X=X, y=y)``.
* ``.npy``: the features; the labels come from a sibling file in the same folder:
  ``X.npy`` -> ``y.npy`` and ``X_train.npy`` -> ``y_train.npy`` (a leading capital ``X``
  becomes ``y``), any other ``NAME.npy`` -> ``NAME_y.npy``. Or name both explicitly:
  ``"features.npy,labels.npy"`` (a pair only when no file has that whole name). Features
  are memory-mapped, not read: data larger than memory trains through the unchanged
  loop, which gathers each batch's rows.

A CSV's delimiter is a comma, unless its header row has none: then ``;``, tab or ``|``
are detected (``csv.Sniffer``). Array files are read header first
(:mod:`nnbackend.data.arrayfiles`): a declared size the file cannot back is refused before
any memory is allocated.

:func:`read_features` reads data for an existing model, where the labels are optional
(prediction): a CSV is matched to the model's column names when it stored them
(:mod:`nnbackend.data.columns`), else one with exactly the model's number of columns is
all features; an ``.npz`` may lack ``y`` and an ``.npy`` its labels file.

Every problem (missing file, malformed CSV, a non-numeric feature column, NaN or inf,
unknown target column, labels mixing numbers and text, columns unknown to a model, empty
data, pickled objects, missing arrays, X/y length mismatch, unknown file type, a corrupted
archive, a size beyond the file or the memory) raises
:class:`NNBackendError` in one line naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._text import count
from ..errors import NNBackendError
from .arrayfiles import ArrayFileError, NpzArchive, load_npy
from .columns import Columns, select_columns
from .csvfiles import read_header, read_table
from .encoding import first_non_finite

DATA_SUFFIXES = (".csv", ".npz", ".npy")
NPZ_HINT = "save it with numpy.savez(path, X=X, y=y)"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"

Dataset = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class DataFile:
    """What a data file holds: features, labels, and the column names of a CSV.

    Attributes
    ----------
    X : ndarray, shape (m, n_features)
        float64 (or a float32 memory map), finite.
    y : ndarray, shape (m,) or (m, k)
        Labels as stored (numbers or strings).
    columns : Columns or None
        A CSV's feature and label column names; None for array files, which have none.
    """

    X: np.ndarray
    y: np.ndarray
    columns: Columns | None = None


def read_data_file(spec: str, target: str | None = None) -> Dataset:
    """Read a ``.csv``, ``.npz``, ``.npy`` or ``FEATURES.npy,LABELS.npy`` data file.

    :func:`read_data` is the same with the CSV's column names.

    Parameters
    ----------
    spec : str
        The path (or the comma-separated ``.npy`` pair); formats as in the module notes.
    target : str, optional
        CSV only: the label column (default: the last one).

    Returns
    -------
    X : ndarray, shape (m, n_features)
        float64, finite.
    y : ndarray, shape (m,) or (m, k)
        Labels as stored (numbers or strings); ``(m, k)`` only for multi-target regression.
    """
    data = read_data(spec, target)
    return data.X, data.y


def read_data(spec: str, target: str | None = None) -> DataFile:
    """:func:`read_data_file` with the column names of a CSV (see :class:`DataFile`)."""
    pair = npy_pair(spec)
    if pair is not None:
        features, labels = pair
        _require_file(features)
        _require_file(labels)
        if target is not None:
            raise NNBackendError(f"target (--target) applies to CSV files only, not to "
                                 f"{spec}; drop it")
        return DataFile(*_check_arrays(_load_npy(features, mmap=True), _load_npy(labels),
                                       f"{features} + {labels}"))
    path = _require_file(spec)
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise NNBackendError(
            f"unsupported data file type {suffix or '(none)'!r} for {path}; use "
            f"{', '.join(DATA_SUFFIXES)} or a built-in data set name"
        )
    if suffix == ".csv":
        return read_csv_file(path, target)
    if target is not None:
        raise NNBackendError(f"target (--target) applies to CSV files only, not to "
                             f"{path}; drop it")
    if suffix == ".npz":
        return DataFile(*read_npz(path))
    labels_path = npy_labels_path(path)
    if not labels_path.is_file():
        raise NNBackendError(
            f"labels file {labels_path} not found for {path}; put the labels there or pass "
            "FEATURES.npy,LABELS.npy"
        )
    return DataFile(*_check_arrays(_load_npy(path, mmap=True), _load_npy(labels_path),
                                   f"{path} + {labels_path}"))


def npy_pair(spec: str) -> tuple[str, str] | None:
    """``(features, labels)`` for ``"FEATURES.npy,LABELS.npy"``, else None.

    A string that names an existing file is that file, even with a comma in its name.
    """
    if "," not in spec or os.path.exists(spec):
        return None
    features, _, labels = (part.strip() for part in spec.partition(","))
    if not (features.lower().endswith(".npy") and labels.lower().endswith(".npy")):
        return None
    return features, labels


def npy_labels_path(features: Path) -> Path:
    """The labels file that goes with a ``.npy`` features file (see the module notes)."""
    stem = features.stem
    name = f"y{stem[1:]}" if stem.startswith("X") else f"{stem}_y"
    return features.with_name(name + features.suffix)


def read_csv(path: str | Path, target: str | None = None) -> Dataset:
    """Read a CSV file with a header row; see the module notes for the layout.

    Returns
    -------
    X : ndarray, shape (m, n_features)
        float64, finite.
    y : ndarray, shape (m,)
        int64 when every label is a whole number, float64 for other numbers, else str
        (a column mixing numbers and text is refused).
    """
    data = read_csv_file(path, target)
    return data.X, data.y


def read_csv_file(path: str | Path, target: str | None = None) -> DataFile:
    """:func:`read_csv` with the column names, read in blocks (:mod:`.csvfiles`)."""
    path = Path(path)
    header = read_header(path)
    if len(header) < 2:
        raise NNBackendError(f"{path} has only the column {header[0]!r}; it needs at least "
                             "one feature column and a target column")
    target_index = len(header) - 1 if target is None else _column_index(path, header, target)
    features = [j for j in range(len(header)) if j != target_index]
    table = read_table(path, header, features, target_index)
    assert table.labels is not None  # a target column was given, so there are labels
    return DataFile(table.X, table.labels,
                    Columns(tuple(header[j] for j in features), header[target_index]))


def read_npz(path: str | Path) -> Dataset:
    """Read arrays ``X`` (m, n_features) and ``y`` (m,) from an ``.npz`` archive."""
    path = Path(path)
    with _open_npz(path) as archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            raise NNBackendError(
                f"{path} has no array {' or '.join(missing)} (it has: "
                f"{', '.join(archive.files) or 'nothing'}); {NPZ_HINT}"
            )
        X = _read_member(path, archive, "X")
        y = _read_member(path, archive, "y")
    return _check_arrays(X, y, str(path))


def read_features(
    spec: str, n_features: int, target: str | None = None, columns: Columns | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read data for a model that takes ``n_features`` features; the labels are optional.

    Parameters
    ----------
    spec : str
        A path or ``FEATURES.npy,LABELS.npy``, as for :func:`read_data_file`.
    n_features : int
        The model's input size ``n[0]``.
    target : str, optional
        CSV only: the label column. Without it, the model's target column when the CSV
        has it (with ``columns``); else a CSV whose header has exactly ``n_features``
        columns is all features (no labels), one with ``n_features + 1`` columns has its
        LAST column as the labels.
    columns : Columns, optional
        The model's column names: a CSV's columns are then matched by name, reordered
        when they come in another order (:func:`~nnbackend.data.columns.select_columns`).
        Array files have no names and are matched by position.

    Returns
    -------
    X : ndarray, shape (m, n_features)
        float64, finite.
    y : ndarray or None
        The labels as stored, or None when the file has none: a features-only CSV, an
        ``.npz`` without ``y``, an ``.npy`` without a labels file beside it.

    Raises
    ------
    NNBackendError
        Everything :func:`read_data_file` refuses, a feature count other than
        ``n_features`` (naming both counts), and CSV columns missing from, or unknown
        to, the model's names.
    """
    if npy_pair(spec) is not None:
        X, y = read_data_file(spec, target)
        return _check_count(X, n_features, spec), y
    path = _require_file(spec)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv_features(path, n_features, target, columns)
    if suffix not in (".npz", ".npy"):
        return read_data_file(spec, target)  # the one-line error for unknown types
    if target is not None:
        raise NNBackendError(f"target (--target) applies to CSV files only, not to "
                             f"{path}; drop it")
    if suffix == ".npy":
        labels_path = npy_labels_path(path)
        if labels_path.is_file():
            X, y = read_data_file(spec)
            return _check_count(X, n_features, str(path)), y
        X = _check_features_array(_load_npy(path, mmap=True), str(path))
        return _check_count(X, n_features, str(path)), None
    with _open_npz(path) as archive:
        if "X" not in archive.files:
            raise NNBackendError(f"{path} has no array X (it has: "
                                 f"{', '.join(archive.files) or 'nothing'}); {NPZ_HINT}")
        features = _read_member(path, archive, "X")
        labels = _read_member(path, archive, "y") if "y" in archive.files else None
    if labels is None:
        X = _check_features_array(features, str(path))
        return _check_count(X, n_features, str(path)), None
    X, y = _check_arrays(features, labels, str(path))
    return _check_count(X, n_features, str(path)), y


def _read_csv_features(
    path: Path, n_features: int, target: str | None, columns: Columns | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`read_features` for a CSV file: the model's columns, and labels if any."""
    header = read_header(path)
    features, target_index = select_columns(header, n_features, columns, target, str(path))
    table = read_table(path, header, features, target_index)
    return table.X, table.labels


def _check_count(X: np.ndarray, n_features: int, source: str) -> np.ndarray:
    if X.shape[1] != n_features:
        raise NNBackendError(
            f"the data in {source} has {count(X.shape[1], 'feature')}, but the model takes "
            f"{n_features}; use data with the model's training columns"
        )
    return X


def _require_file(spec: str | Path) -> Path:
    path = Path(spec)
    if not os.path.exists(path):  # False for a name too long to exist, unlike Path's
        raise NNBackendError(f"data file {path} not found; check the path")
    if not path.is_file():
        raise NNBackendError(f"data path {path} is not a file; give a .csv, .npz or .npy file")
    return path


def _column_index(path: Path, header: list[str], target: str) -> int:
    if target not in header:
        raise NNBackendError(
            f"no column {target!r} in {path}; its columns are: {', '.join(header)}"
        )
    return header.index(target)


def _magic(path: Path) -> bytes:
    """The first bytes of ``path``, to tell ``.npy`` from ``.npz`` from anything else."""
    try:
        with open(path, "rb") as fh:
            return fh.read(6)
    except OSError as exc:
        raise NNBackendError(f"cannot read {path}: {exc.strerror or exc}") from None


def _not_numpy(path: Path) -> NNBackendError:
    # numpy.load would treat anything that is neither .npy nor zip as a pickle.
    return NNBackendError(
        f"{path} is not a NumPy .npy/.npz file (nnbackend never unpickles); {NPZ_HINT}"
    )


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[NpzArchive]:
    """The archive at ``path``, opened without reading any member."""
    magic = _magic(path)
    if magic.startswith(NPY_MAGIC):
        raise NNBackendError(f"{path} holds a single array, not an .npz archive; {NPZ_HINT}")
    if not magic.startswith(ZIP_MAGIC):
        raise _not_numpy(path)
    try:
        archive = NpzArchive(path)
    except ArrayFileError as exc:
        raise _array_file_error(path, exc) from None
    with archive:
        yield archive


def _load_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """A ``.npy`` file's array, memory-mapped with ``mmap`` (header checked first)."""
    path = Path(path)
    magic = _magic(path)
    if magic.startswith(ZIP_MAGIC):
        raise NNBackendError(f"{path} is an .npz archive, not a single .npy array; "
                             "rename it to .npz")
    if not magic.startswith(NPY_MAGIC):
        raise _not_numpy(path)
    try:
        return load_npy(path, mmap=mmap)
    except ArrayFileError as exc:
        raise _array_file_error(path, exc) from None


def _read_member(path: Path, archive: NpzArchive, key: str) -> np.ndarray:
    try:
        return archive.read(key)
    except ArrayFileError as exc:
        raise _array_file_error(path, exc) from None


def _array_file_error(path: Path, exc: ArrayFileError) -> NNBackendError:
    """Word an array file's problem, and its fix, in one line."""
    what = f"array {exc.key} in {path}" if exc.key else str(path)
    if exc.kind == "objects":
        return NNBackendError(
            f"{what} holds Python objects, which nnbackend never unpickles; save plain "
            "numeric arrays (e.g. X.astype(float))"
        )
    fixes = {
        "truncated": "the file is truncated or damaged; write it again",
        "inflates": "a zip bomb, or data that compresses unusually well; save it "
                    "uncompressed (numpy.savez) or as .npy files",
        "memory": "use less data, or .npy files (memory-mapped, not read whole)",
    }
    if exc.kind in fixes:
        return NNBackendError(f"cannot read {what}: {exc.detail}; {fixes[exc.kind]}")
    return NNBackendError(
        f"cannot read {what}: the file is corrupted or truncated ({exc.detail}); write it "
        "again"
    )


def _check_arrays(X: np.ndarray, y: np.ndarray, source: str) -> Dataset:
    """Check arrays read from ``source``: numeric 2-D finite features, matching labels."""
    X = _check_features_array(X, source)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or y.dtype.kind not in "biufU":
        raise NNBackendError(f"labels y in {source} must be a 1-D array of numbers or strings, "
                             f"got shape {y.shape} and dtype {y.dtype}")
    if y.shape[0] != X.shape[0]:
        raise NNBackendError(f"{source}: X has {X.shape[0]} rows but y has {y.shape[0]}; "
                             "they must have one label per example")
    return X, y


def _check_features_array(X: np.ndarray, source: str) -> np.ndarray:
    """``X`` read from ``source`` as float32 or float64 (a memory map kept as it is; other
    numbers become float64), refusing non-numeric, non-2-D or bad values."""
    if X.dtype.kind not in "biuf":
        raise NNBackendError(f"features X in {source} must be numbers, got dtype {X.dtype}; "
                             "save X.astype(float)")
    if X.ndim == 1:
        raise NNBackendError(f"features X in {source} must be 2-D (examples as rows), got "
                             f"shape {X.shape}; for one feature save X.reshape(-1, 1)")
    if X.ndim != 2:
        raise NNBackendError(f"features X in {source} must be 2-D (examples as rows), got "
                             f"shape {X.shape}; reshape to (n_samples, n_features)")
    if X.size == 0:
        raise NNBackendError(f"features X in {source} are empty (shape {X.shape}); the data "
                             "is empty")
    if X.dtype not in (np.float32, np.float64):  # a float memory map stays one (no copy)
        X = X.astype(np.float64)
    bad = first_non_finite(X)
    if bad is not None:
        i, j = bad
        raise NNBackendError(f"features X in {source} contain {X[i, j]} at row {i}, column "
                             f"{j}; clean or impute them first")
    return X
