"""Activation functions g(Z) and their derivatives g'(Z), written once on the Array API.

Every function takes arrays of any shape (inside the network: ``(n[l], m)``) and the
standard namespace as the keyword ``xp``, in last place as array-api-extra has it
(``tanh(Z, xp=xp)``), and returns an array of the same shape, namespace, device and
dtype. Only standard operators and element-wise functions are used (Python scalars as
operands where the 2024.12 standard allows them), no ``bool * float`` (the comparison is
cast with ``astype``), so the same lines run on NumPy, CuPy, PyTorch and array-api-strict.

Derivatives take both ``Z`` and ``A = g(Z)`` because the cheap form often uses ``A``:
the notes' ``g'(Z) = 1 - A**2`` for tanh.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from ..errors import NNBackendError

Array = Any

#: The slope of leaky ReLU for negative inputs (the notes' 0.01).
LEAKY_RELU_ALPHA = 0.01

#: ``sqrt(2 / pi)`` and the cubic coefficient of GELU's tanh approximation
#: (Hendrycks & Gimpel 2016; PyTorch's ``gelu(approximate="tanh")``, ONNX's
#: ``Gelu(approximate="tanh")``).
GELU_SQRT_2_OVER_PI = 0.7978845608028654
GELU_CUBIC = 0.044715

#: GELU's inner term reads ``Z`` clipped to ``[-10, 10]``: beyond ``|Z| = 10``,
#: ``|u| > 43`` and ``tanh(u)`` is exactly ``+-1`` in float32 and float64 either way, while
#: the clip keeps ``Z**3`` from overflowing (and the derivative from ``0 * inf = NaN``).
GELU_CLIP = 10.0


def sigmoid(Z: Array, *, xp: ModuleType) -> Array:
    """``1 / (1 + exp(-Z))`` as ``0.5 * tanh(0.5 * Z) + 0.5``: no overflow for any Z.

    (Not written in place into ``tanh``'s result, which saved 0.09 us on the flower's
    output layer: PyTorch's autograd keeps that result for its own backward pass.)
    """
    return 0.5 * xp.tanh(0.5 * Z) + 0.5


def sigmoid_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``g'(Z) = A * (1 - A)``."""
    return A * (1.0 - A)


def tanh(Z: Array, *, xp: ModuleType) -> Array:
    """The notes' hidden activation, ``tanh(Z)``."""
    return xp.tanh(Z)


def tanh_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``g'(Z) = 1 - A**2`` (the notes' ``1 - np.power(A1, 2)``)."""
    return 1.0 - A * A


def relu(Z: Array, *, xp: ModuleType) -> Array:
    """``max(0, Z)``: ``xp.maximum`` with a Python scalar (standard since 2024.12).

    One pass over ``Z``; ``(Z + |Z|) / 2`` took three (2.3 vs 6 us on a (4, 400) array,
    33 vs 48 us on (256, 256) float32).
    """
    return xp.maximum(Z, 0.0)


def relu_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``1`` where ``Z > 0``, else ``0`` (the subgradient 0 is used at ``Z = 0``)."""
    return xp.astype(Z > 0.0, Z.dtype)


def leaky_relu(Z: Array, alpha: float = LEAKY_RELU_ALPHA, *, xp: ModuleType) -> Array:
    """``max(alpha * Z, Z)``, which is ``Z`` for ``Z > 0`` and ``alpha * Z`` otherwise
    (for ``0 <= alpha < 1``)."""
    return xp.maximum(Z, alpha * Z)


def leaky_relu_derivative(
    Z: Array, A: Array, alpha: float = LEAKY_RELU_ALPHA, *, xp: ModuleType
) -> Array:
    """``1`` where ``Z > 0``, else ``alpha``."""
    return alpha + (1.0 - alpha) * xp.astype(Z > 0.0, Z.dtype)


def identity(Z: Array, *, xp: ModuleType) -> Array:
    """``g(Z) = Z``: the output of a regression network."""
    return Z


def identity_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``g'(Z) = 1``, as an array shaped like ``Z``."""
    return xp.ones_like(Z)


def _gelu_tanh(Z: Array, *, xp: ModuleType) -> tuple[Array, Array]:
    """``(t, z)``: ``t = tanh(u)`` with ``u = sqrt(2/pi) * (z + 0.044715 * z**3)`` and
    ``z = clip(Z, -10, 10)`` (see :data:`GELU_CLIP`)."""
    z = xp.clip(Z, -GELU_CLIP, GELU_CLIP)
    return xp.tanh(GELU_SQRT_2_OVER_PI * z * (1.0 + GELU_CUBIC * (z * z))), z


