"""Turn a CSV (or ``.npz``) data file into ``.npy`` files, which training memory-maps.

A CSV is read whole into memory (its cells as Python strings, several times the file's
size); a ``.npy`` features file is memory-mapped, so data larger than memory trains
through the unchanged loop. :func:`convert_to_npy` streams a CSV into a ``.npy`` features
file row block by row block (two passes: count the rows, then fill a memory-mapped
array), so the conversion itself never holds the table, and writes the labels beside it
under the name ``nnbackend train --data FEATURES.npy`` looks for
(:func:`~nnbackend.data.files.npy_labels_path`). Both files are written under temporary
names and renamed into place at the end: a failed conversion leaves no half-written file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NNBackendError
from ..outputs import check_writable, replacing_by_name
from .files import (
    MAX_FIELD,
    csv_delimiter,
    csv_error,
    field_limit,
    npy_labels_path,
    numeric_column,
    read_npz,
    target_column,
)

#: Rows converted to numbers at a time (a block of strings, then one float array).
BLOCK_ROWS = 65536


@dataclass(frozen=True)
class Converted:
    """What :func:`convert_to_npy` wrote.

    Attributes
    ----------
    features, labels : Path
        The ``.npy`` files: ``(m, n_features)`` features and ``(m,)`` labels.
    rows, columns : int
        ``m`` and ``n_features``.
    """

    features: Path
    labels: Path
    rows: int
    columns: int


def convert_to_npy(source: str | os.PathLike[str], output: str | os.PathLike[str],
                   target: str | None = None, dtype: str = "float64") -> Converted:
    """Write the features of ``source`` to ``output`` (``.npy``) and its labels beside it.

    Parameters
    ----------
    source : path-like
        A ``.csv`` file (header row; the label column is ``target``, default the last) or
        an ``.npz`` archive with ``X`` and ``y``.
    output : path-like
        The features file; it must end in ``.npy``. The labels go to
        ``npy_labels_path(output)`` (``X.npy`` -> ``y.npy``, ``data.npy`` -> ``data_y.npy``).
    target : str, optional
        CSV only: the label column.
    dtype : str
        ``float64`` or ``float32`` for the features (float32 halves the file).

    Raises
    ------
    NNBackendError
        An unreadable source, a non-numeric or non-finite feature, an output that is not
        ``.npy``, or a write that fails (nothing is left half-written).
    """
    src, out = Path(source), Path(output)
    if out.suffix.lower() != ".npy":
        raise NNBackendError(f"the output {out} must end in .npy (its labels go beside it)")
    if dtype not in ("float32", "float64"):
        raise NNBackendError(f"unknown dtype {dtype!r}; choose float32 or float64")
    if not os.path.isfile(src):  # False for a name too long to exist, unlike Path's
        raise NNBackendError(f"data file {src} not found; check the path")
    labels_path = npy_labels_path(out)
    for path in (out, labels_path):  # before reading: fail now, not after the first pass
        check_writable(path, by_name=True)
    suffix = src.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise NNBackendError("target applies to CSV files only; drop it for an .npz")
        X, y = read_npz(src)
        with replacing_by_name(out) as tmp_x, replacing_by_name(labels_path) as tmp_y:
            _save(tmp_x, np.asarray(X, dtype=dtype))
            _save(tmp_y, y)
        return Converted(out, labels_path, X.shape[0], X.shape[1])
    if suffix != ".csv":
        raise NNBackendError(f"cannot convert {src}: give a .csv or .npz file")
    header, target_index, rows = _scan_csv(src, target)
    columns = [j for j in range(len(header)) if j != target_index]
    labels: list[str] = []
    lines: list[int] = []
    with replacing_by_name(out) as tmp_x, replacing_by_name(labels_path) as tmp_y:
        X = np.lib.format.open_memmap(tmp_x, mode="w+", dtype=dtype,
                                      shape=(rows, len(columns)))
        filled = 0
        for block, numbers in _csv_blocks(src):
            values = np.empty((len(block), len(columns)))
            for k, j in enumerate(columns):
                values[:, k] = numeric_column(src, header[j], [row[j] for row in block],
                                              numbers)
            bad = np.argwhere(~np.isfinite(values))
            if bad.size:
                i, k = bad[0]
                raise NNBackendError(f"feature column {header[columns[k]]!r} in {src} has "
                                     f"{values[i, k]} on line {numbers[i]}; clean or impute "
                                     "it first")
            X[filled:filled + len(block)] = values
            filled += len(block)
            labels.extend(row[target_index] for row in block)
            lines.extend(numbers)
        X.flush()
        del X  # close the map before the rename
        _save(tmp_y, target_column(src, header[target_index], labels, lines))
    return Converted(out, labels_path, rows, len(columns))


def _scan_csv(path: Path, target: str | None) -> tuple[list[str], int, int]:
    """First pass: the header, the label column's index and the number of data rows."""
    header: list[str] | None = None
    rows = 0
    for block, numbers in _csv_blocks(path, with_header=True):
        for row, line in zip(block, numbers, strict=True):
            if header is None:
                header = [name.strip() for name in row]
                if len(header) < 2:
                    raise NNBackendError(f"{path} has only the column {header[0]!r}; it "
                                         "needs a feature column and a label column")
                continue
            if len(row) != len(header):
                raise NNBackendError(f"malformed CSV {path}: line {line} has {len(row)} "
                                     f"fields but the header has {len(header)}; fix that "
                                     "line")
            rows += 1
    if header is None or rows == 0:
        raise NNBackendError(f"{path} has no data rows; it needs a header row and data rows")
    if target is None:
        return header, len(header) - 1, rows
    if target not in header:
        raise NNBackendError(f"no column {target!r} in {path}; its columns are: "
                             f"{', '.join(header)}")
    return header, header.index(target), rows


def _csv_blocks(path: Path, with_header: bool = False
                ) -> Iterator[tuple[list[list[str]], list[int]]]:
    """Non-blank rows (cells stripped) in blocks of :data:`BLOCK_ROWS`, with their line
    numbers; the header row is skipped unless ``with_header``."""
    block: list[list[str]] = []
    numbers: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh, field_limit(MAX_FIELD):
            reader = csv.reader(fh, delimiter=csv_delimiter(fh), strict=True)
            seen_header = with_header
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if not seen_header:
                    seen_header = True
                    continue
                block.append([cell.strip() for cell in row])
                numbers.append(reader.line_num)
                if len(block) == BLOCK_ROWS:
                    yield block, numbers
                    block, numbers = [], []
    except UnicodeDecodeError as exc:
        raise NNBackendError(f"cannot read {path} as CSV: byte {exc.start} is not UTF-8 text; "
                             "save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise csv_error(path, reader.line_num, exc) from None
    except OSError as exc:
        raise NNBackendError(f"cannot read {path}: {exc.strerror or exc}") from None
    if block:
        yield block, numbers


def _save(path: Path, array: np.ndarray) -> None:
    """``np.save`` into the temporary file ``path``, by handle (by name it would append
    ``.npy`` to the temporary name)."""
    with open(path, "wb") as fh:
        np.save(fh, array)
