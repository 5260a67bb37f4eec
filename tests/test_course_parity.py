"""What the course's own exercises do, expressed with nnbackend.

The course's ``L_model_backward`` returns ``dA[l]`` for every layer and starts the output
layer from ``dA[L]`` through the activation's own backward; its gradient-checking exercise
checks any ``J(theta)`` (a 1-D one, and a deliberately buggy backward pass).
"""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.activations import HIDDEN_ACTIVATIONS
from nnbackend.core.backend import host_rng
from nnbackend.core.gradcheck import check_gradient
from nnbackend.core.losses import OUTPUT_LAYERS
from nnbackend.core.network import Cache, Network, backward_propagation, forward_propagation
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


# The course's backward_propagation_with_dropout_test_case (Improving Deep Neural Networks,
# week 1, "Regularization"): its cache (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3,
# b3) as published, A[l] after dropout, keep_prob 0.8, and its published expected output.
DROPOUT_CASE = {
    "Z1": [[-1.52855314, 3.32524635, 2.13994541, 2.60700654, -0.75942115],
           [-1.98043538, 4.1600994, 0.79051021, 1.46493512, -0.45506242]],
    "D1": [[1, 0, 1, 1, 1], [1, 1, 1, 1, 0]],
    "A1": [[0.0, 0.0, 4.27989081, 5.21401307, 0.0], [0.0, 8.32019881, 1.58102041, 2.92987024, 0.0]],
    "W1": [[-1.09989127, -0.17242821, -0.87785842], [0.04221375, 0.58281521, -1.10061918]],
    "b1": [[1.14472371], [0.90159072]],
    "Z2": [[0.53035547, 8.02565606, 4.10524802, 5.78975856, 0.53035547],
           [-0.69166075, -1.71413186, -3.81223329, -4.61667916, -0.69166075],
           [-0.39675353, -2.62563561, -4.82528105, -6.0607449, -0.39675353]],
    "D2": [[1, 0, 1, 0, 1], [0, 1, 0, 1, 1], [0, 0, 1, 0, 0]],
    "A2": [[1.06071093, 0.0, 8.21049603, 0.0, 1.06071093], [0.0] * 5, [0.0] * 5],
    "W2": [[0.50249434, 0.90085595], [-0.68372786, -0.12289023], [-0.93576943, -0.26788808]],
    "b2": [[0.53035547], [-0.69166075], [-0.39675353]],
    "Z3": [[-0.7415562, -0.0126646, -5.65469333, -0.0126646, -0.7415562]],
    "A3": [[0.32266394, 0.49683389, 0.00348883, 0.49683389, 0.32266394]],
    "W3": [[-0.6871727, -0.84520564, -0.67124613]],
    "b3": [[-0.0126646]],
}
DROPOUT_EXPECTED = {
    "dW3": [[-0.06951191, 0.0, 0.0]],
    "db3": [[-0.2715031]],
    "dA2": [[0.58180856, 0.0, -0.00299679, 0.0, -0.27715731],
            [0.0, 0.53159854, -0.0, 0.53159854, -0.34089673],
            [0.0, 0.0, -0.00292733, 0.0, -0.0]],
    "dW2": [[-0.00256518, -0.0009476], [0.0, 0.0], [0.0, 0.0]],
    "db2": [[0.06033089], [0.0], [0.0]],
    "dA1": [[0.36544439, 0.0, -0.00188233, 0.0, -0.17408748],
            [0.65515713, 0.0, -0.00337459, 0.0, -0.0]],
    "dW1": [[0.00019884, 0.00028657, 0.00012138], [0.00035647, 0.00051375, 0.00021761]],
    "db1": [[-0.00037647], [-0.00067492]],
}


def test_dropout_dA_is_the_courses_after_its_mask(backend):
    """``keep_dA`` under dropout returns the course's ``dA[l] * D[l] / keep_prob``: every
    gradient of its published test case, from its own cache."""
    case = {k: np.asarray(v, dtype=float) for k, v in DROPOUT_CASE.items()}
    X = np.random.RandomState(1).randn(3, 5)
    Y = np.array([[1.0, 1.0, 0.0, 1.0, 0.0]])
    keep_prob, put = 0.8, backend.asarray
    params = {k: put(case[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")}
    # nnbackend's cache: A[l] = g(Z[l]) before dropout, A_in[l] what the next layer
    # consumed (the course's A[l], after dropout), masks D[l] / keep_prob.
    relu = lambda Z: np.maximum(Z, 0.0)  # noqa: E731
    cache = Cache([None, put(case["Z1"]), put(case["Z2"]), put(case["Z3"])],
                  [put(X), put(relu(case["Z1"])), put(relu(case["Z2"])), put(case["A3"])],
                  [put(X), put(case["A1"]), put(case["A2"])],
                  [None, put(case["D1"] / keep_prob), put(case["D2"] / keep_prob), None])
    grads = backward_propagation(params, cache, put(Y), HIDDEN_ACTIVATIONS["relu"],
                                 keep_dA=True, xp=backend.xp)
    # Published to 8 decimals (float32: its own rounding).
    atol = 1e-8 if backend.dtype_name == "float64" else 1e-6
    for key, value in DROPOUT_EXPECTED.items():
        np.testing.assert_allclose(backend.to_host(grads[key]), value, rtol=1e-6,
                                   atol=atol, err_msg=key)
