"""Built-in data sets, generated on the host with NumPy (examples as rows).

The flower is the notes' programming-assignment data set, generated exactly as the
original ``load_planar_dataset`` does (legacy global seed 1), so a run here can be put
beside the notes' own numbers. The other generators (moons, circles, blobs,
gaussian-quantiles, spiral, sine) are a few lines of NumPy each, seeded by ``seed`` so
the same call gives the same data everywhere; the real data sets (iris, wine,
breast-cancer, digits) are scikit-learn's bundled copies, read only when it is installed.

:data:`DATASETS` describes every set in one line; :func:`load_dataset` loads one by name
and :func:`load_data` also accepts a file (CSV, NPZ or a NPY pair, see
:mod:`nnbackend.datafiles`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datafiles import DATA_SUFFIXES, read_data_file
from .errors import NNBackendError

#: The seed of every generator when none is given: built-in data is reproducible by default.
DEFAULT_SEED = 0

Dataset = tuple[np.ndarray, np.ndarray]


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


def _rng(seed: int | None) -> np.random.RandomState:
    # The legacy RandomState, like ``backend.host_rng``: its streams are frozen across
    # NumPy versions, so a seed names the same data set forever.
    return np.random.RandomState(DEFAULT_SEED if seed is None else seed)


def _check(name: str, n_samples: int, minimum: int, noise: float = 0.0) -> None:
    """Refuse sizes and noise levels the generator cannot honour (one-line errors)."""
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < minimum:
        raise NNBackendError(
            f"{name} needs n_samples to be an integer >= {minimum}, got {n_samples!r}"
        )
    if not np.isfinite(noise) or noise < 0:
        raise NNBackendError(f"{name} needs noise to be a number >= 0, got {noise!r}")


def _flower(n_samples: int = 400) -> Dataset:
    """:func:`flower` with its size checked (it is kept exactly as the notes wrote it)."""
    _check("flower", n_samples, 2)
    return flower(n_samples)


def _check_classes(name: str, n_classes: int) -> None:
    if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
        raise NNBackendError(
            f"{name} needs n_classes to be an integer >= 2, got {n_classes!r}"
        )


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split ``m`` examples into ``K`` class sizes that differ by at most one."""
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _shuffled(rng: np.random.RandomState, X: np.ndarray, y: np.ndarray) -> Dataset:
    # Generated in class order, then shuffled once: a validation split taken from the
    # tail of the rows must still see every class.
    order = rng.permutation(X.shape[0])
    return X[order], y[order]


