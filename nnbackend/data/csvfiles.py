"""Reading CSV tables in blocks of bounded size: the header, then numbers, never the whole
file as Python strings.

A CSV cell read by the :mod:`csv` module is a Python string of about 50 bytes, so a file
of short cells (``1,0,3,...``) held whole as strings takes some 30 times its size. Here
the rows are parsed in blocks of about :data:`BLOCK_BYTES` of text, each turned into a
float64 array (and a NumPy array of its label cells) before the next is read: a read
holds the numbers, twice while the blocks are joined, plus one block of strings
(:data:`CSV_BYTES_PER_CELL`, measured, is what :func:`check_csv_fits` budgets).

Layout: a header row, then one example per line; UTF-8 (a BOM is ignored); blank lines
are skipped; the delimiter is a comma unless the header has none (then ``;``, tab or
``|``, see :func:`csv_delimiter`). Every problem is one :class:`NNBackendError` line
naming the file, the line and the fix.
"""

from __future__ import annotations

import contextlib
import csv
import operator
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NNBackendError
from . import arrayfiles
from .arrayfiles import human_bytes

#: Delimiters tried when a CSV header has no comma (European spreadsheets write ``;``).
OTHER_DELIMITERS = ";\t|"
#: Longest CSV field read (the csv module's default is 131,072 characters).
MAX_FIELD = 16 * 2**20
#: Text parsed at a time: a block's cells live as Python strings (about 50 bytes each,
#: 25 times the text of a one-digit cell) only until the block is converted.
BLOCK_BYTES = 2**20
#: Peak memory of reading a CSV, per cell: the float64 blocks, then the joined array.
CSV_BYTES_PER_CELL = 16
#: ... and per row: its label cell (a NumPy string), line number and converted label.
CSV_BYTES_PER_ROW = 24
#: Peak memory of one block of strings and its conversion, per byte of its text (one-digit
#: cells, the densest, measured at about 35), on top of the numbers.
BLOCK_PEAK_FACTOR = 64
#: Bytes of the file sampled to estimate its cells per byte.
SAMPLE_BYTES = 64 * 1024

@dataclass(frozen=True)
class CsvTable:
    """A CSV read as numbers.

    Attributes
    ----------
    X : ndarray, shape (m, len(columns))
        float64, finite, the feature columns in the order asked for.
    labels : ndarray or None
        The label column as stored (see :func:`target_column`), or None when none was asked.
    header : list of str
        The file's column names, in the file's order.
    """

    X: np.ndarray
    labels: np.ndarray | None
    header: list[str]


def read_header(path: Path) -> list[str]:
    """The CSV's column names (stripped), refusing an empty file or a repeated name."""
    with csv_reader(path) as reader:
        return _header(path, reader)


def read_table(path: Path, header: list[str], columns: Sequence[int],
               target_index: int | None) -> CsvTable:
    """The columns ``columns`` (in that order) as float64, and the label column.

    Parameters
    ----------
    path : Path
        The CSV file; ``header`` is its :func:`read_header`.
    columns : sequence of int
        Header positions of the features, in the order the features are wanted.
    target_index : int or None
        Header position of the labels, or None for no labels.
    """
    check_csv_fits(path, len(header))
    parts: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    for X, y, numbers in parsed_blocks(path, header, columns, target_index):
        parts.append(X)
        lines.append(numbers)
        if y is not None:
            labels.append(y)
    X = parts[0] if len(parts) == 1 else np.concatenate(parts)
    del parts  # the blocks: only the joined array stays
    if target_index is None:
        return CsvTable(X, None, header)
    y = target_column(path, header[target_index], np.concatenate(labels),
                      np.concatenate(lines))
    return CsvTable(X, y, header)


def parsed_blocks(path: Path, header: list[str], columns: Sequence[int],
                  target_index: int | None
                  ) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """Blocks of the data rows as ``(features float64, label cells or None, line numbers)``.

    Each block holds about :data:`BLOCK_BYTES` of text; its feature columns are checked
    (numbers, finite) before the next one is read.
    """
    pick = _picker(columns)
    for rows, numbers in row_blocks(path, header):
        X = _numbers(path, header, columns, [pick(row) for row in rows], numbers)
        labels = None if target_index is None else np.array(
            [row[target_index].strip() for row in rows], dtype=str)
        yield X, labels, np.array(numbers, dtype=np.int64)


