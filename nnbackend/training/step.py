"""One training step as a function: ``train_step(params, opt_state, batch, lr, spec, xp=xp)
-> (params, opt_state, stats)``.

This is the seam the training loop is built around, and what other ways of running a
step hang on: a CUDA graph captures exactly this function once per batch shape and replays
it (:mod:`nnbackend.training.graphed`), and a data-parallel run would swap :func:`gradients` for a
sum of per-shard gradients. The step is the notes' equations and nothing else::

    cache = forward_propagation(W, b, X)          Z[l], A[l] for every layer
    grads = backward_propagation(cache, Y)        dZ[L] = A[L] - Y, ..., dW[1], db[1]
    W, b  = update(W, b, grads, lr)               gradient descent or a moving-average rule

It reads nothing back to the host (so it can be captured, and a GPU never waits for it),
draws no random numbers (dropout masks come in with the batch, drawn on the host), and
its only side effects are the donations the caller allows
(:class:`~nnbackend.core.optimizers.Update`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NamedTuple

from ..core.activations import Activation
from ..core.axes import matrix_transposer
from ..core.losses import OutputLayer
from ..core.metrics import output_accuracy
from ..core.network import Cache, backward_propagation, forward_propagation
from ..core.optimizers import FUNCTIONAL, Optimizer, State, Update
from .blocks import MIN_BLOCKS, blocked_gradients

Array = Any


@dataclass(frozen=True)
class StepSpec:
    """What a step computes, fixed for a whole run.

    Attributes
    ----------
    hidden : Activation
        ``g`` of the hidden layers.
    output : OutputLayer
        Output activation and loss.
    optimizer : Optimizer
        The update rule and its hyper-parameters.
    l2 : float or array
        L2 strength ``lambda`` (0 = none); a stack's may be a ``(k, 1, 1)`` array of
        per-model strengths.
    block_columns : int
        A stack on the host: the (model, example) columns one block of its forward and
        backward pass may hold, to stay in the CPU's cache
        (:mod:`nnbackend.training.blocks`); 0 (a single model, or a GPU): whole arrays.
    linear : bool
        The update is plain gradient descent, ``W - lr * dW`` (derived from ``optimizer``;
        read once here rather than on every step).
    """

    hidden: Activation
    output: OutputLayer
    optimizer: Optimizer
    l2: float | Array = 0.0
    block_columns: int = 0
    linear: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "linear", self.optimizer.is_linear)


class Batch(NamedTuple):
    """One step's examples.

    Attributes
    ----------
    X : array, shape (b, n[0])
        Examples as rows (the math sees ``X.T``, a free view). A stack of ``k`` models
        shares it, or takes per-model rows ``(k, b, n[0])``.
    Y : array, shape (n[L], b)
        Encoded targets (a stack: shared, or per model ``(k, n[L], b)``).
    masks : list or None
        Inverted-dropout masks per layer (see :func:`nnbackend.core.regularization.dropout_masks`);
        a stack's also zero its padded units (:meth:`nnbackend.training.stack.ModelStack.masks`).
    ones : array, shape (b, 1), optional
        A column of ones for ``db = dZ @ ones``, reused across steps of one batch size.
    """

    X: Array
    Y: Array
    masks: list[Any] | None = None
    ones: Array | None = None


class StepStats(NamedTuple):
    """The batch's loss and accuracy times its size (0-d device arrays, never read here;
    ``(k,)`` for a stack of models).

    Summed over an epoch's batches and divided by the example count, they give the
    epoch's mean cost and accuracy (the L2 term is added once, at the end).
    """

    cost_sum: Array
    hits_sum: Array | None


def gradients(params: dict[str, Array], batch: Batch, spec: StepSpec, scale: float = 1.0, *,
              xp: ModuleType) -> tuple[dict[str, Array], Cache]:
    """Forward and backward propagation of one batch: ``dW[l], db[l]`` and the cache.

    ``scale`` multiplies every gradient (see :func:`backward_propagation`): plain gradient
    descent passes its learning rate here. The gradients are the notes' means over the
    batch's ``b`` examples, with the L2 term ``lambda / b * W[l]``.
    """
    X = batch.X  # one model's rows (b, n[0]), or per-model rows (k, b, n[0]) of a stack
    cache = forward_propagation(params, X.T if X.ndim == 2 else matrix_transposer(X, xp=xp)(X),
                                spec.hidden, spec.output, batch.masks, xp=xp)
    grads = backward_propagation(params, cache, batch.Y, spec.hidden, spec.l2,
                                 ones=batch.ones, scale=scale, xp=xp)
    return grads, cache


def batch_stats(output: OutputLayer, cache: Cache, Y: Array, *, xp: ModuleType) -> StepStats:
    """The batch's loss and accuracy, each times the batch size, from its forward pass."""
    size = float(Y.shape[-1])
    cost = output.cost(cache.Z[-1], Y, xp=xp) * size
    accuracy = output_accuracy(output.task, cache.A[-1], Y, xp=xp)
    return StepStats(cost, None if accuracy is None else accuracy * size)


def _with_stats(params: dict[str, Array], batch: Batch, spec: StepSpec, scale: Any,
                with_stats: bool, *, xp: ModuleType) -> tuple[dict[str, Array], StepStats | None]:
    """:func:`gradients` and, when asked, :func:`batch_stats` (one block of a stack)."""
    grads, cache = gradients(params, batch, spec, scale, xp=xp)
    return grads, batch_stats(spec.output, cache, batch.Y, xp=xp) if with_stats else None


def train_step(params: dict[str, Array], opt_state: State, batch: Batch, lr: float,
               spec: StepSpec, *, with_stats: bool = False, update: Update = FUNCTIONAL,
               xp: ModuleType) -> tuple[dict[str, Array], State, StepStats | None]:
    """One update of the parameters from one batch.

    Parameters
    ----------
    params : dict
        ``W1, b1, ..., WL, bL``.
    opt_state : dict
        The optimizer's state (``t`` and its moving averages).
    batch : Batch
        The step's examples, targets and dropout masks.
    lr : float or array
        The step's learning rate (after decay), a Python float; a stack's may be a
        ``(k, 1, 1)`` array of per-model rates.
    spec : StepSpec
        Activations, loss, update rule, L2.
    with_stats : bool
        Also return the batch's loss and accuracy (computed from this step's forward
        pass, before the update).
    update : Update
        Which arrays the update may (or must) write into; by default none.
    xp : module
        The arrays' namespace.

    Returns
    -------
    params, opt_state, stats
        The updated parameters and state, and the batch statistics (or None).
    """
    # Plain gradient descent is linear in the gradient, so lr rides on dZ[L] (one small
    # multiply) and the update is W - dW (see Optimizer.step).
    scale, step_lr = (lr, 1.0) if spec.linear else (1.0, lr)
    columns = spec.block_columns  # 0 but for a stack on the host
    if columns and columns * MIN_BLOCKS <= batch.Y.shape[-1] * params["W1"].shape[0]:
        # The stack's arrays are several times the cache: forward and backward in blocks.
        grads, stats = blocked_gradients(_with_stats, params, batch, spec, scale, with_stats,
                                         xp=xp)
    else:
        grads, cache = gradients(params, batch, spec, scale, xp=xp)
        stats = batch_stats(spec.output, cache, batch.Y, xp=xp) if with_stats else None
    new_params, new_state = spec.optimizer.step(params, grads, opt_state, step_lr,
                                                update=update, xp=xp)
    return new_params, new_state, stats
