"""Read the user's data files into host arrays ``X (m, n_features)`` and ``y (m,)``.

Three formats, no pandas and never pickle:

* ``.csv``: a header row, then one example per line. The label column is ``target``
  (default: the LAST column); every other column is a numeric feature. Labels may be
  numbers or class names (strings). UTF-8 (a BOM is ignored); blank lines are skipped.
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
(prediction): a CSV with exactly the model's number of columns is all features, an
``.npz`` may lack ``y`` and an ``.npy`` its labels file.

Every problem (missing file, malformed CSV, a non-numeric feature column, NaN or inf,
unknown target column, empty data, pickled objects, missing arrays, X/y length mismatch,
unknown file type, a corrupted archive, a size beyond the file or the memory) raises
:class:`NNBackendError` in one line naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import csv
import os
import typing
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._text import count
from ..errors import NNBackendError
from .arrayfiles import ArrayFileError, NpzArchive, available_memory, human_bytes, load_npy
from .encoding import first_non_finite

DATA_SUFFIXES = (".csv", ".npz", ".npy")
#: Delimiters tried when a CSV header has no comma (European spreadsheets write ``;``).
OTHER_DELIMITERS = ";\t|"
#: Longest CSV field read (the csv module's default is 131,072 characters).
MAX_FIELD = 16 * 2**20
NPZ_HINT = "save it with numpy.savez(path, X=X, y=y)"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"

Dataset = tuple[np.ndarray, np.ndarray]


def read_data_file(spec: str, target: str | None = None) -> Dataset:
    """Read a ``.csv``, ``.npz``, ``.npy`` or ``FEATURES.npy,LABELS.npy`` data file.

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
    pair = npy_pair(spec)
    if pair is not None:
        features, labels = pair
        _require_file(features)
        _require_file(labels)
        if target is not None:
            raise NNBackendError(f"target applies to CSV files only, not to {spec}; drop it")
        return _check_arrays(_load_npy(features, mmap=True), _load_npy(labels),
                             f"{features} + {labels}")
    path = _require_file(spec)
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise NNBackendError(
            f"unsupported data file type {suffix or '(none)'!r} for {path}; use "
            f"{', '.join(DATA_SUFFIXES)} or a built-in data set name"
        )
    if suffix == ".csv":
        return read_csv(path, target)
    if target is not None:
        raise NNBackendError(f"target applies to CSV files only, not to {path}; drop it")
    if suffix == ".npz":
        return read_npz(path)
    labels_path = npy_labels_path(path)
    if not labels_path.is_file():
        raise NNBackendError(
            f"labels file {labels_path} not found for {path}; put the labels there or pass "
            "FEATURES.npy,LABELS.npy"
        )
    return _check_arrays(_load_npy(path, mmap=True), _load_npy(labels_path),
                         f"{path} + {labels_path}")


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
        int64 when every label is a whole number, float64 for other numbers, else str.
    """
    path = Path(path)
    _check_csv_fits(path)
    lines, header = _read_header_and_rows(path)
    if len(header) < 2:
        raise NNBackendError(f"{path} has only the column {header[0]!r}; it needs at least "
                             "one feature column and a target column")
    target_index = len(header) - 1 if target is None else _column_index(path, header, target)
    X, y = _split_csv(path, lines, header, target_index)
    assert y is not None  # a target column was given, so there are labels
    return X, y


#: Memory a CSV takes while read whole, per byte of file (its cells as Python strings).
CSV_MEMORY_FACTOR = 8


def _check_csv_fits(path: Path) -> None:
    """Refuse, before reading, a CSV too large to read whole into the available memory."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it reports the problem
    free = available_memory()
    if free is not None and size * CSV_MEMORY_FACTOR > free:
        raise NNBackendError(
            f"{path} ({human_bytes(size)}) is too large to read whole into the "
            f"{human_bytes(free)} of memory available; convert it to .npy, which is read "
            f"row by row: nnbackend convert {path} {path.with_suffix('.npy').name}")