def _picker(columns: Sequence[int]) -> typing.Callable[[list[str]], Sequence[str]]:
    """A fast ``row -> [row[j] for j in columns]`` (a C-level itemgetter)."""
    if len(columns) == 1:
        j = columns[0]
        return lambda row: (row[j],)
    return operator.itemgetter(*columns)


def row_blocks(path: Path, header: list[str]) -> Iterator[tuple[list[list[str]], list[int]]]:
    """The data rows (after the header) in blocks of about :data:`BLOCK_BYTES` of text,
    with their line numbers; a row of the wrong width, or no row at all, is refused."""
    width, block_bytes = len(header), BLOCK_BYTES
    block: list[list[str]] = []
    numbers: list[int] = []
    size = 0
    seen = False
    with csv_reader(path) as reader:
        _header(path, reader)
        for row in reader:
            # A blank line (or one of blanks and delimiters) is skipped.
            if not row or (not row[0].strip() and not "".join(row).strip()):
                continue
            if len(row) != width:
                raise NNBackendError(
                    f"malformed CSV {path}: line {reader.line_num} has {len(row)} fields but "
                    f"the header has {width}; fix that line")
            block.append(row)
            numbers.append(reader.line_num)
            size += sum(map(len, row), width)
            if size >= block_bytes:
                seen = True
                yield block, numbers
                block, numbers, size = [], [], 0
    if not block and not seen:
        raise NNBackendError(f"{path} has a header but no data rows; the data is empty")
    if block:
        yield block, numbers


