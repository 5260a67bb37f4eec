"""What the course's own exercises do, expressed with nnbackend.

The course's ``L_model_backward`` returns ``dA[l]`` for every layer and starts the output
layer from ``dA[L]`` through the activation's own backward; its gradient-checking exercise
checks any ``J(theta)`` (a 1-D one, and a deliberately buggy backward pass).
"""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.backend import host_rng
from nnbackend.core.gradcheck import check_gradient
from nnbackend.core.losses import OUTPUT_LAYERS
from nnbackend.core.network import Network, backward_propagation, forward_propagation
from nnbackend.errors import NNBackendError

from .helpers import tolerance


def notes_backward(params, X, Y):
    """The course's 2-layer backward pass, in plain NumPy (examples as columns)."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    m = X.shape[1]
    A1 = np.tanh(W1 @ X + b1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * (1 - A1**2)
    dA0 = W1.T @ dZ1
    return {"dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m,
            "dA1": dA1, "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m,
            "dA0": dA0}, A2


def setup(backend):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(3, 7), (rng.rand(1, 7) > 0.5).astype(float)
    net = Network.create((3, 4, 1), backend, "tanh", "binary", "xavier", rng=host_rng(2))
    host = {k: backend.to_host(v) for k, v in net.params.items()}
    return net, X, Y, host


def test_every_layers_dA_as_the_course_returns_it(backend):
    net, X, Y, host = setup(backend)
    xp = backend.xp
    cache = forward_propagation(net.params, backend.asarray(X), net.hidden, net.output, xp=xp)
    grads = backward_propagation(net.params, cache, backend.asarray(Y), net.hidden,
                                 keep_dA=True, xp=xp)
    expected, _ = notes_backward(host, X, Y)
    assert set(grads) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(backend.to_host(grads[key]), value,
                                   rtol=tolerance(backend), atol=tolerance(backend), err_msg=key)


def test_the_output_layer_from_any_dA(backend):
    """``dA[L]`` of cross-entropy through sigmoid's backward gives the fused ``A - Y``."""
    net, X, Y, host = setup(backend)
    xp = backend.xp
    cache = forward_propagation(net.params, backend.asarray(X), net.hidden, net.output, xp=xp)
    A2 = backend.to_host(cache.A[-1])
    dA2 = backend.asarray(-(Y / A2 - (1 - Y) / (1 - A2)))
    from_dA = backward_propagation(net.params, cache, None, net.hidden, dA_L=dA2,
                                   output=net.output, keep_dA=True, xp=xp)
    fused = backward_propagation(net.params, cache, backend.asarray(Y), net.hidden, xp=xp)
    for key, value in fused.items():
        np.testing.assert_allclose(backend.to_host(from_dA[key]), backend.to_host(value),
                                   rtol=100 * tolerance(backend), atol=tolerance(backend))
    assert "dA2" in from_dA and "dA0" in from_dA


def test_softmax_has_no_separate_backward(reference):
    net = Network.create((2, 3, 3), reference, task="multiclass")
    xp = reference.xp
    cache = forward_propagation(net.params, reference.asarray(np.ones((2, 4))), net.hidden,
                                net.output, xp=xp)
    with pytest.raises(NNBackendError, match="softmax has none"):
        backward_propagation(net.params, cache, None, net.hidden,
                             dA_L=reference.asarray(np.ones((3, 4))),
                             output=OUTPUT_LAYERS["multiclass"], xp=xp)


def test_the_courses_one_dimensional_check():
    x = 2.0
    result = check_gradient(lambda theta: float(theta * x), x, 4.0)
    assert result.passed and result.difference < 1e-9


def test_a_buggy_gradient_is_caught_and_named():
    """The course's exercise: a backward pass with a planted bug fails the check."""
    target = np.array([1.0, -2.0, 0.5])

    def cost(theta):
        return float(np.sum((theta - target) ** 2))

    theta = np.array([0.3, 0.1, -0.4])
    assert check_gradient(cost, 2 * (theta - target), theta).passed
    buggy = 2 * (theta - target)
    buggy[1] *= 2  # the planted bug
    result = check_gradient(cost, buggy, theta)
    assert not result.passed and result.worst == "theta[1]"
    np.testing.assert_array_equal(theta, [0.3, 0.1, -0.4])  # not modified
    with pytest.raises(NNBackendError, match="gradient has shape"):
        check_gradient(cost, np.zeros(2), theta)
