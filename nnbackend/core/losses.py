"""Output layers: an output activation paired with its loss.

Each pairing is chosen so that the gradient of the cost with respect to the output
layer's pre-activation is the notes' ``dZ[L] = A[L] - Y`` (the ``1/m`` is applied in
``dW``/``db``), and each cost is computed from the logits ``Z[L]``, never through
``log(A)`` or ``1/A``, so ``|Z| = 1e4`` gives finite numbers.

Shapes follow the notes' column convention: ``Z``, ``A`` and ``Y`` are ``(n[L], m)``.
A stack of ``k`` models (:mod:`nnbackend.core.axes`) gives ``Z`` of shape ``(k, n[L], m)``
(``Y`` shared, ``(n[L], m)``, or per model) and one cost per model, shape ``(k,)``: classes
run along axis ``-2`` and examples along ``-1`` in both cases.
A cost is a 0-d array on the device; reading it (``Backend.to_float``) is left to the
caller, at its print interval, because on a GPU every read is a synchronisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from . import activations
from .axes import model_sum

Array = Any


def _softplus(Z: Array, *, xp: ModuleType) -> Array:
    """``log(1 + exp(Z))`` computed as ``max(Z, 0) + log1p(exp(-|Z|))``: never overflows."""
    absZ = xp.abs(Z)
    return 0.5 * (Z + absZ) + xp.log1p(xp.exp(-absZ))


def binary_cross_entropy(Z: Array, Y: Array, *, xp: ModuleType) -> Array:
    """``J = -1/m * sum(Y*log(A) + (1-Y)*log(1-A))`` with ``A = sigmoid(Z)``, from logits.

    Uses the identity ``-Y*log(sigmoid(Z)) - (1-Y)*log(1-sigmoid(Z)) = softplus(Z) - Y*Z``.

    Parameters
    ----------
    Z : array, shape (1, m)
        Output-layer pre-activation (logits).
    Y : array, shape (1, m)
        Labels, 0.0 or 1.0.

    Returns
    -------
    array, shape () or (k,)
        The mean cost (of each model of a stack).
    """
    m = Z.shape[-1]
    return model_sum(_softplus(Z, xp=xp) - Y * Z, xp=xp) / m


def categorical_cross_entropy(Z: Array, Y: Array, *, xp: ModuleType) -> Array:
    """``J = -1/m * sum(Y * log(softmax(Z)))``, with the log-softmax taken from logits.

    Parameters
    ----------
    Z : array, shape (K, m)
        Output-layer pre-activation (logits), one row per class.
    Y : array, shape (K, m)
        One-hot labels.
    """
    m = Z.shape[-1]
    shifted = Z - xp.max(Z, axis=-2, keepdims=True)
    log_softmax = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-2, keepdims=True))
    return -model_sum(Y * log_softmax, xp=xp) / m


def mean_squared_error(Z: Array, Y: Array, *, xp: ModuleType) -> Array:
    """``J = 1/(2m) * sum((A - Y)**2)`` with the identity output ``A = Z``.

    Parameters
    ----------
    Z : array, shape (n_targets, m)
        Output-layer pre-activation, equal to the prediction.
    Y : array, shape (n_targets, m)
        Real-valued targets.
    """
    m = Z.shape[-1]
    diff = Z - Y
    return model_sum(diff * diff, xp=xp) / (2 * m)


class Cost(Protocol):
    """``J(Z[L], Y, *, xp) -> 0-d array``: a loss computed from the logits."""

    def __call__(self, Z: Array, Y: Array, /, *, xp: ModuleType) -> Array: ...


@dataclass(frozen=True)
class OutputLayer:
    """The output activation ``g[L]`` and the loss it pairs with.

    Attributes
    ----------
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    activation : activations.Activation
        ``g[L]``: sigmoid, softmax or identity.
    cost : callable
        ``cost(Z[L], Y, *, xp) -> 0-d array``, computed from the logits.
    """

    task: str
    activation: activations.Activation
    cost: Cost

    def output_gradient(self, A: Array, Y: Array) -> Array:
        """``dZ[L] = A[L] - Y``, the same form for all three pairings."""
        return A - Y


OUTPUT_LAYERS: dict[str, OutputLayer] = {
    "binary": OutputLayer(
        "binary", activations.HIDDEN_ACTIVATIONS["sigmoid"], binary_cross_entropy
    ),
    "multiclass": OutputLayer("multiclass", activations.SOFTMAX, categorical_cross_entropy),
    "regression": OutputLayer(
        "regression", activations.HIDDEN_ACTIVATIONS["identity"], mean_squared_error
    ),
}