@contextlib.contextmanager
def csv_reader(path: Path) -> Iterator[typing.Any]:
    """A :func:`csv.reader` over ``path``; reading problems become one line."""
    reader: typing.Any = None
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put in front.
        with open(path, newline="", encoding="utf-8-sig") as fh, field_limit(MAX_FIELD):
            # strict: a stray or unclosed quote is an error, not silently part of a value.
            reader = csv.reader(fh, delimiter=csv_delimiter(fh), strict=True)
            yield reader
    except UnicodeDecodeError as exc:
        raise NNBackendError(
            f"cannot read {path} as CSV: byte {exc.start} is not UTF-8 text; save it as "
            "UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise csv_error(path, 0 if reader is None else reader.line_num, exc) from None
    except OSError as exc:
        raise NNBackendError(f"cannot read {path}: {exc.strerror or exc}") from None


def _header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    """The first non-blank row as the header: stripped names, none repeated."""
    first = next((row for row in reader if "".join(row).strip()), None)
    if first is None:
        raise NNBackendError(f"{path} is empty; it needs a header row and data rows")
    header = [name.strip() for name in first]
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise NNBackendError(f"column {twice!r} appears twice in the header of {path}; "
                             "rename one")
    return header


def _numbers(path: Path, header: list[str], columns: Sequence[int],
             cells: list[Sequence[str]], lines: list[int]) -> np.ndarray:
    """The block's feature cells (``columns`` of each row) as finite float64, or one line
    naming the bad cell. NumPy's parser skips the spaces around a number."""
    try:
        X = np.array(cells, dtype=np.float64)
    except ValueError:  # find the cell, and accept what Python's float() reads ("1_000")
        X = np.empty((len(cells), len(columns)))
        for k, j in enumerate(columns):
            X[:, k] = numeric_column(path, header[j], [row[k].strip() for row in cells],
                                     lines)
    X = X.reshape(len(cells), len(columns))
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, k = bad[0]
        raise NNBackendError(
            f"feature column {header[columns[k]]!r} in {path} has {X[i, k]} on line "
            f"{lines[i]}; clean or impute it first"
        )
    return X


def numeric_column(path: Path, name: str, values: list[str], lines: Sequence[int]
                   ) -> np.ndarray:
    """A CSV feature column as float64; a non-number is one line naming its line."""
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        pass
    for value, line in zip(values, lines, strict=True):
        try:
            float(value)
        except ValueError:
            shown = _shown(value) if value else "an empty cell"
            comma = (" (a decimal comma? write numbers with a decimal point)"
                     if "," in value else "")
            raise NNBackendError(
                f"feature column {name!r} in {path} is not numeric ({shown} on line "
                f"{line}){comma}; encode it as numbers or drop the column"
            ) from None
    # NumPy refused a spelling Python's float() accepts (e.g. "1_000"): use float().
    return np.array([float(v) for v in values])


def target_column(path: Path, name: str, values: Sequence[str] | np.ndarray,
                  lines: Sequence[int] | np.ndarray) -> np.ndarray:
    """A CSV's label column: int64 for whole numbers, float64 for other numbers, else str.

    ``1`` and ``1.0`` are one class (both the number 1). A column mixing numbers and text
    (``1``, ``one``) is refused: it would silently become classes ``1`` and ``one``.
    """
    values = np.asarray(values, dtype=str)
    lines = np.asarray(lines)
    empty = values == ""
    if empty.any():
        raise NNBackendError(
            f"target column {name!r} in {path} is empty on line {lines[np.argmax(empty)]}; "
            "fill in or drop that row"
        )
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        text = _text_or_numbers(path, name, values, lines)
        if text is not None:
            return text
        numbers = np.array([float(v) for v in values])
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


def _text_or_numbers(path: Path, name: str, values: np.ndarray, lines: np.ndarray
                     ) -> np.ndarray | None:
    """``values`` as class names when none is a number, None when all are numbers (in
    spellings only Python reads), and a one-line refusal when they mix the two."""
    distinct = np.unique(values)
    numeric = np.array([_is_number(v) for v in distinct.tolist()], dtype=bool)
    if not numeric.any():
        return values
    if numeric.all():
        return None
    is_number = np.isin(values, distinct[numeric])
    i, j = int(np.argmax(is_number)), int(np.argmin(is_number))
    raise NNBackendError(
        f"target column {name!r} in {path} mixes numbers and text ({values[i]} on line "
        f"{lines[i]}, {_shown(str(values[j]))} on line {lines[j]}), which would make them "
        "different classes; write every label as a number or every label as a name"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def check_csv_fits(path: Path, n_columns: int) -> None:
    """Refuse, before reading, a CSV whose numbers would not fit the available memory.

    The cells are estimated from the file's size and the bytes per cell of its first
    :data:`SAMPLE_BYTES`; the read needs :data:`CSV_BYTES_PER_CELL` per cell,
    :data:`CSV_BYTES_PER_ROW` per row and :data:`BLOCK_PEAK_FACTOR` times a block's text
    (measured: a 87 MB file of
    30,000 rows of 1000 one- and two-digit cells peaked at 521 MB, estimated 548 MB; a
    27 MB file of 2,000,000 rows of 3 cells at 175 MB, estimated 211 MB).
    """
    needed = csv_memory(path, n_columns)
    free = arrayfiles.available_memory()
    if needed is not None and free is not None and needed > free:
        raise NNBackendError(
            f"{path} is too large to read whole into memory: its numbers need about "
            f"{human_bytes(needed)}, and {human_bytes(free)} of memory is available; "
            "convert it to .npy, which is read row by row: nnbackend convert "
            f"{path} {path.with_suffix('.npy').name}")


def csv_memory(path: Path, n_columns: int) -> int | None:
    """Estimated peak bytes of reading ``path`` (see :func:`check_csv_fits`), or None
    when the file cannot be sized (reading it reports the problem)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
    except OSError:
        return None
    lines = sample.splitlines()
    # Whole data lines only: the first is the header, the last may be cut off.
    rows = [line for line in lines[1:-1] if line.strip()] if len(sample) == SAMPLE_BYTES \
        else [line for line in lines[1:] if line.strip()]
    if not rows:
        bytes_per_cell = 2.0  # one character and a delimiter: the densest a CSV gets
    else:
        bytes_per_cell = max(1.0, sum(len(r) + 1 for r in rows) / (len(rows) * n_columns))
    cells = size / bytes_per_cell
    return int(cells * CSV_BYTES_PER_CELL + cells / n_columns * CSV_BYTES_PER_ROW
               + BLOCK_PEAK_FACTOR * min(size, BLOCK_BYTES))


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
