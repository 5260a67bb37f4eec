"""Cost and accuracy of a data set split over the ranks: local sums, one all-reduce.

Rank ``r`` evaluates its contiguous share of the rows (:func:`shard_bounds`), in chunks of
:data:`nnbackend.training.evaluation.EVAL_CHUNK` as the single-process evaluation does; the
loss and hit sums are summed over the ranks, divided by the row count, and the L2 term of
the parameters is added once, as in :func:`nnbackend.training.evaluation.evaluate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.network import Network, forward_propagation
from ..training.evaluation import EVAL_CHUNK, BatchTotals, _averaged
from ..training.step import batch_stats
from .reduce import FlatSum
from .shards import shard_bounds
from .step import shard_zero

if TYPE_CHECKING:
    from .communicator import Communicator

Array = Any


def evaluate_sharded(comm: Communicator, network: Network, params: dict[str, Array], X: Array,
                     Y: Array, l2: Any, host: bool = False, masks: list[Any] | None = None
                     ) -> tuple[Any, Any]:
    """Cost (with the L2 term) and accuracy of ``params`` on ``(X, Y)``, the same on every rank.

    Parameters
    ----------
    comm : Communicator
        The ranks sharing the work.
    network : Network
        Activations, output layer and backend.
    params : dict
        ``W1, b1, ...``, identical on every rank.
    X : array, shape (m, n[0])
        The whole data set as rows (every rank holds it, or a memory map of it); each rank
        reads only its own rows.
    Y : array, shape (n[L], m)
        Encoded targets.
    l2 : float or array
        L2 strength ``lambda`` of the reported cost (a stack's may be per model).
    host : bool
        ``X`` and ``Y`` are host NumPy arrays, copied to the device chunk by chunk.
    masks : list, optional
        A padded stack's unit masks (stacked ``params`` give one figure per model).
    """
    backend, xp = network.backend, network.backend.xp
    m = X.shape[0]
    lo, hi = shard_bounds(m, comm.rank, comm.size)
    local = BatchTotals()
    for start in range(lo, hi, EVAL_CHUNK):
        end = min(start + EVAL_CHUNK, hi)
        X_part, Y_part = X[start:end, :], Y[:, start:end]
        if host:
            X_part, Y_part = backend.asarray(X_part), backend.asarray(Y_part)
        cache = forward_propagation(params, X_part.T, network.hidden, network.output, masks,
                                    xp=xp)
        local.add_stats(batch_stats(network.output, cache, Y_part, xp=xp), end - start)
    classifier = network.output.task != "regression"
    if local.cost is None:  # fewer rows than ranks: this one adds zeros
        zero = shard_zero(params, xp=xp)
        local.cost, local.hits = zero, zero if classifier else None
    sums = FlatSum(comm, backend)([local.cost, local.hits] if classifier else [local.cost])
    totals = BatchTotals(sums[0], sums[1] if classifier else None, m)
    return _averaged(network, params, totals, l2, m)
