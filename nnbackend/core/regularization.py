"""Regularisation: the L2 penalty and inverted-dropout masks.

L2 adds ``lambda / (2m) * sum_l sum(W[l]**2)`` to the cost and ``lambda / m * W[l]`` to
each ``dW[l]`` (see ``backward_propagation``); biases are not penalised, as in the course.

Dropout masks are random, and randomness is not in the Array API standard, so they are
drawn on the host from the run's seeded generator and copied to the device: for one
seed every backend drops exactly the same units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .axes import is_float, model_sum, per_model_vector
from .backend import Backend

Array = Any


def l2_cost(params: dict[str, Array], l2: float, m: int, *, xp: Any) -> Array:
    """``lambda / (2m) * sum of W[l]**2`` over all layers, a 0-d device array (for a stack
    of ``k`` models, one per model: shape ``(k,)``).

    Parameters
    ----------
    params : dict
        ``W1, b1, ...``; only the ``W`` entries are penalised.
    l2 : float or array
        ``lambda``; a stack may give one per model, shape ``(k, 1, 1)``.
    m : int
        Number of examples the cost is averaged over.
    """
    total = sum(model_sum(W * W, xp=xp) for name, W in params.items() if name.startswith("W"))
    if not is_float(l2):
        l2 = per_model_vector(l2, xp=xp)  # (k, 1, 1) -> (k,), shaped like the sums
    return (l2 / (2 * m)) * total


def dropout_masks(
    rng: Any, layer_sizes: Sequence[int], m: int, keep_prob: float, backend: Backend
) -> list[Array | None]:
    """Draw inverted-dropout masks ``D[l] / keep_prob`` for the hidden layers.

    Parameters
    ----------
    rng : numpy.random.RandomState
        The run's host generator.
    layer_sizes : sequence of int
        ``(n[0], ..., n[L])``.
    m : int
        Examples in the batch.
    keep_prob : float
        Probability of keeping a hidden unit, in ``(0, 1]``.
    backend : Backend
        Where the masks go.

    Returns
    -------
    list
        Index ``l``: an array of shape ``(n[l], m)`` with entries ``0`` or ``1/keep_prob``
        for ``l = 1..L-1``; None for the input (``l = 0``) and the output (``l = L``).
    """
    masks: list[Array | None] = [None]
    for n in layer_sizes[1:-1]:
        kept = rng.rand(n, m) < keep_prob
        masks.append(backend.asarray(kept / keep_prob))
    masks.append(None)
    return masks
