"""Matching a table's columns to a model's features by name.

A model trained on a file with a header (a CSV) remembers its feature columns, in order,
and its target column (:class:`Columns`, stored in the model file). Data given to it later
with a header is matched by NAME (:func:`select_columns`): columns in another order are
reordered, the target column is dropped (or read as the labels), and a missing, renamed
or unknown column is refused in one line naming it. Data without names (``.npz``,
``.npy``, plain arrays, built-in sets) and models without stored names keep matching by
position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NNBackendError, SettingError, literal

#: Names listed in a message at most (a table may have thousands of columns).
SHOWN_NAMES = 8


@dataclass(frozen=True)
class Columns:
    """The column names a model was trained with.

    Attributes
    ----------
    features : tuple of str
        The feature columns, in the order of the network's inputs.
    target : str or None
        The label column (None when the labels came without a name).
    """

    features: tuple[str, ...]
    target: str | None = None

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Columns | None:
        """The columns stored in a model file's header, or None (an older file, or a model
        trained on data without names)."""
        names = header.get("feature_names")
        if names is None:
            return None
        return cls(tuple(names), header.get("target"))

    def to_header(self) -> dict[str, Any]:
        """The model file's header entries ``feature_names`` and ``target``."""
        return {"feature_names": list(self.features), "target": self.target}


def names_of(table: Any) -> list[str] | None:
    """The column names of a data frame (anything with a ``columns`` attribute of
    strings, as pandas and polars data frames have), or None for plain arrays and for
    frames with other column labels (pandas' default integers)."""
    names = getattr(table, "columns", None)
    if names is None or isinstance(table, (str, bytes)):
        return None
    names = list(names)
    return names if all(isinstance(name, str) for name in names) else None


def select_columns(header: Sequence[str], n_features: int, columns: Columns | None,
                   target: str | None, source: str) -> tuple[list[int], int | None]:
    """Where the model's features and the labels are in a table with ``header``.

    Parameters
    ----------
    header : sequence of str
        The table's column names, in its order.
    n_features : int
        The model's number of inputs.
    columns : Columns or None
        The model's stored names; None matches by position: ``n_features`` columns are
        all features, one more has the labels LAST.
    target : str, optional
        The label column named by the caller; by default the model's own target column
        when the table has it (else the table has no labels).
    source : str
        How messages name the table (its file name).

    Returns
    -------
    features : list of int
        Positions in ``header`` of the model's features, in the model's order.
    target : int or None
        Position of the label column, or None when the table has none.
    """
    target_index = None if target is None else _position(header, target, source)
    if columns is None:
        return _by_position(header, n_features, target, target_index, source)
    if target is None and columns.target is not None and columns.target in header:
        target, target_index = columns.target, list(header).index(columns.target)
    rest = [name for name in header if name != target]
    missing = [name for name in columns.features if name not in rest]
    unknown = [name for name in rest if name not in columns.features]
    if missing or unknown:
        raise _mismatch(source, missing, unknown, columns)
    where = {name: j for j, name in enumerate(header)}
    return [where[name] for name in columns.features], target_index


def _by_position(header: Sequence[str], n_features: int, target: str | None,
                 target_index: int | None, source: str) -> tuple[list[int], int | None]:
    """The model knows no names: features in the table's order, labels last."""
    if target is not None:
        if len(header) - 1 != n_features:
            raise NNBackendError(
                f"{source} has {len(header) - 1} feature columns besides the target "
                f"{target!r}, but the model takes {n_features} features; use data with the "
                "model's training columns")
        return [j for j in range(len(header)) if j != target_index], target_index
    if len(header) == n_features:
        return list(range(n_features)), None
    if len(header) == n_features + 1:
        return list(range(n_features)), n_features
    raise NNBackendError(
        f"{source} has {len(header)} columns, but the model takes {n_features} features; "
        f"give {n_features} feature columns, optionally followed by one label column")


def _position(header: Sequence[str], name: str, source: str) -> int:
    if name not in header:
        raise NNBackendError(f"no column {name!r} in {source}; its columns are: "
                             f"{', '.join(header)}")
    return list(header).index(name)


def _mismatch(source: str, missing: list[str], unknown: list[str], columns: Columns
              ) -> NNBackendError:
    """One line for columns that do not match the model's names."""
    trained = f"the model was trained on {shown(columns.features)}"
    if columns.target is not None:
        trained += f" with the target {columns.target!r}"
    if missing and unknown:
        return NNBackendError(
            f"the columns of {source} do not match the model's: {shown(missing)} missing, "
            f"{shown(unknown)} unknown ({trained}); rename the columns to the training "
            "names")
    if missing:
        return NNBackendError(f"{source} has no column {shown(missing)} ({trained}); give "
                              "data with every training column")
    return SettingError(
        literal(f"{source} has column {shown(unknown)} that the model was not trained on "
                f"({trained}); drop it, or name the label column with ") + "{target}")


def shown(names: Sequence[str]) -> str:
    """``'a', 'b', 'c'`` with at most :data:`SHOWN_NAMES` names."""
    text = ", ".join(repr(name) for name in names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return text + (f" and {more} more" if more > 0 else "")