def _split_csv(
    path: Path, lines: list[tuple[int, list[str]]], header: list[str], target_index: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features from every column but ``target_index``, and that column's labels (or None)."""
    cells = [[cell.strip() for cell in row] for _, row in lines]
    numbers = [line for line, _ in lines]
    columns = [j for j in range(len(header)) if j != target_index]
    X = np.empty((len(cells), len(columns)))
    for k, j in enumerate(columns):
        X[:, k] = numeric_column(path, header[j], [row[j] for row in cells], numbers)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, k = bad[0]
        raise NNBackendError(
            f"feature column {header[columns[k]]!r} in {path} has {X[i, k]} on line "
            f"{numbers[i]}; clean or impute it first"
        )
    if target_index is None:
        return X, None
    return X, target_column(path, header[target_index], [row[target_index] for row in cells],
                             numbers)


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
    spec: str, n_features: int, target: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read data for a model that takes ``n_features`` features; the labels are optional.

    Parameters
    ----------
    spec : str
        A path or ``FEATURES.npy,LABELS.npy``, as for :func:`read_data_file`.
    n_features : int
        The model's input size ``n[0]``.
    target : str, optional
        CSV only: the label column. Without it, a CSV whose header has exactly
        ``n_features`` columns is all features (no labels), one with ``n_features + 1``
        columns has its LAST column as the labels.

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
        Everything :func:`read_data_file` refuses, and a feature count other than
        ``n_features`` (naming both counts).
    """
    if npy_pair(spec) is not None:
        X, y = read_data_file(spec, target)
        return _check_count(X, n_features, spec), y
    path = _require_file(spec)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv_features(path, n_features, target)
    if suffix not in (".npz", ".npy"):
        return read_data_file(spec, target)  # the one-line error for unknown types
    if target is not None:
        raise NNBackendError(f"target applies to CSV files only, not to {path}; drop it")
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
    path: Path, n_features: int, target: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`read_features` for a CSV file: labels when there is a column to spare."""
    lines, header = _read_header_and_rows(path)
    if target is not None:
        target_index: int | None = _column_index(path, header, target)
        if len(header) - 1 != n_features:
            raise NNBackendError(
                f"{path} has {len(header) - 1} feature columns besides the target "
                f"{target!r}, but the model takes {n_features} features; use data with the "
                "model's training columns"
            )
    elif len(header) == n_features:
        target_index = None
    elif len(header) == n_features + 1:
        target_index = len(header) - 1
    else:
        raise NNBackendError(
            f"{path} has {len(header)} columns, but the model takes {n_features} features; "
            f"give {n_features} feature columns, optionally followed by one label column"
        )
    return _split_csv(path, lines, header, target_index)


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


def _read_header_and_rows(path: Path) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """:func:`_read_rows`, refusing a header that names a column twice."""
    lines, header = _read_rows(path)
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise NNBackendError(f"column {twice!r} appears twice in the header of {path}; "
                             "rename one")
    return lines, header


def _read_rows(path: Path) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """The header and the non-blank data rows with their line numbers, all checked."""
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put in front.
        with open(path, newline="", encoding="utf-8-sig") as fh, field_limit(MAX_FIELD):
            # strict: a stray or unclosed quote is an error, not silently part of a value.
            reader = csv.reader(fh, delimiter=csv_delimiter(fh), strict=True)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise NNBackendError(
            f"cannot read {path} as CSV: byte {exc.start} is not UTF-8 text; save it as "
            "UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise csv_error(path, reader.line_num, exc) from None
    except OSError as exc:
        raise NNBackendError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not rows:
        raise NNBackendError(f"{path} is empty; it needs a header row and data rows")
    header = [name.strip() for name in rows[0][1]]
    if len(rows) == 1:
        raise NNBackendError(f"{path} has a header but no data rows; the data is empty")
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise NNBackendError(
                f"malformed CSV {path}: line {line} has {len(row)} fields but the header has "
                f"{len(header)}; fix that line"
            )
    return rows[1:], header


def csv_delimiter(fh: typing.TextIO) -> str:
    """``,`` unless the header row has none and the sample shows ``;``, tab or ``|``.

    ``fh`` is left at the start. A comma in the header wins, so every comma-separated
    file reads as before; csv.Sniffer only decides between the other delimiters.
    """
    sample = fh.read(64 * 1024)
    fh.seek(0)
    first = next((line for line in sample.splitlines() if line.strip()), "")
    if "," in first or not any(d in first for d in OTHER_DELIMITERS):
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=OTHER_DELIMITERS).delimiter
    except csv.Error:
        # A sample cut inside a row can confuse the sniffer; the header decides.
        return next(d for d in OTHER_DELIMITERS if d in first)


@contextlib.contextmanager
def field_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's (process-wide) field size limit while one file is read."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def csv_error(path: Path, line: int, exc: csv.Error) -> NNBackendError:
    """One line for the csv module's refusals, naming the likely cause."""
    text = str(exc)
    if "field larger than field limit" in text:
        return NNBackendError(
            f"malformed CSV {path}: line {line} has a field of more than {MAX_FIELD:,} "
            "characters (an unclosed quote, or not a table of numbers); fix that line"
        )
    return NNBackendError(f"malformed CSV {path} (line {line}: {text}); fix the quoting")


def _column_index(path: Path, header: list[str], target: str) -> int:
    if target not in header:
        raise NNBackendError(
            f"no column {target!r} in {path}; its columns are: {', '.join(header)}"
        )
    return header.index(target)


def numeric_column(path: Path, name: str, values: list[str], lines: list[int]) -> np.ndarray:
    """A CSV feature column as float64; a non-number is one line naming its line."""
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        pass
    for value, line in zip(values, lines, strict=True):
        try:
            float(value)
        except ValueError:
            shown = repr(value if len(value) <= 40 else value[:40] + "...") if value else (
                "an empty cell")
            comma = (" (a decimal comma? write numbers with a decimal point)"
                     if "," in value else "")
            raise NNBackendError(
                f"feature column {name!r} in {path} is not numeric ({shown} on line "
                f"{line}){comma}; encode it as numbers or drop the column"
            ) from None
    # NumPy refused a spelling Python's float() accepts (e.g. "1_000"): use float().
    return np.array([float(v) for v in values])


def target_column(path: Path, name: str, values: list[str], lines: list[int]) -> np.ndarray:
    """A CSV's label column: int64 for whole numbers, float64 for other numbers, else str."""
    for value, line in zip(values, lines, strict=True):
        if not value:
            raise NNBackendError(
                f"target column {name!r} in {path} is empty on line {line}; fill in or drop "
                "that row"
            )
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        return np.array(values)  # class names
    if not np.isfinite(numbers).all():
        line = lines[int(np.argmin(np.isfinite(numbers)))]
        raise NNBackendError(
            f"target column {name!r} in {path} has NaN or inf on line {line}; fix or drop "
            "that row"
        )
    # Whole numbers become int64 so class labels read 0, 1, 2 (not 0.0, 1.0, 2.0).
    if np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < 2.0**53):
        return numbers.astype(np.int64)
    return numbers


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
