"""The host-side boundary: check user data, infer the task, encode labels.

Users hand in features as rows, ``X`` of shape ``(m, n_features)``, and labels ``y`` of
shape ``(m,)`` (or ``(m, n_targets)`` for regression). This module checks them on the
host with NumPy and turns labels into the output layer's encoding, transposed to the
notes' ``(n[L], m)``: 0/1 for binary, one-hot for multiclass, real values for regression.
The result is moved to the device once by the caller (``Backend.asarray``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NNBackendError, SettingError

TASKS = ("binary", "multiclass", "regression")
#: Whole-number labels with at most this many distinct values are always classes ...
FEW_CLASSES = 10
#: ... and beyond it, only when each value has on average this many examples (so that
#: integer-valued targets such as prices or counts, or floats beyond 2**53, which are all
#: whole numbers, are a regression).
EXAMPLES_PER_CLASS = 2
#: Elements checked per step of :func:`first_non_finite`: bounds its temporary memory
#: (a memory-mapped file is scanned, not copied).
FINITE_CHUNK = 2**22


@dataclass(frozen=True)
class Targets:
    """Labels encoded for the output layer.

    Attributes
    ----------
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    Y : ndarray, shape (n[L], m)
        float64: 0/1 (binary), one-hot (multiclass) or the targets (regression).
    classes : ndarray or None
        Sorted original labels; class index ``k`` means ``classes[k]``. None for regression.
    """

    task: str
    Y: np.ndarray
    classes: np.ndarray | None

    @property
    def n_outputs(self) -> int:
        """``n[L]``, the size of the output layer."""
        return int(self.Y.shape[0])


def check_features(X: object) -> np.ndarray:
    """Return ``X`` as a 2-D floating host array, refusing empty or non-finite data.

    A float32 or float64 NumPy array (a memory-mapped ``.npy`` included) is kept as it is,
    not copied: data larger than memory stays on disk until batches read it. Anything
    else becomes float64.

    Parameters
    ----------
    X : array_like, shape (m, n_features)
    """
    if isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64):
        features = X
    else:
        try:
            features = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise NNBackendError(f"features must be numbers ({exc})") from None
    if features.ndim != 2:
        raise NNBackendError(
            f"features must be a 2-D array (examples as rows), got shape {features.shape}"
        )
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise NNBackendError(f"the data is empty (shape {features.shape})")
    bad = first_non_finite(features)
    if bad is not None:
        raise NNBackendError(
            f"features contain NaN or inf (first in row {bad[0]}); clean or impute them first"
        )
    return features


def first_non_finite(X: np.ndarray) -> tuple[int, int] | None:
    """``(row, column)`` of the first NaN or inf in a 2-D array, or None.

    Scans blocks of rows, so a memory-mapped file larger than memory is checked with a
    temporary of at most :data:`FINITE_CHUNK` booleans.
    """
    rows = max(1, FINITE_CHUNK // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        finite = np.isfinite(X[start:start + rows])
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            return start + int(i), int(j)
    return None


def infer_task(y: np.ndarray) -> str:
    """Guess the task from the labels.

    String and boolean labels mean classification. Numbers mean classification when they
    are all whole numbers AND look like classes: at most :data:`FEW_CLASSES` distinct
    values, or on average at least :data:`EXAMPLES_PER_CLASS` examples per value (so
    whole-numbered targets such as prices, or floats beyond ``2**53``, which are all whole,
    are a regression). Classification is ``binary`` for two distinct values,
    ``multiclass`` for more. Other numbers, or several target columns, mean
    ``regression``.
    """
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    values = y.reshape(-1)
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        return "regression"
    n_classes = np.unique(values).size
    if values.dtype.kind in "iuf" and n_classes > FEW_CLASSES and (
            n_classes * EXAMPLES_PER_CLASS > values.size):
        return "regression"
    return "binary" if n_classes <= 2 else "multiclass"


def encode_targets(y: object, task: str | None = None) -> Targets:
    """Encode labels for the output layer, inferring the task when it is not given.

    Parameters
    ----------
    y : array_like, shape (m,) or (m, n_targets)
    task : {"binary", "multiclass", "regression"}, optional

    Raises
    ------
    NNBackendError
        Labels that do not fit the task (e.g. three classes with ``binary``), NaN or inf
        targets, a single class, or an unknown task name.
    """
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2) or labels.shape[0] == 0:
        raise NNBackendError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    labels = one_kind(labels)
    if task is None:
        task = infer_task(labels)
    if task not in TASKS:
        raise NNBackendError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if task == "regression":
        try:
            values = labels.astype(np.float64)
        except (TypeError, ValueError):
            raise NNBackendError(
                "regression targets must be numbers; use --task multiclass for class names"
            ) from None
        if not np.isfinite(values).all():
            raise NNBackendError("targets contain NaN or inf; drop or fix those rows first")
        return Targets(task, values.reshape(values.shape[0], -1).T.copy(), None)
    if labels.ndim != 1:
        raise NNBackendError(f"class labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise NNBackendError("labels contain NaN or inf; drop or fix those rows first")
    classes, index = np.unique(labels, return_inverse=True)
    m = labels.shape[0]
    if (labels.dtype.kind in "iuf" and classes.size > FEW_CLASSES
            and classes.size * EXAMPLES_PER_CLASS > m):
        raise SettingError(f"{{task}} {task} would make {classes.size} classes of {m} "
                           "examples: the targets look real-valued; use {task} regression, "
                           "or leave {task} out to infer it")
    if classes.size < 2:
        raise NNBackendError(
            f"classification needs at least two classes, found only {classes.tolist()}; "
            "check that the target column holds the labels, or add examples of another class"
        )
    if task == "binary":
        if classes.size != 2:
            real = labels.dtype.kind == "f" and not np.all(labels == np.round(labels))
            fix = "regression" if real else "multiclass"
            raise SettingError(f"{{task}} binary needs exactly two classes, found "
                               f"{classes.size}; use {{task}} {fix}")
        return Targets(task, index.astype(np.float64).reshape(1, -1), classes)
    one_hot = np.zeros((classes.size, labels.shape[0]))
    one_hot[index, np.arange(labels.shape[0])] = 1.0
    return Targets(task, one_hot, classes)


def one_kind(labels: np.ndarray) -> np.ndarray:
    """Labels that are all numbers or all text, refusing a mix (``1``, ``one``).

    Mixed, they would silently become unrelated classes; and two spellings of one number
    (``"1"``, ``"1.0"``) would be two classes. An object array of strings is read as a
    string array.
    """
    if labels.dtype.kind == "O":
        values = labels.reshape(-1).tolist()
        text = [v for v in values if isinstance(v, str)]
        if not text:
            return labels
        if len(text) < len(values):
            other = next(v for v in values if not isinstance(v, str))
            raise NNBackendError(f"labels mix text and other values ({text[0]!r}, {other!r}), "
                                 "which would make them different classes; give every "
                                 "label as a number or every label as a name")
        labels = labels.astype(str)
    if labels.dtype.kind != "U":
        return labels
    distinct = np.unique(labels).tolist()
    numbers = {text: _number(text) for text in distinct}
    named = [text for text, value in numbers.items() if value is None]
    if named and len(named) < len(distinct):
        number = next(text for text, value in numbers.items() if value is not None)
        raise NNBackendError(f"labels mix numbers and text ({number!r}, {named[0]!r}), which "
                             "would make them different classes; give every label as a "
                             "number or every label as a name")
    if not named:
        seen: dict[float, str] = {}
        for text, value in numbers.items():
            assert value is not None
            if value in seen:
                raise NNBackendError(
                    f"labels {seen[value]!r} and {text!r} are the same number written two "
                    "ways, which would make them different classes; give the labels as "
                    "numbers, or write each class one way")
            seen[value] = text
    return labels


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def split_validation(
    X: np.ndarray, Y: np.ndarray, fraction: float, seed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a seeded random fraction of the examples for validation.

    Parameters
    ----------
    X : ndarray, shape (m, n_features)
    Y : ndarray, shape (n[L], m)
        Encoded targets (columns are examples).
    fraction : float
        In ``(0, 1)``; at least one example lands on each side.
    seed : int or None
        Seeds a generator of its own, so the split never shifts the run's other draws.

    Returns
    -------
    X_train, Y_train, X_val, Y_val
    """
    if not 0.0 < fraction < 1.0:
        raise NNBackendError(f"--validation-fraction must be in (0, 1), got {fraction}")
    m = X.shape[0]
    n_val = int(round(fraction * m))
    if n_val < 1 or n_val > m - 1:
        raise NNBackendError(
            f"--validation-fraction {fraction} of {m} examples leaves an empty side; "
            "use a fraction that keeps at least one example in each"
        )
    order = np.random.RandomState(seed).permutation(m)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return X[train], Y[:, train], X[val], Y[:, val]
