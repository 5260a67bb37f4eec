"""Built-in data sets, generated on the host with NumPy (examples as rows).

The flower is the notes' programming-assignment data set, generated exactly as the
original ``load_planar_dataset`` does (legacy global seed 1), so a run here can be put
beside the notes' own numbers. The other generators (moons, circles, blobs,
gaussian-quantiles, spiral, sine; see :mod:`nnbackend.data.generators`) are seeded by ``seed``
so the same call gives the same data everywhere; the real data sets (iris, wine,
breast-cancer, digits) are scikit-learn's bundled copies, read only when it is installed.

:data:`DATASETS` describes every set in one line; :func:`load_dataset` loads one by name
and :func:`load_data` also accepts a file (CSV, NPZ or a NPY pair, see
:mod:`nnbackend.data.files`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NNBackendError
from .files import DATA_SUFFIXES, DataFile, read_data
from .generators import (
    DEFAULT_SEED,
    blobs,
    check_samples,
    circles,
    gaussian_quantiles,
    moons,
    sine,
    spiral,
)

Dataset = tuple[np.ndarray, np.ndarray]

__all__ = ["DATASETS", "DEFAULT_SEED", "DatasetInfo", "blobs", "circles", "flower",
           "gaussian_quantiles", "load_data", "load_dataset", "load_labelled", "moons",
           "sine", "spiral"]


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


def _flower(n_samples: int = 400) -> Dataset:
    """:func:`flower` with its size checked (it is kept exactly as the notes wrote it)."""
    check_samples("flower", n_samples, 2)
    return flower(n_samples)


def _sklearn_set(name: str) -> Callable[[], Dataset]:
    """A loader for scikit-learn's bundled ``load_<name>`` (no download involved)."""

    def load() -> Dataset:
        try:
            sk_datasets = importlib.import_module("sklearn.datasets")
        except ImportError:
            raise NNBackendError(
                f"the {name.replace('_', '-')} data set comes with scikit-learn, which is not "
                "installed; install it with pip install scikit-learn"
            ) from None
        X, y = getattr(sk_datasets, f"load_{name}")(return_X_y=True)
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)

    load.__doc__ = f"scikit-learn's bundled ``load_{name}`` as ``(X float64, y int64)``."
    return load


@dataclass(frozen=True)
class DatasetInfo:
    """What :data:`DATASETS` knows about one data set.

    Attributes
    ----------
    loader : callable
        ``loader(**options) -> (X, y)``, ``X`` of shape ``(m, n)``, ``y`` of shape ``(m,)``.
    description : str
        One line for listings.
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    accepts : tuple of str
        The options :func:`load_dataset` may pass (``seed``, ``n_samples``, ``noise``,
        ``n_classes``).
    requires : str or None
        The package that must be installed (``scikit-learn``), or None.
    """

    loader: Callable[..., Dataset]
    description: str
    task: str
    accepts: tuple[str, ...] = ()
    requires: str | None = None


_SIZE_NOISE_SEED = ("seed", "n_samples", "noise")
_K_CLASSES = ("seed", "n_samples", "noise", "n_classes")

#: name -> :class:`DatasetInfo`; every loader returns host arrays, examples as rows.
DATASETS: dict[str, DatasetInfo] = {
    "flower": DatasetInfo(_flower, "the course's planar flower (Deep Learning Specialization, "
                          "course 1 week 3): 2 classes of petals, 400 x 2, fixed seed 1",
                          "binary", ("n_samples",)),
    "moons": DatasetInfo(moons, "two interleaving half circles, 200 x 2", "binary",
                         _SIZE_NOISE_SEED),
    "circles": DatasetInfo(circles, "a small circle inside a large one, 200 x 2", "binary",
                           _SIZE_NOISE_SEED),
    "blobs": DatasetInfo(blobs, "K Gaussian blobs (default 3), 300 x 2", "multiclass",
                         _K_CLASSES),
    "gaussian-quantiles": DatasetInfo(
        gaussian_quantiles, "a Gaussian cloud cut into K rings by radius (default 3), 300 x 2",
        "multiclass", ("seed", "n_samples", "n_classes")),
    "spiral": DatasetInfo(spiral, "the CS231n spiral: K arms (default 3), 300 x 2",
                          "multiclass", _K_CLASSES),
    "sine": DatasetInfo(sine, "y = sin(x) + noise on [-pi, pi], 200 x 1",
                        "regression", _SIZE_NOISE_SEED),
    "iris": DatasetInfo(_sklearn_set("iris"), "Fisher's iris flowers: 3 species, 150 x 4",
                        "multiclass", requires="scikit-learn"),
    "wine": DatasetInfo(_sklearn_set("wine"), "wine cultivars from chemistry: 3 classes, "
                        "178 x 13", "multiclass", requires="scikit-learn"),
    "breast-cancer": DatasetInfo(_sklearn_set("breast_cancer"), "Wisconsin breast cancer "
                                 "diagnosis: 2 classes, 569 x 30", "binary",
                                 requires="scikit-learn"),
    "digits": DatasetInfo(_sklearn_set("digits"), "8 x 8 handwritten digits: 10 classes, "
                          "1797 x 64", "multiclass", requires="scikit-learn"),
}


