"""Steps compiled whole (:mod:`nnbackend.training.compiled`): JAX's ``jax.jit``.

A compiled run must end where the eager run of the same loop ends, within float rounding
(XLA fuses and reorders operations), record the same figures, and compile one program per
batch shape. Backends without a compiler run the same runner through an identity
"compiler" (the function itself), which must then equal the eager run exactly: that checks
the runner's own work (the gather, the factors, the step count) on every backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import nnbackend as nb
from nnbackend.core.activations import get_hidden_activation
from nnbackend.core.backend import Backend
from nnbackend.core.network import Network
from nnbackend.training.compiled import CompiledSteps
from nnbackend.training.stack import ModelStack
from nnbackend.training.stacked import StackedModels
from nnbackend.training.trainer import Trainer, TrainingOptions

from .test_stack import flower


def compiling(backend: Backend) -> Backend:
    """The backend itself where it compiles; elsewhere one whose "compiler" returns the
    function unchanged (so the runner runs eagerly)."""
    if backend.compiles:
        return backend
    return dataclasses.replace(backend, _compile=lambda fn, static, donate: fn)


def tolerance(backend: Backend) -> float:
    """How close compiled and eager parameters are: exact without a compiler; for JAX the
    largest difference measured on these runs (300 flower steps) was 4e-15 in float64 and
    2e-5 in float32 (Adam, full batch), given room here."""
    if backend.name != "jax":
        return 0.0
    return 1e-12 if backend.dtype_name == "float64" else 1e-4


SETUPS = {
    "full-batch": dict(iterations=300, print_every=100),
    "mini-batch": dict(epochs=4, batch_size=96, keep_prob=0.8, l2=0.05, lr_decay=0.5,
                       patience=2),
}


def run(backend: Backend, compiled: bool, optimizer: str, setup: str,
        data_on: str = "device", **changes: Any) -> tuple[dict[str, np.ndarray], Any, Trainer]:
    X, Y = flower(backend)
    if data_on == "host":
        X, Y = backend.to_host(X), backend.to_host(Y)
    rng = nb.host_rng(2)
    net = Network.create((2, 6, 1), backend, "tanh", "binary", "small", rng=rng)
    settings = {k: v for k, v in {**SETUPS[setup], **changes}.items()
                if data_on == "device" or k != "patience"}
    options = TrainingOptions(learning_rate=0.02 if optimizer == "adam" else 0.5,
                              optimizer=optimizer, **settings)
    validation = (X, Y) if "patience" in settings else None
    trainer = Trainer(net, X, Y, options, rng=rng, validation=validation, data_on=data_on)
    trainer.compiled = compiled
    result = trainer.run()
    return {k: backend.to_host(v) for k, v in net.params.items()}, result, trainer


def assert_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], tol: float) -> None:
    for name in b:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_compiled_steps_equal_eager_steps(backend: Backend, optimizer: str, setup: str
                                          ) -> None:
    backend = compiling(backend)
    eager, eager_result, _ = run(backend, False, optimizer, setup)
    got, result, trainer = run(backend, True, optimizer, setup)
    assert trainer.compiled
    tol = tolerance(backend)
    assert_close(got, eager, tol)
    assert result.steps == eager_result.steps and result.stopped_by == eager_result.stopped_by
    for mine, theirs in zip(result.history, eager_result.history, strict=True):
        for key in ("cost", "accuracy", "val_cost"):
            if key in theirs:
                assert mine[key] == pytest.approx(theirs[key], rel=10 * tol, abs=10 * tol)


def test_streamed_batches_compile_too(backend: Backend) -> None:
    """Data kept on the host: each step is given its batch instead of gathering rows."""
    backend = compiling(backend)
    eager, _, _ = run(backend, False, "adam", "mini-batch", data_on="host")
    got, _, _ = run(backend, True, "adam", "mini-batch", data_on="host")
    assert_close(got, eager, tolerance(backend))


def test_a_stack_compiles_as_one_program(backend: Backend) -> None:
    """The stacked step (per-model gathers, rates and masks) is compiled the same way."""
    backend = compiling(backend)
    X, Y = flower(backend)
    results = []
    for compiled in (False, True):
        stack = ModelStack([(2, 3, 1), (2, 7, 1)], backend, get_hidden_activation("tanh"),
                           [4, 5])
        options = [TrainingOptions(learning_rate=lr, epochs=3, batch_size=128,
                                   keep_prob=keep) for lr, keep in ((0.5, 0.9), (1.0, 1.0))]
        models = StackedModels(stack, options, "binary")
        trainer = Trainer(models.network, X, Y, options[0], stack=models)
        trainer.compiled = compiled
        trainer.run()
        results.append({k: backend.to_host(v) for k, v in models.network.params.items()})
    assert_close(results[1], results[0], tolerance(backend))


def test_one_program_per_batch_shape(backend: Backend) -> None:
    """400 examples in batches of 96: a full batch and a last one of 16, each compiled
    once for the whole run (every epoch records, so every step returns its statistics)."""
    if not backend.compiles:
        pytest.skip(f"{backend.name} has no compiler")
    runners: set[CompiledSteps] = set()
    shapes: set[tuple[int, ...]] = set()
    original = CompiledSteps.step

    def step(self: CompiledSteps, rows: Any, *args: Any, **kwargs: Any) -> Any:
        runners.add(self)
        shapes.add(tuple(rows.shape))
        return original(self, rows, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CompiledSteps, "step", step)
        # An L2 strength of its own (per dtype): runs with equal settings share a program,
        # and this one's compilations are counted from none.
        l2 = 0.0123 if backend.dtype_name == "float64" else 0.0124
        _, result, _ = run(backend, True, "gd", "mini-batch", l2=l2)
    assert result.steps == 4 * 5 and shapes == {(96,), (16,)}
    (runner,) = runners
    # jax.jit's own count of the programs it compiled for this function.
    assert runner._run._cache_size() == 2  # type: ignore[attr-defined]


def test_the_callers_arrays_are_never_donated(backend: Backend) -> None:
    """The runner copies the parameters it starts from: the caller's stay readable."""
    backend = compiling(backend)
    X, Y = flower(backend)
    rng = nb.host_rng(2)
    net = Network.create((2, 4, 1), backend, "tanh", "binary", "small", rng=rng)
    start = net.params
    before = {k: backend.to_host(v) for k, v in start.items()}
    Trainer(net, X, Y, TrainingOptions(iterations=5, optimizer="adam"), rng=rng).run()
    for name, value in start.items():
        np.testing.assert_array_equal(backend.to_host(value), before[name])
    assert not np.array_equal(backend.to_host(net.params["W1"]), before["W1"])
