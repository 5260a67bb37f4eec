"""A stack's step in blocks of models (:mod:`nnbackend.training.blocks`) is the whole
stack's step, bit for bit, and NumPy takes it whenever the stack outgrows the cache."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import nnbackend.training.step as step_module
from nnbackend.core.activations import get_hidden_activation
from nnbackend.core.backend import Backend, resolve_backend
from nnbackend.training.blocks import block_columns
from nnbackend.training.stack import ModelStack
from nnbackend.training.stacked import StackedModels
from nnbackend.training.trainer import Trainer, TrainingOptions, TrainingResult

from .test_stack import flower, steps_for

#: Full batch, gradient descent: per-model learning rates and L2, padded tanh units.
FULL = dict(sizes=[(2, 1, 1), (2, 4, 1), (2, 3, 1), (2, 4, 1), (2, 2, 1)],
            activation="tanh",
            options=[dict(learning_rate=lr, l2=l2, iterations=60, print_every=20)
                     for lr, l2 in zip([1.2, 0.5, 1.2, 2.0, 0.8], [0, 0.1, 0, 0, 0.3],
                                       strict=True)])
#: Mini-batches (per-model rows) in epochs (batch statistics), Adam with per-model betas,
#: dropout and decay, padded sigmoid units (unit masks), a validation split.
MINI = dict(sizes=[(2, 5, 3, 1), (2, 4, 3, 1), (2, 5, 2, 1)], activation="sigmoid",
            options=[dict(learning_rate=lr, epochs=6, batch_size=64, optimizer="adam",
                          beta1=b1, keep_prob=keep, lr_decay=decay, print_every=2)
                     for lr, b1, keep, decay in zip([0.01, 0.02, 0.005], [0.9, 0.8, 0.9],
                                                    [0.9, 1.0, 0.8], [0.1, 0.0, 0.0],
                                                    strict=True)])


def train(backend: Backend, case: dict[str, Any], validation: bool
          ) -> tuple[StackedModels, TrainingResult, Trainer]:
    """Train ``case``'s stack on the flower through the real loop."""
    X, Y = flower(backend)
    scale = steps_for(backend, 10) / 10
    options = [TrainingOptions(**{**o, **({"iterations": max(2, int(o["iterations"] * scale))}
                                          if "iterations" in o else {})})
               for o in case["options"]]
    stack = ModelStack(case["sizes"], backend, get_hidden_activation(case["activation"]),
                       [3, 7, 11, 13, 17][:len(case["sizes"])])
    models = StackedModels(stack, options, "binary", has_validation=validation)
    trainer = Trainer(models.network, X[:320, ...], Y[:, :320], options[0], stack=models,
                      validation=(X[320:, ...], Y[:, 320:]) if validation else None)
    return models, trainer.run(), trainer


@pytest.mark.parametrize("case", ["full", "mini"])
def test_blocks_of_models_equal_the_whole_stack_bit_for_bit(
        backend64: Backend, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One model per block against the whole stack: the same parameters and records
    (NumPy, whose backend runs stacks in blocks, and array-API-strict, the standard)."""
    if backend64.name == "jax":
        pytest.skip("JAX never runs a stack in blocks (no cache-block budget): it compiles "
                    "the step into one XLA program, traced once, whatever the blocks")
    if backend64.name == "torch":
        pytest.skip("PyTorch never runs a stack in blocks (no cache-block budget): it "
                    "folds a product with a shared operand into one matrix product whose "
                    "kernel, and last bit, depend on the number of rows")
    calls = []
    original = step_module.blocked_gradients

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(step_module, "blocked_gradients", counted)
    chosen = {"full": FULL, "mini": MINI}[case]
    validation = case == "mini"
    whole = dataclasses.replace(backend64, update_block_bytes=None)
    tiny = dataclasses.replace(backend64, update_block_bytes=8)  # one model per block
    models, result, _ = train(whole, chosen, validation)
    assert not calls
    blocked_models, blocked_result, trainer = train(tiny, chosen, validation)
    assert len(calls) == trainer.state.step > 0  # every step ran in blocks
    for name, value in models.network.params.items():
        assert np.array_equal(backend64.to_host(value),
                              backend64.to_host(blocked_models.network.params[name])), name
    strip = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    assert strip == [{k: v for k, v in r.items() if k != "time"}
                     for r in blocked_result.history]


def test_numpy_splits_a_stack_larger_than_its_cache_block() -> None:
    """256 flower models: blocks of 20 in float64, 40 in float32 (256 KiB of the widest
    activation per block); PyTorch keeps whole arrays."""
    numpy64 = resolve_backend("cpu", "numpy", "float64")
    assert numpy64.update_block_bytes == 256 * 1024
    assert block_columns((2, 4, 1), 8, numpy64.update_block_bytes) // 400 == 20
    assert block_columns((2, 4, 1), 4, numpy64.update_block_bytes) // 400 == 40
    assert block_columns((2, 4, 1), 8, None) == 0
    stack = ModelStack([(2, 4, 1)] * 256, numpy64, get_hidden_activation("tanh"))
    models = StackedModels(stack, [TrainingOptions()] * 256, "binary")
    assert models.step_spec(models.optimizer()).block_columns == 256 * 1024 // 32


@pytest.mark.parametrize(("k", "blocked"), [(32, False), (64, True), (256, True)])
def test_only_a_stack_of_several_blocks_is_split(k: int, blocked: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Below three blocks' worth the per-block calls cost more than the cache saves:
    the stack runs whole (20 flower models per float64 block: 32 whole, 64 split)."""
    calls = []
    original = step_module.blocked_gradients
    monkeypatch.setattr(step_module, "blocked_gradients",
                        lambda *a, **kw: calls.append(1) or original(*a, **kw))
    numpy64 = resolve_backend("cpu", "numpy", "float64")
    X, Y = flower(numpy64)
    options = [TrainingOptions(learning_rate=0.1 + 0.01 * i, iterations=2, print_every=1)
               for i in range(k)]
    stack = ModelStack([(2, 4, 1)] * k, numpy64, get_hidden_activation("tanh"),
                       list(range(k)))
    models = StackedModels(stack, options, "binary")
    Trainer(models.network, X, Y, options[0], stack=models).run()
    assert len(calls) == (2 if blocked else 0)
