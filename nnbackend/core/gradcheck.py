"""Gradient checking: the analytic backward pass against central differences in float64.

The notes' follow-up teaches it: perturb each parameter by ``+-eps``, take
``(J(theta + eps) - J(theta - eps)) / (2 eps)`` as the approximate gradient, and compare
with backpropagation through the relative difference
``||g - g_approx|| / (||g|| + ||g_approx||)``; below ``1e-7`` the backward pass is right.

The analytic gradients come from the network's own backend (so the check covers the code
that really runs on CuPy, PyTorch or array-api-strict); the central differences are taken
in float64 with the NumPy backend, whatever the network's dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import NNBackendError
from .backend import resolve_backend
from .network import Network, backward_propagation, compute_cost, forward_propagation

Array = Any


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of :func:`gradient_check`.

    Attributes
    ----------
    difference : float
        Relative difference over all parameters together.
    per_parameter : dict
        The same measure for each parameter (``W1``, ``b1``, ...).
    threshold : float
        The verdict's threshold.
    """

    difference: float
    per_parameter: dict[str, float]
    threshold: float

    @property
    def passed(self) -> bool:
        """True when the backward pass agrees with central differences."""
        return self.difference < self.threshold

    @property
    def worst(self) -> str:
        """The parameter whose gradient disagrees most."""
        return max(self.per_parameter, key=self.per_parameter.__getitem__)


def gradient_check(
    network: Network, X: Array, Y: Array, epsilon: float = 1e-7, threshold: float = 1e-7,
    l2: float | Array = 0.0, masks: list[Array | None] | None = None,
) -> GradCheckResult:
    """Compare ``network``'s backward pass with central differences of its cost.

    Parameters
    ----------
    network : Network
        Any backend and dtype; its parameters are not changed.
    X : array, shape (m, n[0])
        Examples as rows, on the network's device.
    Y : array, shape (n[L], m)
        Encoded targets, on the network's device.
    epsilon : float
        The perturbation (the notes' 1e-7).
    threshold : float
        Differences below it pass.
    l2 : float or array
        L2 strength ``lambda``, included in both the cost and the backward pass (a stack's
        may be a ``(k, 1, 1)`` array of per-model strengths).
    masks : list, optional
        Fixed masks for the hidden layers, as a training step takes them: dropout masks,
        or a padded stack's unit masks (:class:`nnbackend.training.stack.ModelStack`).

    A stack of models (parameters with a leading model axis; ``X`` shared or per model,
    ``(k, m, n[0])``) is checked as one function: the sum of the models' costs, whose
    gradient with respect to each model's parameters is that model's own.
    """
    backend, hidden, output = network.backend, network.hidden, network.output
    xp_net = backend.xp
    stacked = X.ndim > 2
    cache = forward_propagation(network.params, xp_net.matrix_transpose(X) if stacked else X.T,
                                hidden, output, masks, xp=xp_net)
    grads = backward_propagation(network.params, cache, Y, hidden, l2, xp=xp_net)
    analytic = {name: backend.to_host(grads[f"d{name}"]).astype("float64")
                for name in network.params}

    reference = resolve_backend("cpu", "numpy", "float64")
    xp = reference.xp
    theta = {name: backend.to_host(value).astype("float64")
             for name, value in network.params.items()}
    X64 = reference.asarray(backend.to_host(X))
    XT = xp.matrix_transpose(X64) if stacked else X64.T
    Y64 = reference.asarray(backend.to_host(Y))
    masks64 = None if masks is None else [
        None if mask is None else reference.asarray(backend.to_host(mask)) for mask in masks]
    l2_64 = l2 if isinstance(l2, (int, float)) else reference.asarray(backend.to_host(l2))

    def cost() -> float:
        cache = forward_propagation(theta, XT, hidden, output, masks64, xp=xp)
        # One model: its cost; a stack: the sum of its models' costs.
        return float(xp.sum(compute_cost(theta, cache, Y64, output, l2_64, xp=xp)))

    numeric = {}
    for name, value in theta.items():
        approx = xp.zeros_like(value)
        flat, approx_flat = value.reshape(-1), approx.reshape(-1)  # views: writes reach theta
        for k in range(flat.shape[0]):
            saved = float(flat[k])
            flat[k] = saved + epsilon
            plus = cost()
            flat[k] = saved - epsilon
            minus = cost()
            flat[k] = saved
            approx_flat[k] = (plus - minus) / (2 * epsilon)
        numeric[name] = approx

    per_parameter = {name: _relative([(analytic[name], numeric[name])], xp=xp) for name in theta}
    total = _relative([(analytic[name], numeric[name]) for name in theta], xp=xp)
    return GradCheckResult(total, per_parameter, threshold)


def _relative(pairs: list[tuple[Array, Array]], *, xp: Any) -> float:
    """``||g - g_approx|| / (||g|| + ||g_approx||)`` over all pairs together."""
    diff = sum(float(xp.sum((g - a) ** 2)) for g, a in pairs) ** 0.5
    norms = (sum(float(xp.sum(g * g)) for g, _ in pairs) ** 0.5
             + sum(float(xp.sum(a * a)) for _, a in pairs) ** 0.5)
    return diff / norms if norms > 0 else 0.0


def check_gradient(cost: Callable[[Array], float], gradient: Any, theta: Any,
                   epsilon: float = 1e-7, threshold: float = 1e-7) -> GradCheckResult:
    """The notes' gradient check for any cost ``J(theta)`` and a gradient you computed.

    The course's own examples: the 1-D ``J(theta) = theta * x`` with ``dtheta = x``, and
    a network's parameters rolled into one vector with a deliberately buggy backward pass
    (which this reports as failed).

    Parameters
    ----------
    cost : callable
        ``J(theta) -> float``, called with a float64 host array shaped like ``theta``.
    gradient : array_like
        The gradient to check, shaped like ``theta``.
    theta : array_like
        Where to check (a scalar, a vector or any shape); not modified.
    epsilon, threshold : float
        As for :func:`gradient_check`.

    Returns
    -------
    GradCheckResult
        ``per_parameter`` holds ``theta[i]`` (flat index) for each element.
    """
    reference = resolve_backend("cpu", "numpy", "float64")
    xp = reference.xp
    point = xp.asarray(reference.asarray(theta), copy=True)
    analytic = reference.asarray(gradient)
    if analytic.shape != point.shape:
        raise NNBackendError(f"the gradient has shape {tuple(analytic.shape)} but theta has "
                             f"{tuple(point.shape)}; pass one derivative per element of theta")
    flat = xp.reshape(point, (-1,))  # a view: writes reach point
    approx = xp.zeros_like(flat)
    for k in range(flat.shape[0]):
        saved = float(flat[k])
        flat[k] = saved + epsilon
        plus = float(cost(point))
        flat[k] = saved - epsilon
        minus = float(cost(point))
        flat[k] = saved
        approx[k] = (plus - minus) / (2 * epsilon)
    exact = xp.reshape(analytic, (-1,))
    per_element = {f"theta[{k}]": _relative([(exact[k:k + 1], approx[k:k + 1])], xp=xp)
                   for k in range(flat.shape[0])}
    return GradCheckResult(_relative([(exact, approx)], xp=xp), per_element, threshold)
