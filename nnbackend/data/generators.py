"""Synthetic data sets, a few lines of NumPy each (examples as rows).

moons, circles, blobs, gaussian-quantiles, spiral (classification) and sine (regression).
Each is seeded by ``seed`` through a legacy ``RandomState`` and returns
``(X float64 (m, n), y (m,))``; the rows are shuffled once, so a validation split taken
from the tail still sees every class. No scikit-learn needed.
"""

from __future__ import annotations

import numpy as np

from ..core.backend import host_rng
from ..errors import SettingError, literal
from .memory import refuse_unless_fits

#: The seed of every generator when none is given: built-in data is reproducible by default.
DEFAULT_SEED = 0
#: Peak bytes per example of generating a set (measured at 2,000,000 examples: spiral
#: 82, moons and circles 79, flower 48, sine 25) and encoding its labels, rounded up.
BYTES_PER_SAMPLE = 100

Dataset = tuple[np.ndarray, np.ndarray]


def _rng(seed: int | None) -> np.random.RandomState:
    # The legacy RandomState, like ``backend.host_rng``: its streams are frozen across
    # NumPy versions, so a seed names the same data set forever.
    return host_rng(DEFAULT_SEED if seed is None else seed)  # checks the seed, in one line


def check_samples(name: str, n_samples: int, minimum: int, noise: float = 0.0) -> None:
    """Refuse sizes and noise levels the generator cannot honour (one-line errors)."""
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < minimum:
        # Templates: the command line says --n-samples, Python n_samples.
        raise SettingError(f"{name} needs {{n_samples}} to be an integer >= {minimum}, got "
                           f"{literal(repr(n_samples))}")
    if not np.isfinite(noise) or noise < 0:
        raise SettingError(f"{name} needs {{noise}} to be a number >= 0, got "
                           f"{literal(repr(noise))}")
    refuse_unless_fits(int(n_samples) * BYTES_PER_SAMPLE,
                       f"{{n_samples}} {int(n_samples)} for the {name} data set",
                       "use fewer samples")


def _check_classes(name: str, n_classes: int) -> None:
    if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
        raise SettingError(f"{name} needs {{n_classes}} to be an integer >= 2, got "
                           f"{literal(repr(n_classes))}")


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split ``m`` examples into ``K`` class sizes that differ by at most one."""
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _class_labels(n_samples: int, n_classes: int) -> np.ndarray:
    """Labels ``0 .. K-1`` in class order, shape (m,), int64, classes of equal size."""
    return np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n_samples, n_classes))


def _shuffled(rng: np.random.RandomState, X: np.ndarray, y: np.ndarray) -> Dataset:
    # Generated in class order, then shuffled once: a validation split taken from the
    # tail of the rows must still see every class.
    order = rng.permutation(X.shape[0])
    return X[order], y[order]


def _half_angles(
    n_samples: int, stop: float, endpoint: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced angles in ``[0, stop]`` for two curves: ``m // 2`` and the rest."""
    n_first = n_samples // 2
    return (np.linspace(0.0, stop, n_first, endpoint=endpoint),
            np.linspace(0.0, stop, n_samples - n_first, endpoint=endpoint))


def _two_curves(
    rng: np.random.RandomState, first: np.ndarray, second: np.ndarray, noise: float
) -> Dataset:
    """Label the points of ``first`` 0 and of ``second`` 1, add noise, shuffle.

    Parameters
    ----------
    first, second : ndarray, shape (m0, 2) and (m1, 2)
        The noiseless points of each class.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate.

    Returns
    -------
    X : ndarray, shape (m0 + m1, 2)
    y : ndarray, shape (m0 + m1,)
        int64 labels.
    """
    X = np.concatenate([first, second])
    y = np.repeat(np.arange(2, dtype=np.int64), [first.shape[0], second.shape[0]])
    X = X + noise * rng.randn(*X.shape)
    return _shuffled(rng, X, y)


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
    check_samples("moons", n_samples, 2, noise)
    rng = _rng(seed)
    t_upper, t_lower = _half_angles(n_samples, np.pi, endpoint=True)
    return _two_curves(rng, np.c_[np.cos(t_upper), np.sin(t_upper)],
                       np.c_[1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], noise)


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
    check_samples("circles", n_samples, 2, noise)
    rng = _rng(seed)
    t_outer, t_inner = _half_angles(n_samples, 2 * np.pi, endpoint=False)
    return _two_curves(rng, np.c_[np.cos(t_outer), np.sin(t_outer)],
                       factor * np.c_[np.cos(t_inner), np.sin(t_inner)], noise)


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
    check_samples("blobs", n_samples, n_classes, noise)
    rng = _rng(seed)
    centers = rng.uniform(-10.0, 10.0, size=(n_classes, 2))
    y = _class_labels(n_samples, n_classes)
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
    check_samples("gaussian-quantiles", n_samples, n_classes)
    rng = _rng(seed)
    X = rng.randn(n_samples, n_features)
    X = X[np.argsort(np.sum(X * X, axis=1), kind="stable")]
    y = _class_labels(n_samples, n_classes)
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
    check_samples("spiral", n_samples, n_classes, noise)
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
    check_samples("sine", n_samples, 1, noise)
    rng = _rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=n_samples)
    y = np.sin(x) + noise * rng.randn(n_samples)
    return x.reshape(-1, 1), y
