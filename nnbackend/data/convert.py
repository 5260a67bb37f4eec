"""Turn a CSV (or ``.npz``) data file into ``.npy`` files, which training memory-maps.

Training on a CSV reads its numbers whole into memory (float64, in blocks: see
:mod:`nnbackend.data.csvfiles`); a ``.npy`` features file is memory-mapped, so data larger
than memory trains through the unchanged loop. :func:`convert_to_npy` streams a CSV into a
``.npy`` features file block by block, each about ``BLOCK_BYTES`` of text whatever the
width (two passes: count the rows, then fill a memory-mapped array), so the conversion
itself never holds the table, and writes the labels beside it
under the name ``nnbackend train --data FEATURES.npy`` looks for
(:func:`~nnbackend.data.files.npy_labels_path`). Both files are written under temporary
names and renamed into place at the end: a failed conversion leaves no half-written file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NNBackendError
from ..outputs import check_writable, replacing_by_name
from .csvfiles import parsed_blocks, read_header, row_blocks, target_column
from .files import npy_labels_path, read_npz


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
    if not os.fspath(source).strip():  # Path('') would be named "."
        raise NNBackendError("the data path is empty; give a .csv or .npz file")
    if not os.path.isfile(src):  # False for a name too long to exist, unlike Path's
        raise NNBackendError(f"data file {src} not found; check the path")
    labels_path = npy_labels_path(out)
    for path in (out, labels_path):  # before reading: fail now, not after the first pass
        check_writable(path, by_name=True)
    suffix = src.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise NNBackendError("target (--target) applies to CSV files only; drop it for "
                                 "an .npz")
        X, y = read_npz(src)
        with replacing_by_name(out) as tmp_x, replacing_by_name(labels_path) as tmp_y:
            _save(tmp_x, np.asarray(X, dtype=dtype))
            _save(tmp_y, y)
        return Converted(out, labels_path, X.shape[0], X.shape[1])
    if suffix != ".csv":
        raise NNBackendError(f"cannot convert {src}: give a .csv or .npz file")
    header, target_index, rows = _scan_csv(src, target)
    columns = [j for j in range(len(header)) if j != target_index]
    labels: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    with replacing_by_name(out) as tmp_x, replacing_by_name(labels_path) as tmp_y:
        X = np.lib.format.open_memmap(tmp_x, mode="w+", dtype=dtype,
                                      shape=(rows, len(columns)))
        filled = 0
        for values, block_labels, numbers in parsed_blocks(src, header, columns,
                                                           target_index):
            X[filled:filled + len(values)] = values
            filled += len(values)
            assert block_labels is not None
            labels.append(block_labels)
            lines.append(numbers)
        X.flush()
        del X  # close the map before the rename
        _save(tmp_y, target_column(src, header[target_index], np.concatenate(labels),
                                   np.concatenate(lines)))
    return Converted(out, labels_path, rows, len(columns))


def _scan_csv(path: Path, target: str | None) -> tuple[list[str], int, int]:
    """First pass: the header, the label column's index and the number of data rows."""
    header = read_header(path)
    if len(header) < 2:
        raise NNBackendError(f"{path} has only the column {header[0]!r}; it needs a feature "
                             "column and a label column")
    if target is not None and target not in header:
        raise NNBackendError(f"no column {target!r} in {path}; its columns are: "
                             f"{', '.join(header)}")
    rows = sum(len(block) for block, _ in row_blocks(path, header))
    return header, len(header) - 1 if target is None else header.index(target), rows


def _save(path: Path, array: np.ndarray) -> None:
    """``np.save`` into the temporary file ``path``, by handle (by name it would append
    ``.npy`` to the temporary name)."""
    with open(path, "wb") as fh:
        np.save(fh, array)
