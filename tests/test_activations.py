"""Activations and their derivatives, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnbackend.core.activations import HIDDEN_ACTIVATIONS, get_hidden_activation, softmax
from nnbackend.errors import NNBackendError

from .helpers import assert_on_backend, central_difference, tolerance

# Values away from 0, where relu and leaky relu have their kink.
Z_HOST = np.array([[-3.0, -1.2, -0.3, 0.4, 1.1, 2.7], [0.05, -0.07, 5.0, -6.0, 0.8, -2.2]])

NUMPY_FORMS = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
    # GELU's tanh approximation as published (Hendrycks & Gimpel 2016), with z**3.
    "gelu": lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
    "silu": lambda z: z / (1 + np.exp(-z)),
}


@pytest.mark.parametrize("name", list(HIDDEN_ACTIVATIONS))
def test_activation_values_and_placement(backend, name):
    act = HIDDEN_ACTIVATIONS[name]
    Z = backend.asarray(Z_HOST)
    A = act.forward(Z, xp=backend.xp)
    assert_on_backend(A, backend)
    np.testing.assert_allclose(backend.to_host(A), NUMPY_FORMS[name](Z_HOST),
                               rtol=tolerance(backend), atol=1e-7)


@pytest.mark.parametrize("name", list(HIDDEN_ACTIVATIONS))
def test_derivative_matches_central_differences(backend64, name):
    act = HIDDEN_ACTIVATIONS[name]
    xp = backend64.xp
    Z = backend64.asarray(Z_HOST)
    derivative = act.derivative(Z, act.forward(Z, xp=xp), xp=xp)
    assert_on_backend(derivative, backend64)

    def g(z: np.ndarray) -> np.ndarray:
        return backend64.to_host(act.forward(backend64.asarray(z), xp=xp))

    np.testing.assert_allclose(backend64.to_host(derivative), central_difference(g, Z_HOST),
                               rtol=1e-7, atol=1e-9)


def test_gelu_stays_within_its_approximation_error_of_the_exact_erf_form():
    # The docstring's promise: the tanh form is within 5e-4 of Z * Phi(Z) everywhere.
    z = np.linspace(-12.0, 12.0, 24001)
    exact = 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    error = np.abs(HIDDEN_ACTIVATIONS["gelu"].forward(z, xp=np) - exact)
    assert error.max() < 5e-4


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_smooth_rectifiers_are_finite_and_exact_in_the_tails(backend, name):
    # Huge |Z| (1e30 would overflow Z**3 in float32 without GELU's clip): the activation is
    # Z for large positive inputs, 0 for large negative ones, its derivative 1 and 0, no NaN.
    act = HIDDEN_ACTIVATIONS[name]
    xp = backend.xp
    Z = backend.asarray([[-1e30, -1e4, -60.0, 60.0, 1e4, 1e30]])
    A = act.forward(Z, xp=xp)
    host_A, host_dA = backend.to_host(A), backend.to_host(act.derivative(Z, A, xp=xp))
    np.testing.assert_array_equal(host_A, [[0.0, 0.0, 0.0, 60.0, 1e4, backend.to_host(Z)[0, -1]]])
    np.testing.assert_array_equal(host_dA, [[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturating_activations_are_finite_for_huge_inputs(backend, name):
    act = HIDDEN_ACTIVATIONS[name]
    Z = backend.asarray([[-1e4, -700.0, 0.0, 700.0, 1e4]])
    out = backend.to_host(act.forward(Z, xp=backend.xp))
    assert np.isfinite(out).all()
    assert out[0, 0] == pytest.approx(0.0 if name == "sigmoid" else -1.0)
    assert out[0, -1] == pytest.approx(1.0)


def test_softmax_columns_sum_to_one_and_survive_huge_logits(backend):
    Z = backend.asarray([[1e4, -3.0, 0.5], [-1e4, 2.0, 0.5], [0.0, 1.0, 0.5]])
    A = softmax(Z, xp=backend.xp)
    assert_on_backend(A, backend)
    host = backend.to_host(A)
    assert np.isfinite(host).all()
    np.testing.assert_allclose(host.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(host[:, 0], [1.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(host[:, 2], [1 / 3] * 3, rtol=1e-6)


def test_unknown_activation_names_the_choices():
    with pytest.raises(NNBackendError, match="unknown activation 'mish'.*tanh.*silu"):
        get_hidden_activation("mish")
    assert get_hidden_activation("leaky-relu").name == "leaky_relu"


@pytest.mark.parametrize("name", [*HIDDEN_ACTIVATIONS, "softmax"])
def test_activations_never_write_into_their_inputs(backend, name):
    """``g`` and ``g'`` leave ``Z`` (and ``A``) as they were: the network's cache keeps them."""
    xp = backend.xp
    Z = backend.asarray(Z_HOST)
    if name == "softmax":
        A = softmax(Z, xp=xp)
    else:
        act = HIDDEN_ACTIVATIONS[name]
        A = act.forward(Z, xp=xp)
        A_before = backend.to_host(A)
        assert act.derivative is not None
        act.derivative(Z, A, xp=xp)
        np.testing.assert_array_equal(backend.to_host(A), A_before)
    np.testing.assert_array_equal(backend.to_host(Z), Z_HOST.astype(backend.dtype_name))


@pytest.mark.parametrize("name", [*HIDDEN_ACTIVATIONS, "softmax"])
def test_activations_work_under_pytorch_autograd(name):
    """No in-place write into a result autograd keeps for its backward pass, so the same
    functions serve a user who differentiates them with PyTorch."""
    torch = pytest.importorskip("torch")
    from array_api_compat import array_namespace

    forward = softmax if name == "softmax" else HIDDEN_ACTIVATIONS[name].forward
    Z = torch.tensor(Z_HOST, requires_grad=True)
    forward(Z, xp=array_namespace(Z)).sum().backward()
    assert Z.grad is not None and bool(torch.isfinite(Z.grad).all())