def moons(n_samples: int = 200, noise: float = 0.1, seed: int | None = None) -> Dataset:
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape).

    Parameters
    ----------
    n_samples : int
        ``m``; the upper moon gets ``m // 2`` points, the lower one the rest.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate.
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.

    Returns
    -------
    X : ndarray, shape (m, 2)
    y : ndarray, shape (m,)
        Labels 0 (upper moon) and 1 (lower moon), int64.
    """
    _check("moons", n_samples, 2, noise)
    rng = _rng(seed)
    n_upper = n_samples // 2
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_samples - n_upper)
    X = np.concatenate([
        np.c_[np.cos(t_upper), np.sin(t_upper)],
        np.c_[1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)],
    ])
    y = np.repeat(np.arange(2, dtype=np.int64), [n_upper, n_samples - n_upper])
    X = X + noise * rng.randn(*X.shape)
    return _shuffled(rng, X, y)


def circles(
    n_samples: int = 200, noise: float = 0.05, seed: int | None = None, factor: float = 0.5
) -> Dataset:
    """A small circle inside a large one (scikit-learn's ``make_circles`` shape).

    Parameters
    ----------
    n_samples : int
        ``m``; the outer circle gets ``m // 2`` points, the inner one the rest.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate.
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.
    factor : float
        Radius of the inner circle (the outer one has radius 1).

    Returns
    -------
    X : ndarray, shape (m, 2)
    y : ndarray, shape (m,)
        Labels 0 (outer circle) and 1 (inner circle), int64.
    """
    _check("circles", n_samples, 2, noise)
    rng = _rng(seed)
    n_outer = n_samples // 2
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * np.pi, n_samples - n_outer, endpoint=False)
    X = np.concatenate([
        np.c_[np.cos(t_outer), np.sin(t_outer)],
        factor * np.c_[np.cos(t_inner), np.sin(t_inner)],
    ])
    y = np.repeat(np.arange(2, dtype=np.int64), [n_outer, n_samples - n_outer])
    X = X + noise * rng.randn(*X.shape)
    return _shuffled(rng, X, y)


def blobs(
    n_samples: int = 300, n_classes: int = 3, noise: float = 1.0, seed: int | None = None
) -> Dataset:
    """``K`` Gaussian blobs around centres drawn uniformly in the square ``[-10, 10]^2``.

    Parameters
    ----------
    n_samples : int
        ``m``, split evenly over the classes.
    n_classes : int
        ``K``, the number of blobs.
    noise : float
        Standard deviation of each blob.
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.

    Returns
    -------
    X : ndarray, shape (m, 2)
    y : ndarray, shape (m,)
        The blob of each point, ``0 .. K-1``, int64.
    """
    _check_classes("blobs", n_classes)
    _check("blobs", n_samples, n_classes, noise)
    rng = _rng(seed)
    centers = rng.uniform(-10.0, 10.0, size=(n_classes, 2))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n_samples, n_classes))
    X = centers[y] + noise * rng.randn(n_samples, 2)
    return _shuffled(rng, X, y)


def gaussian_quantiles(
    n_samples: int = 300, n_classes: int = 3, seed: int | None = None, n_features: int = 2
) -> Dataset:
    """One standard Gaussian cloud cut into ``K`` rings of equal size by radius.

    Parameters
    ----------
    n_samples : int
        ``m``, split evenly over the classes.
    n_classes : int
        ``K``: class ``k`` holds the ``k``-th quantile of the distance from the origin.
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.
    n_features : int
        Dimension of the cloud.

    Returns
    -------
    X : ndarray, shape (m, n_features)
    y : ndarray, shape (m,)
        The ring of each point, ``0`` (innermost) .. ``K-1``, int64.
    """
    _check_classes("gaussian-quantiles", n_classes)
    _check("gaussian-quantiles", n_samples, n_classes)
    rng = _rng(seed)
    X = rng.randn(n_samples, n_features)
    X = X[np.argsort(np.sum(X * X, axis=1), kind="stable")]
    y = np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n_samples, n_classes))
    return _shuffled(rng, X, y)


def spiral(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int | None = None
) -> Dataset:
    """The CS231n spiral: ``K`` arms winding out of the origin, one class per arm.

    Arm ``j`` has radii ``linspace(0, 1, N)`` and angles ``linspace(4j, 4(j+1), N)`` plus
    Gaussian noise, exactly as the course's notebook draws them.

    Parameters
    ----------
    n_samples : int
        ``m``, split evenly over the arms (``N`` points each).
    n_classes : int
        ``K``, the number of arms.
    noise : float
        Standard deviation of the noise on the angle (the course's 0.2).
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.

    Returns
    -------
    X : ndarray, shape (m, 2)
        Points ``(r * sin(t), r * cos(t))``.
    y : ndarray, shape (m,)
        The arm of each point, ``0 .. K-1``, int64.
    """
    _check_classes("spiral", n_classes)
    _check("spiral", n_samples, n_classes, noise)
    rng = _rng(seed)
    sizes = _class_sizes(n_samples, n_classes)
    parts = []
    for j, n in enumerate(sizes):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.randn(n) * noise
        parts.append(np.c_[r * np.sin(t), r * np.cos(t)])
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    return _shuffled(rng, np.concatenate(parts), y)


def sine(n_samples: int = 200, noise: float = 0.1, seed: int | None = None) -> Dataset:
    """A regression set: ``y = sin(x) + noise`` for ``x`` uniform in ``[-pi, pi]``.

    Parameters
    ----------
    n_samples : int
        ``m``.
    noise : float
        Standard deviation of the Gaussian noise on ``y``.
    seed : int or None
        Seeds the generator; None means :data:`DEFAULT_SEED`.

    Returns
    -------
    X : ndarray, shape (m, 1)
        The inputs ``x``.
    y : ndarray, shape (m,)
        The targets, float64.
    """
    _check("sine", n_samples, 1, noise)
    rng = _rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=n_samples)
    y = np.sin(x) + noise * rng.randn(n_samples)
    return x.reshape(-1, 1), y


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
    "flower": DatasetInfo(_flower, "the notes' planar flower: 2 classes of petals, 400 x 2, "
                          "fixed seed 1", "binary", ("n_samples",)),
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
    "sine": DatasetInfo(sine, "regression: y = sin(x) + noise on [-pi, pi], 200 x 1",
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
    refused = [k for k in given if k not in info.accepts]
    if refused:
        takes = ", ".join(info.accepts) if info.accepts else "no options"
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
        ``FEATURES.npy,LABELS.npy``. See :func:`nnbackend.datafiles.read_data_file`.
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
    key = _dataset_key(spec)
    if key in DATASETS:
        if target is not None:
            raise NNBackendError(
                f"target applies to CSV files only, not to the built-in {key} data set; "
                "drop it"
            )
        return load_dataset(key, **options)
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise NNBackendError(
            f"{', '.join(given)} only apply to built-in data sets, not to the file {spec}; "
            "drop them"
        )
    first = spec.split(",")[0].strip()
    if Path(first).suffix.lower() not in DATA_SUFFIXES and not Path(first).exists():
        raise NNBackendError(
            f"unknown data set or file {spec!r}; built-in ones are: {', '.join(DATASETS)}; "
            f"files must end in {', '.join(DATA_SUFFIXES)}"
        )
    return read_data_file(spec, target)
