"""One data-parallel training step: each rank's share of the batch, one all-reduce, one update.

The single-process step (:func:`nnbackend.training.step.train_step`) takes the batch mean
of the gradients, ``dW[l] = dZ[l] @ A[l-1].T / b`` plus the L2 term ``lambda / b * W[l]``.
A rank owning ``b_r`` of the batch's ``b`` rows runs the same, unchanged
:func:`nnbackend.training.step.gradients` on its rows with ``scale * b_r / b`` and without
L2, which gives its rows' gradient SUM divided by ``b``; summing over the ranks gives the
batch mean again. The L2 term depends on the parameters only, so it is added once, after
the sum (added per rank it would count ``k`` times). Every rank then holds the same
gradients and applies the same update, so the parameters stay identical without ever
being sent. In recorded steps the batch's loss and accuracy sums ride in the same buffer.

Like ``train_step`` it reads nothing back to the host except through the communicator
(host-buffer engines copy the flat gradient there and back), and draws no random numbers:
dropout masks come in with the batch, already cut to the rank's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from types import ModuleType
from typing import Any

from ..core.optimizers import FUNCTIONAL, State, Update
from ..training.step import Batch, StepSpec, StepStats, batch_stats, gradients

Array = Any
#: Sums a list of arrays over the ranks (:class:`nnbackend.distributed.reduce.FlatSum`).
Reduce = Callable[[Sequence[Array]], list[Array]]


@lru_cache(maxsize=8)
def _cached_without_l2(spec: StepSpec) -> StepSpec:
    return replace(spec, l2=0.0)


def _without_l2(spec: StepSpec) -> StepSpec:
    """``spec`` with ``l2 = 0``: the ranks' gradients leave the penalty to after the sum."""
    try:
        return _cached_without_l2(spec)
    except TypeError:  # a stack's per-model arrays (l2, betas) cannot be hashed: no cache
        return replace(spec, l2=0.0)


def shard_gradients(params: dict[str, Array], batch: Batch, spec: StepSpec, scale: float,
                    batch_size: int, with_stats: bool, *, xp: ModuleType
                    ) -> tuple[dict[str, Array], StepStats | None]:
    """This rank's rows' gradient sums over ``batch_size``, and their loss/accuracy sums.

    Parameters
    ----------
    params : dict
        ``W1, b1, ..., WL, bL``.
    batch : Batch
        The rank's rows of the batch (possibly none), its targets, masks and ones.
    spec : StepSpec
        Its ``l2`` is ignored here (added once after the sum, :func:`sharded_train_step`).
    scale : float
        Multiplies every gradient, as in :func:`nnbackend.training.step.gradients`.
    batch_size : int
        Rows of the whole batch, over all ranks.
    with_stats : bool
        Also return the rows' ``(loss sum, hits sum)``.

    Returns
    -------
    grads : dict
        ``dW{l}, db{l}`` shaped like the parameters: ``scale / batch_size`` times the sums
        over the rank's rows (zeros when it owns none).
    stats : StepStats or None
        0-d sums over the rank's rows (zeros when it owns none; hits None for regression).
    """
    owned = batch.Y.shape[-1]
    if owned:
        # backward_propagation divides by the rows it sees (owned): scale it back to the
        # batch's mean share. owned / batch_size is exactly 1.0 on a single rank.
        grads, cache = gradients(params, batch, _without_l2(spec),
                                 scale * (owned / batch_size), xp=xp)
        return grads, batch_stats(spec.output, cache, batch.Y, xp=xp) if with_stats else None
    # A batch smaller than the number of ranks: this rank adds nothing, but still takes
    # part in the sum with a buffer of the same layout.
    grads = {"d" + name: xp.zeros_like(value) for name, value in params.items()}
    if not with_stats:
        return grads, None
    zero = shard_zero(params, xp=xp)
    return grads, StepStats(zero, None if spec.output.task == "regression" else zero)


def shard_zero(params: dict[str, Array], *, xp: ModuleType) -> Array:
    """A zero sum for a rank that owns no rows, on the parameters' device: 0-d, or a
    stack's ``(k,)``."""
    return xp.sum(next(iter(params.values()))[..., :0, 0], axis=-1)


def sharded_train_step(params: dict[str, Array], opt_state: State, batch: Batch, lr: Any,
                       spec: StepSpec, reduce: Reduce, *, batch_size: int,
                       with_stats: bool = False, update: Update = FUNCTIONAL, xp: ModuleType
                       ) -> tuple[dict[str, Array], State, StepStats | None]:
    """:func:`nnbackend.training.step.train_step` with the batch split over the ranks.

    Parameters
    ----------
    params, opt_state, lr, spec, xp, with_stats, update
        As for :func:`nnbackend.training.step.train_step`.
    batch : Batch
        This rank's rows of the batch: ``X`` of shape ``(b_r, n[0])``, ``Y`` of shape
        ``(n[L], b_r)``, the masks' columns of those rows, ``ones`` of shape ``(b_r, 1)``
        (a stack's: each model's ``b_r`` rows, ``(k, b_r, n[0])`` and ``(k, n[L], b_r)``).
    reduce : callable
        Sums a list of arrays over the ranks, in one collective call.
    batch_size : int
        ``b``, the rows of the whole batch over all ranks.

    Returns
    -------
    params, opt_state, stats
        The same on every rank; ``stats`` are the whole batch's sums.
    """
    # As in train_step: plain gradient descent's learning rate rides on the gradients.
    scale, step_lr = (lr, 1.0) if spec.linear else (1.0, lr)
    grads, stats = shard_gradients(params, batch, spec, scale, batch_size, with_stats, xp=xp)
    names = ["d" + name for name in params]
    local = [grads[name] for name in names]
    if stats is not None:
        local += [stats.cost_sum] if stats.hits_sum is None else list(stats)
    summed = reduce(local)
    grads = dict(zip(names, summed, strict=False))
    if stats is not None:
        stats = StepStats(summed[len(names)],
                          None if stats.hits_sum is None else summed[len(names) + 1])
    if not isinstance(spec.l2, (int, float)) or spec.l2:  # a stack's may be an array
        # The single-process expression (backward_propagation's), once, on the sum.
        factor = spec.l2 * scale / batch_size
        for name in params:
            if name.startswith("W"):
                grads["d" + name] = grads["d" + name] + factor * params[name]
    new_params, new_state = spec.optimizer.step(params, grads, opt_state, step_lr,
                                                update=update, xp=xp)
    return new_params, new_state, stats
