"""Losses: values, stability from logits, and dZ[L] = A - Y against central differences."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.losses import OUTPUT_LAYERS

from .helpers import assert_on_backend, tolerance

RNG = np.random.RandomState(0)
Z_BY_TASK = {
    "binary": RNG.randn(1, 7) * 2,
    "multiclass": RNG.randn(3, 7) * 2,
    "regression": RNG.randn(2, 7) * 2,
}
Y_BY_TASK = {
    "binary": (RNG.rand(1, 7) > 0.5).astype(float),
    "multiclass": np.eye(3)[:, RNG.randint(0, 3, 7)],
    "regression": RNG.randn(2, 7),
}


def naive_cost(task: str, Z: np.ndarray, Y: np.ndarray) -> float:
    """The textbook formulas, through A (fine for moderate Z)."""
    m = Z.shape[1]
    if task == "binary":
        A = 1 / (1 + np.exp(-Z))
        return float(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m)
    if task == "multiclass":
        A = np.exp(Z) / np.exp(Z).sum(axis=0)
        return float(-np.sum(Y * np.log(A)) / m)
    return float(np.sum((Z - Y) ** 2) / (2 * m))


@pytest.mark.parametrize("task", list(OUTPUT_LAYERS))
def test_cost_value_is_a_0d_device_array(backend, task):
    out = OUTPUT_LAYERS[task]
    Z, Y = backend.asarray(Z_BY_TASK[task]), backend.asarray(Y_BY_TASK[task])
    cost = out.cost(Z, Y, xp=backend.xp)
    assert cost.shape == ()
    assert_on_backend(cost, backend)
    assert backend.to_float(cost) == pytest.approx(
        naive_cost(task, Z_BY_TASK[task], Y_BY_TASK[task]), rel=tolerance(backend))


@pytest.mark.parametrize("task", list(OUTPUT_LAYERS))
def test_output_gradient_is_m_times_dJ_dZ(backend64, task):
    """``dZ[L] = A - Y`` equals ``m * dJ/dZ`` (the 1/m is applied in dW and db)."""
    out, xp = OUTPUT_LAYERS[task], backend64.xp
    Z_host, Y_host = Z_BY_TASK[task], Y_BY_TASK[task]
    Z, Y = backend64.asarray(Z_host), backend64.asarray(Y_host)
    dZ = out.output_gradient(out.activation.forward(Z, xp=xp), Y)
    assert_on_backend(dZ, backend64)

    m, eps = Z_host.shape[1], 1e-6
    numeric = np.zeros_like(Z_host)
    for idx in np.ndindex(Z_host.shape):
        plus, minus = Z_host.copy(), Z_host.copy()
        plus[idx] += eps
        minus[idx] -= eps
        J_plus = backend64.to_float(out.cost(backend64.asarray(plus), Y, xp=xp))
        J_minus = backend64.to_float(out.cost(backend64.asarray(minus), Y, xp=xp))
        numeric[idx] = (J_plus - J_minus) / (2 * eps)
    np.testing.assert_allclose(backend64.to_host(dZ), m * numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_cross_entropy_is_finite_for_logits_of_1e4(backend, task):
    out = OUTPUT_LAYERS[task]
    if task == "binary":
        Z_host = np.array([[1e4, -1e4, 1e4, -1e4]])
        Y_host = np.array([[1.0, 0.0, 0.0, 1.0]])  # two right, two confidently wrong
        expected = (1e4 + 1e4) / 4
    else:
        Z_host = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]])
        Y_host = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])  # right, then wrong by 2e4
        expected = 2e4 / 2
    Z, Y = backend.asarray(Z_host), backend.asarray(Y_host)
    cost = backend.to_float(out.cost(Z, Y, xp=backend.xp))
    assert np.isfinite(cost)
    assert cost == pytest.approx(expected, rel=1e-6)
    dZ = backend.to_host(out.output_gradient(out.activation.forward(Z, xp=backend.xp), Y))
    assert np.isfinite(dZ).all()
