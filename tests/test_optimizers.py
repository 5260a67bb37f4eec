"""Optimizers and learning-rate decay against the course's plain-NumPy formulas."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.optimizers import OPTIMIZERS, Update, decayed_learning_rate, make_optimizer
from nnbackend.errors import NNBackendError

from .helpers import assert_on_backend, skip_unless_mutable, tolerance


def course_updates(name: str, params: dict, grads_seq: list, lr: float,
                   beta1=0.9, beta2=0.999, eps=1e-8) -> dict:
    """The course's update_parameters_with_{momentum,adam} and RMSprop, in NumPy."""
    p = {k: v.copy() for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    s = {k: np.zeros_like(x) for k, x in p.items()}
    for t, grads in enumerate(grads_seq, start=1):
        for k in p:
            g = grads["d" + k]
            if name == "gd":
                p[k] = p[k] - lr * g
            elif name == "momentum":
                v[k] = beta1 * v[k] + (1 - beta1) * g
                p[k] = p[k] - lr * v[k]
            elif name == "rmsprop":
                s[k] = beta2 * s[k] + (1 - beta2) * np.square(g)
                p[k] = p[k] - lr * g / (np.sqrt(s[k]) + eps)
            else:
                v[k] = beta1 * v[k] + (1 - beta1) * g
                s[k] = beta2 * s[k] + (1 - beta2) * np.square(g)
                v_hat = v[k] / (1 - beta1 ** t)
                s_hat = s[k] / (1 - beta2 ** t)
                p[k] = p[k] - lr * v_hat / (np.sqrt(s_hat) + eps)
    return p


@pytest.mark.parametrize("donate", [False, True], ids=["functional", "donated"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_three_steps_match_the_course(backend, name, donate):
    rng = np.random.RandomState(4)
    params = {"W1": rng.randn(3, 2), "b1": rng.randn(3, 1), "W2": rng.randn(1, 3),
              "b2": rng.randn(1, 1)}
    grads_seq = [{"d" + k: rng.randn(*v.shape) for k, v in params.items()} for _ in range(3)]
    expected = course_updates(name, params, grads_seq, lr=0.05)

    opt, xp = make_optimizer(name), backend.xp
    ours = {k: backend.asarray(v) for k, v in params.items()}
    state = opt.init(ours, xp=xp)
    for grads in grads_seq:
        ours, state = opt.step(ours, {k: backend.asarray(g) for k, g in grads.items()},
                               state, 0.05, update=Update(donate, donate), xp=xp)
    assert state["t"] == 3
    for k, v in ours.items():
        assert_on_backend(v, backend)
        np.testing.assert_allclose(backend.to_host(v), expected[k],
                                   rtol=50 * tolerance(backend), atol=1e-6)
    for key, value in state.items():
        if key != "t":
            assert_on_backend(value, backend)


@pytest.mark.parametrize("lr", [1.0, 0.05])  # 1.0: gd's folded-lr path
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_step_writes_only_into_what_was_donated(backend, name, lr):
    skip_unless_mutable(backend)
    rng = np.random.RandomState(5)
    host = {"W1": rng.randn(3, 2), "b1": rng.randn(3, 1)}
    host_grads = {"d" + k: rng.randn(*v.shape) for k, v in host.items()}
    opt, xp = make_optimizer(name), backend.xp

    def fresh():
        params = {k: backend.asarray(v) for k, v in host.items()}
        grads = {k: backend.asarray(v) for k, v in host_grads.items()}
        state = opt.step(params, grads, opt.init(params, xp=xp), lr, xp=xp)[1]  # non-zero averages
        return params, grads, state

    params, grads, state = fresh()
    before = {k: backend.to_host(v) for k, v in {**params, **grads, **state}.items()
              if k != "t"}
    functional = opt.step(params, grads, state, lr, xp=xp)
    for k, v in {**params, **grads, **state}.items():  # inputs untouched
        if k != "t":
            np.testing.assert_array_equal(backend.to_host(v), before[k])

    params, grads, state = fresh()
    donated = opt.step(params, grads, state, lr, update=Update(True, True), xp=xp)
    for k in params:  # the results are the donated arrays (gd: new), with the same values
        assert (donated[0][k] is params[k]) == (name != "gd")
        np.testing.assert_array_equal(backend.to_host(donated[0][k]),
                                      backend.to_host(functional[0][k]))
        np.testing.assert_array_equal(backend.to_host(grads["d" + k]), before["d" + k])
    for k, v in donated[1].items():
        if k != "t":
            assert v is state[k]
            np.testing.assert_array_equal(backend.to_host(v), backend.to_host(functional[1][k]))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_update_in_row_blocks_equals_the_whole_array_update(backend, name):
    """``block_bytes`` (NumPy's cache blocking) changes the order of work, not one bit."""
    skip_unless_mutable(backend)
    rng = np.random.RandomState(6)
    host = {"W1": rng.randn(7, 5), "b1": rng.randn(7, 1), "W2": rng.randn(2, 7)}
    host_grads = [{"d" + k: rng.randn(*v.shape) for k, v in host.items()} for _ in range(3)]
    opt, xp = make_optimizer(name), backend.xp
    results = []
    for block_bytes in (None, 2 * 5 * 8):  # whole arrays; blocks of 2 (or 1) rows of W1
        # Copies: asarray may share the host memory, and donated arrays are written to.
        params = {k: backend.asarray(v.copy()) for k, v in host.items()}
        state = opt.init(params, xp=xp)
        for grads in host_grads:
            params, state = opt.step(params, {k: backend.asarray(g) for k, g in grads.items()},
                                     state, 0.05, xp=xp,
                                     update=Update(True, True, block_bytes))
        results.append({k: backend.to_host(v) for k, v in {**params, **state}.items()
                        if k != "t"})
    whole, blocked = results
    for k in whole:
        np.testing.assert_array_equal(blocked[k], whole[k], err_msg=k)


def test_optimizer_state_names():
    import array_api_compat.numpy as xp

    params = {"W1": xp.ones((2, 2)), "b1": xp.zeros((2, 1))}
    assert sorted(make_optimizer("adam").init(params, xp=xp)) == ["sdW1", "sdb1", "t", "vdW1",
                                                               "vdb1"]
    assert sorted(make_optimizer("gd").init(params, xp=xp)) == ["t"]


def test_bad_optimizer_settings():
    with pytest.raises(NNBackendError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd")
    with pytest.raises(NNBackendError, match="beta2 must be in \\[0, 1\\)"):
        make_optimizer("adam", beta2=1.0)


def test_learning_rate_decay():
    assert decayed_learning_rate(0.5, 0.0, 10) == 0.5
    # inverse-time: lr0 / (1 + rate * epoch)
    assert decayed_learning_rate(0.5, 1.0, 3) == pytest.approx(0.125)
    # step decay every 10 epochs: epochs 0..9 -> lr0, 10..19 -> lr0 / 2
    assert decayed_learning_rate(0.5, 1.0, 9, every=10) == 0.5
    assert decayed_learning_rate(0.5, 1.0, 10, every=10) == 0.25


def test_an_unknown_rule_is_an_error_never_adam():
    from nnbackend.core.optimizers import Optimizer

    with pytest.raises(NNBackendError, match="unknown optimizer 'nesterov'; choose one of gd, "
                                             "momentum, rmsprop, adam"):
        Optimizer("nesterov")


def test_every_rule_comes_from_the_registry():
    from nnbackend.core.optimizers import UPDATE_RULES, Optimizer

    assert OPTIMIZERS == tuple(UPDATE_RULES)
    for name, rule in UPDATE_RULES.items():
        optimizer = Optimizer(name)
        assert optimizer.moments == rule.moments
        assert optimizer.is_linear == (rule.update is None)
