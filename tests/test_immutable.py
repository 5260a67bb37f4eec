"""Backends whose arrays cannot be written (``Backend.mutable_arrays`` False: JAX).

Where arrays are immutable, an in-place operator rebinds a name instead of writing an
array: a donated update written through views would be lost, and the caller's arrays left
as they were. The loop must therefore never donate there. The model of such a backend is
NumPy with every array the loop is given or hands out made read-only (as array-api-extra's
read-only NumPy fixture does): any write into one of them raises, where JAX would silently
drop it.
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
from nnbackend.core.optimizers import FUNCTIONAL, OPTIMIZERS, donation_updates
from nnbackend.distributed import run_ranks
from nnbackend.training.callbacks import Callback
from nnbackend.training.stack import ModelStack
from nnbackend.training.stacked import StackedModels
from nnbackend.training.trainer import Trainer, TrainingOptions

from .test_stack import flower


def read_only(arrays: Any) -> None:
    """Make every NumPy array in ``arrays`` (a dict, or one array) read-only."""
    for value in arrays.values() if isinstance(arrays, dict) else [arrays]:
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


class FreezeEverything(Callback):
    """After every step, the state's parameters and moving averages become read-only: a
    later step that writes into them (a donation) raises."""

    all_ranks = True

    def on_begin(self, trainer: Trainer) -> None:
        self.on_step(trainer)

    def on_step(self, trainer: Trainer) -> None:
        read_only(trainer.state.params)
        read_only(trainer.state.optimizer_state)


def immutable(backend: Backend) -> Backend:
    """NumPy as an immutable backend would be run (the capability off, nothing else)."""
    return dataclasses.replace(backend, mutable_arrays=False)


def options(optimizer: str) -> TrainingOptions:
    # Mini-batches, dropout, L2 and early stopping: every path that keeps or reuses arrays.
    return TrainingOptions(learning_rate=0.05, epochs=3, batch_size=64, optimizer=optimizer,
                           keep_prob=0.8, l2=0.01, patience=2)


def one_run(backend: Backend, optimizer: str, comm: Any = None) -> dict[str, Any]:
    X, Y = flower(backend)
    read_only(X)
    read_only(Y)
    rng = nb.host_rng(1)
    net = Network.create((2, 8, 1), backend, "tanh", "binary", "small", rng=rng)
    read_only(net.params)
    trainer = Trainer(net, X, Y, options(optimizer), rng=rng, validation=(X, Y),
                      callbacks=[FreezeEverything()], comm=comm)
    trainer.run()
    return {name: np.array(value) for name, value in net.params.items()}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_an_immutable_backend_never_writes_into_an_array(reference: Backend,
                                                         optimizer: str) -> None:
    """Nothing the loop was given or handed out is written, and the run is the same."""
    got = one_run(immutable(reference), optimizer)
    # The same run on ordinary NumPy (donating) is where these parameters must end.
    rng = nb.host_rng(1)
    X, Y = flower(reference)
    net = Network.create((2, 8, 1), reference, "tanh", "binary", "small", rng=rng)
    Trainer(net, X, Y, options(optimizer), rng=rng, validation=(X, Y)).run()
    for name, value in net.params.items():
        np.testing.assert_array_equal(got[name], reference.to_host(value))


def test_the_model_catches_writes_where_arrays_are_mutable(reference: Backend) -> None:
    """The same run with the capability on donates, and the read-only arrays refuse it:
    the test above would see a loop that ignored ``mutable_arrays``."""
    with pytest.raises(ValueError, match="read-only"):
        one_run(reference, "adam")


def test_immutable_data_parallel_ranks_never_write_into_an_array(reference: Backend) -> None:
    """The data-parallel runner picks its updates by the same capability."""
    backend = immutable(reference)
    ranks = run_ranks(2, lambda comm: one_run(backend, "adam", comm))
    np.testing.assert_array_equal(ranks[0]["W1"], ranks[1]["W1"])


def test_an_immutable_stack_never_writes_into_an_array(reference: Backend) -> None:
    backend = immutable(reference)
    X, Y = flower(backend)
    read_only(X)
    read_only(Y)
    stack = ModelStack([(2, 3, 1), (2, 6, 1)], backend, get_hidden_activation("tanh"),
                       [1, 2])
    opts = [dataclasses.replace(options("adam"), learning_rate=lr) for lr in (0.05, 0.1)]
    models = StackedModels(stack, opts, "binary", has_validation=True)
    read_only(models.network.params)
    Trainer(models.network, X, Y, opts[0], validation=(X, Y), stack=models,
            callbacks=[FreezeEverything()]).run()


def test_every_update_is_functional_where_arrays_are_immutable() -> None:
    assert set(donation_updates(False, 1 << 18).values()) == {FUNCTIONAL}
    assert donation_updates(True, 1 << 18)[True, True].block_bytes == 1 << 18


def test_the_jax_backend_says_its_arrays_are_immutable() -> None:
    pytest.importorskip("jax")
    jax_backend = nb.resolve_backend("cpu", "jax", "float32")
    assert not jax_backend.mutable_arrays and jax_backend.compiles
    with pytest.raises(TypeError, match="immutable"):
        x = jax_backend.zeros((2,))
        x[...] = 1.0
