"""Parameter initialisation: random weights drawn on the host, then moved to the device.

Randomness is not part of the Array API standard, so every weight is drawn from one seeded
host generator (:func:`nnbackend.core.backend.host_rng`, NumPy's legacy ``RandomState``), kept
in float64 while it is scaled, cast to the backend's dtype and copied to the device once.
The same seed therefore gives the same starting weights on every backend, and ``small``
with seed ``S`` reproduces the notes' ``np.random.seed(S)`` followed by
``np.random.randn(n[l], n[l-1]) * 0.01`` for ``l = 1, 2, ...`` (``W1`` first).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import NNBackendError
from .backend import Backend

#: name -> function of (n[l-1], n[l]) giving the factor applied to ``randn`` draws.
WEIGHT_SCALES: dict[str, Callable[[int, int], float]] = {
    # The notes' symmetry-breaking initialisation: small enough to keep tanh/sigmoid
    # out of their flat tails at the start.
    "small": lambda n_prev, n: 0.01,
    # All-zero weights: every hidden unit computes the same function forever (the
    # symmetry problem the notes warn about). Kept to demonstrate it.
    "zeros": lambda n_prev, n: 0.0,
    # Xavier/Glorot as the course writes it for tanh: variance 1/n[l-1].
    "xavier": lambda n_prev, n: math.sqrt(1.0 / n_prev),
    # He et al. for ReLU: variance 2/n[l-1].
    "he": lambda n_prev, n: math.sqrt(2.0 / n_prev),
    # Plain randn, to be scaled by ``scale``: the course's "too large" example is
    # ``--init random --init-scale 10`` (np.random.randn(...) * 10).
    "random": lambda n_prev, n: 1.0,
}


def initialize_parameters(
    layer_sizes: Sequence[int], method: str, rng: Any, backend: Backend, scale: float = 1.0
) -> dict[str, Any]:
    """Draw ``W1, b1, ..., WL, bL`` for the given layer sizes.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n[0], n[1], ..., n[L])``: input features, hidden units, outputs.
    method : str
        ``small``, ``zeros``, ``xavier``, ``he`` or ``random``.
    rng : numpy.random.RandomState
        The run's host generator (see :func:`nnbackend.core.backend.host_rng`).
    backend : Backend
        Where the parameters live and which dtype they have.
    scale : float
        Multiplies the method's factor (default 1): ``random`` with 10 draws the
        course's ``randn * 10``, ``small`` with 2 draws ``randn * 0.02``.

    Returns
    -------
    dict
        ``W{l}`` of shape ``(n[l], n[l-1])`` and ``b{l}`` of shape ``(n[l], 1)`` (zeros).
    """
    if method not in WEIGHT_SCALES:
        raise NNBackendError(
            f"unknown initializer {method!r}; choose one of {', '.join(WEIGHT_SCALES)}"
        )
    if not (math.isfinite(scale) and scale >= 0):
        raise NNBackendError(f"the init scale must be a finite number >= 0, got {scale}")
    factor = WEIGHT_SCALES[method]
    params: dict[str, Any] = {}
    for l in range(1, len(layer_sizes)):  # noqa: E741 -- the notes' layer index
        n_prev, n = layer_sizes[l - 1], layer_sizes[l]
        # Draw even for "zeros", so the generator advances identically for every method
        # and later draws (shuffles, dropout) do not depend on the initializer.
        # One product for the default scale, so "small" stays the notes' randn * 0.01.
        weights = rng.randn(n, n_prev) * (factor(n_prev, n) if scale == 1.0
                                          else factor(n_prev, n) * scale)
        params[f"W{l}"] = backend.asarray(weights)
        params[f"b{l}"] = backend.zeros((n, 1))
    return params
