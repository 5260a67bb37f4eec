"""Built-in data sets, generated on the host with NumPy (examples as rows).

The flower is the notes' programming-assignment data set, generated exactly as the
original ``load_planar_dataset`` does (legacy global seed 1), so a run here can be put
beside the notes' own numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import NNBackendError


def flower(n_samples: int = 400, petals: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """The notes' planar "flower": two classes of points, one per set of petals.

    Parameters
    ----------
    n_samples : int
        ``m``; half of them (``N``) per class. The notes use 400.
    petals : float
        ``a``, the maximum ray of the flower (the notes' 4).

    Returns
    -------
    X : ndarray, shape (m, 2)
        Points ``(r * sin(t), r * cos(t))``.
    y : ndarray, shape (m,)
        Labels 0 and 1 (int64); rows ``N*j .. N*(j+1)-1`` are class ``j``.

    Notes
    -----
    A ``RandomState(1)`` draws exactly the stream of the original's ``np.random.seed(1)``;
    for the defaults ``X.sum()`` is 10.087983277442 (checked in the tests).
    """
    rng = np.random.RandomState(1)
    n_per_class = n_samples // 2
    X = np.zeros((2 * n_per_class, 2))
    y = np.zeros(2 * n_per_class, dtype=np.int64)
    for j in range(2):
        rows = slice(n_per_class * j, n_per_class * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n_per_class) + rng.randn(n_per_class) * 0.2
        r = petals * np.sin(4 * t) + rng.randn(n_per_class) * 0.2
        X[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[rows] = j
    return X, y


#: name -> loader returning ``(X, y)`` as host arrays, examples as rows.
DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "flower": flower,
}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load a built-in data set by name.

    Raises
    ------
    NNBackendError
        For an unknown name, listing the built-in ones.
    """
    key = name.strip().lower()
    if key not in DATASETS:
        raise NNBackendError(
            f"unknown data set {name!r}; built-in ones are: {', '.join(DATASETS)}"
        )
    return DATASETS[key]()