def gelu(Z: Array, *, xp: ModuleType) -> Array:
    """GELU, ``Z * Phi(Z)``, in its tanh approximation: ``0.5 * Z * (1 + tanh(u))`` with
    ``u = sqrt(2/pi) * (Z + 0.044715 * Z**3)``.

    The Array API standard has no ``erf``, so the exact ``Phi(Z) = (1 + erf(Z / sqrt 2))
    / 2`` is not available on every backend; the tanh form is the one BERT and GPT-2
    trained with (PyTorch's ``gelu(approximate="tanh")``) and differs from the exact GELU
    by less than 5e-4 everywhere (4.7e-4 at its worst, near ``Z = 2.7``). Finite and
    warning-free for any finite ``Z`` (see :data:`GELU_CLIP`).
    """
    t, _ = _gelu_tanh(Z, xp=xp)
    return 0.5 * Z * (1.0 + t)


def gelu_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``g'(Z) = 0.5 * (1 + t) + 0.5 * Z * (1 - t**2) * sqrt(2/pi) * (1 + 3 * 0.044715 * Z**2)``
    with ``t = tanh(u)``.

    ``t`` is recomputed rather than recovered from ``A = 0.5 * Z * (1 + t)``, which would
    divide by ``Z``. Where ``Z`` is clipped, ``1 - t**2`` is exactly 0, so the clipped
    ``Z**2`` changes nothing there.
    """
    t, z = _gelu_tanh(Z, xp=xp)
    slope = GELU_SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * (z * z))
    return 0.5 * (1.0 + t) + 0.5 * Z * (1.0 - t * t) * slope


def silu(Z: Array, *, xp: ModuleType) -> Array:
    """SiLU (also called swish), ``Z * sigmoid(Z)``; the sigmoid as in :func:`sigmoid`,
    so no overflow for any ``Z``."""
    return Z * sigmoid(Z, xp=xp)


def silu_derivative(Z: Array, A: Array, *, xp: ModuleType) -> Array:
    """``g'(Z) = s + A * (1 - s)`` with ``s = sigmoid(Z)`` (from ``s + Z * s * (1 - s)``
    and ``A = Z * s``)."""
    s = sigmoid(Z, xp=xp)
    return s + A * (1.0 - s)


def softmax(Z: Array, *, xp: ModuleType) -> Array:
    """Column-wise softmax of ``Z`` of shape ``(K, m)`` (or a stack ``(k, K, m)``): each
    column sums to 1.

    The column maximum is subtracted first, so ``exp`` never overflows.
    """
    E = xp.exp(Z - xp.max(Z, axis=-2, keepdims=True))
    return E / xp.sum(E, axis=-2, keepdims=True)


class Forward(Protocol):
    """``g(Z, *, xp) -> A``, element-wise (softmax: column-wise)."""

    def __call__(self, Z: Array, /, *, xp: ModuleType) -> Array: ...


class Derivative(Protocol):
    """``g'(Z, A, *, xp) -> g'(Z)``, given ``A = g(Z)``."""

    def __call__(self, Z: Array, A: Array, /, *, xp: ModuleType) -> Array: ...


@dataclass(frozen=True)
class Activation:
    """An activation ``g`` and its derivative ``g'``, looked up by name."""

    name: str
    forward: Forward
    derivative: Derivative | None


#: Activations a hidden layer may use (and ``identity``/``sigmoid`` as outputs).
HIDDEN_ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", tanh, tanh_derivative),
        Activation("relu", relu, relu_derivative),
        Activation("leaky_relu", leaky_relu, leaky_relu_derivative),
        Activation("sigmoid", sigmoid, sigmoid_derivative),
        Activation("identity", identity, identity_derivative),
        Activation("gelu", gelu, gelu_derivative),
        Activation("silu", silu, silu_derivative),
    )
}

#: Softmax has no element-wise derivative; it is only used paired with cross-entropy,
#: whose combined gradient is ``A - Y`` (see ``losses``).
SOFTMAX = Activation("softmax", softmax, None)


def get_hidden_activation(name: str) -> Activation:
    """Look up a hidden-layer activation by name (``leaky-relu`` also accepted).

    Raises
    ------
    NNBackendError
        For an unknown name, listing the known ones.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in HIDDEN_ACTIVATIONS:
        raise NNBackendError(
            f"unknown activation {name!r}; choose one of {', '.join(HIDDEN_ACTIVATIONS)}"
        )
    return HIDDEN_ACTIVATIONS[key]
