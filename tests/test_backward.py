"""The full backward pass against central differences (relative difference < 1e-7)."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.gradcheck import gradient_check
from nnbackend.core.network import Network, _back_through
from nnbackend.data.encoding import encode_targets

from .helpers import assert_on_backend

HIDDEN = {1: (5,), 2: (5, 4), 3: (6, 4, 3)}


def small_problem(task: str, n_features: int = 3, m: int = 11):
    rng = np.random.RandomState(7)
    X = rng.randn(m, n_features)
    if task == "binary":
        y = np.arange(m) % 2
    elif task == "multiclass":
        y = np.arange(m) % 3
    else:
        y = rng.randn(m, 2)
    return X, encode_targets(y, task)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("hidden_layers", [1, 2, 3])
@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_backward_matches_central_differences(backend64, task, hidden_layers, activation, l2):
    X_host, targets = small_problem(task)
    sizes = (X_host.shape[1], *HIDDEN[hidden_layers], targets.n_outputs)
    net = Network.create(sizes, backend64, activation, task, init="xavier", seed=1)
    X, Y = backend64.asarray(X_host), backend64.asarray(targets.Y)
    result = gradient_check(net, X, Y, l2=l2)
    assert result.difference < 1e-7, (result.difference, result.worst)
    assert result.passed


def test_float32_backward_agrees_loosely(backend):
    X_host, targets = small_problem("binary")
    net = Network.create((3, 5, 4, 1), backend, "tanh", "binary", init="xavier", seed=1)
    result = gradient_check(net, backend.asarray(X_host), backend.asarray(targets.Y))
    limit = 1e-7 if backend.dtype_name == "float64" else 1e-3
    assert result.difference < limit


def test_gradient_check_names_a_broken_parameter(reference):
    """Corrupting one gradient must fail the check and point at that parameter."""
    X_host, targets = small_problem("binary")
    net = Network.create((3, 5, 1), reference, "tanh", "binary", init="xavier", seed=1)
    broken_hidden = net.hidden.__class__(
        "tanh", net.hidden.forward, lambda Z, A, *, xp: 1.0 - 0.5 * A * A)  # wrong derivative
    net.hidden = broken_hidden
    result = gradient_check(net, reference.asarray(X_host), reference.asarray(targets.Y))
    assert not result.passed
    assert result.worst in ("W1", "b1")


def test_gradients_stay_on_the_backend(backend):
    X_host, targets = small_problem("multiclass")
    net = Network.create((3, 4, 3), backend, "relu", "multiclass", init="he", seed=2)
    X, Y = backend.asarray(X_host), backend.asarray(targets.Y)
    grads = net.backward(net.forward(X.T), Y)
    assert sorted(grads) == ["dW1", "dW2", "db1", "db2"]
    for name, g in grads.items():
        assert_on_backend(g, backend)
        assert g.shape == net.params[name[1:]].shape


@pytest.mark.parametrize("stacked", [False, True], ids=["one model", "stack"])
def test_a_one_unit_layer_passes_back_exactly_the_matmul(backend, stacked):
    """Behind a one-unit layer (binary output) ``W.T @ dZ`` is an outer product: the
    broadcast product the backward pass takes instead gives the matmul's numbers exactly,
    for one model and for a stack; wider layers keep the matmul."""
    xp = backend.xp
    rng = np.random.RandomState(0)
    lead = (3,) if stacked else ()
    for units in (1, 2):
        W = backend.asarray(rng.randn(*lead, units, 7))
        dZ = backend.asarray(rng.randn(*lead, units, 11))
        W_T = xp.matrix_transpose(W)
        passed_back = _back_through(W, dZ, xp.matrix_transpose if stacked else None)
        assert passed_back.shape == (*lead, 7, 11)
        assert_on_backend(passed_back, backend)
        assert np.array_equal(backend.to_host(passed_back), backend.to_host(W_T @ dZ))