#: Generator option -> the command-line flag that sets it.
OPTION_FLAGS = {"seed": "--data-seed", "n_samples": "--n-samples", "noise": "--noise",
                "n_classes": "--n-classes"}


def option_label(name: str) -> str:
    """``noise`` -> ``noise (--noise)``: the library name and the flag of an option."""
    return f"{name} ({OPTION_FLAGS[name]})" if name in OPTION_FLAGS else name


def _dataset_key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def load_dataset(
    name: str,
    seed: int | None = None,
    n_samples: int | None = None,
    noise: float | None = None,
    n_classes: int | None = None,
) -> Dataset:
    """Load a built-in data set by name, passing only the options that are given.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``_`` and ``-`` are interchangeable).
    seed, n_samples, noise, n_classes : optional
        Generator options; None keeps the set's default. Each set accepts the options
        listed in its ``DatasetInfo.accepts``.

    Returns
    -------
    X : ndarray, shape (m, n_features)
        float64.
    y : ndarray, shape (m,)
        int64 class labels, or float64 targets for regression.

    Raises
    ------
    NNBackendError
        An unknown name (listing the built-in ones), an option the set does not accept,
        an invalid option value, or scikit-learn missing for its sets.
    """
    key = _dataset_key(name)
    if key not in DATASETS:
        raise NNBackendError(
            f"unknown data set {name!r}; built-in ones are: {', '.join(DATASETS)}"
        )
    info = DATASETS[key]
    given = {k: v for k, v in (("seed", seed), ("n_samples", n_samples), ("noise", noise),
                               ("n_classes", n_classes)) if v is not None}
    refused = [option_label(k) for k in given if k not in info.accepts]
    if refused:
        takes = ", ".join(map(option_label, info.accepts)) if info.accepts else "no options"
        raise NNBackendError(
            f"the {key} data set does not take {', '.join(refused)} (it takes {takes}); "
            "drop that option"
        )
    X, y = info.loader(**given)
    return np.asarray(X, dtype=np.float64), y


def load_data(spec: str, target: str | None = None, **options: Any) -> Dataset:
    """Load a built-in data set by name, or a data file by path.

    Parameters
    ----------
    spec : str
        A name from :data:`DATASETS`, or a path: ``.csv`` (header row), ``.npz`` (arrays
        ``X`` and ``y``), ``.npy`` (features; labels from a sibling file) or the pair
        ``FEATURES.npy,LABELS.npy``. See :func:`nnbackend.data.files.read_data_file`.
    target : str, optional
        CSV only: the name of the label column (default: the last column).
    **options
        Built-in sets only: ``seed``, ``n_samples``, ``noise``, ``n_classes`` as in
        :func:`load_dataset`.

    Returns
    -------
    X : ndarray, shape (m, n_features)
        float64, finite.
    y : ndarray, shape (m,)
        Labels (numbers or strings) or regression targets (``(m, k)`` from array files).

    Raises
    ------
    NNBackendError
        Unknown names or file types, unreadable files, and options that do not apply.
    """
    data = load_labelled(spec, target, **options)
    return data.X, data.y


def load_labelled(spec: str, target: str | None = None, **options: Any) -> DataFile:
    """:func:`load_data` with the column names of a CSV file (None for other data)."""
    key = _dataset_key(spec)
    if key in DATASETS:
        if target is not None:
            raise NNBackendError(
                f"target (--target) applies to CSV files only, not to the built-in {key} "
                "data set; drop it"
            )
        return DataFile(*load_dataset(key, **options))
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise NNBackendError(
            # Both spellings, as load_dataset's refusals: the command line calls seed
            # --data-seed (its --seed is another option, valid with files).
            f"{', '.join(map(option_label, given))} only apply to built-in data sets, not "
            f"to the file {spec}; drop them"
        )
    first = spec.split(",")[0].strip()
    if Path(first).suffix.lower() not in DATA_SUFFIXES and not os.path.exists(first):
        raise NNBackendError(
            f"unknown data set or file {spec!r}; built-in ones are: {', '.join(DATASETS)}; "
            f"files must end in {', '.join(DATA_SUFFIXES)}"
        )
    return read_data(spec, target)
