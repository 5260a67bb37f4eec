"""Evaluating a network on a data set, and summing batch costs over an epoch.

What a record reads: the cost (with the L2 term) and accuracy of the parameters on the
training or validation data, computed on the device and read to the host once. For a
stack of models (:mod:`nnbackend.training.stack`) every figure is per model: ``(k,)`` device
arrays, read as lists of floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.metrics import output_accuracy
from ..core.network import Network, compute_cost, forward_propagation
from ..core.regularization import l2_cost
from ..errors import NNBackendError
from .step import StepStats, batch_stats

Array = Any
#: A record's figure: a float for one model, one float per model for a stack.
Figure = Any


@dataclass
class BatchTotals:
    """Cost and accuracy summed over batches on the device, read once when averaged.

    Attributes
    ----------
    cost : array or None
        Sum of ``batch cost * batch size`` (0-d device array).
    hits : array or None
        Sum of ``batch accuracy * batch size`` (None for regression).
    examples : int
        Examples summed so far.
    """

    cost: Array | None = None
    hits: Array | None = None
    examples: int = 0

    def add_stats(self, stats: StepStats, size: int) -> None:
        """Add one batch of ``size`` examples, given its summed loss and hits."""
        cost, hits = stats
        self.cost = cost if self.cost is None else self.cost + cost
        if hits is not None:
            self.hits = hits if self.hits is None else self.hits + hits
        self.examples += size

    def means(self) -> tuple[Array, Array | None]:
        """Mean cost and accuracy over the examples added (device arrays)."""
        if self.cost is None:
            raise NNBackendError("no batches were added")
        scale = 1.0 / self.examples
        return self.cost * scale, None if self.hits is None else self.hits * scale



#: Examples per forward pass when evaluating: bounds the memory of a record (every
#: layer's Z and A of the chunk) instead of holding them for the whole data set.
EVAL_CHUNK = 8192


def evaluate(network: Network, params: dict[str, Array], X: Array, Y: Array, l2: Any,
             host: bool = False, masks: list[Any] | None = None) -> tuple[Figure, Figure]:
    """Cost (with the L2 term) and accuracy of ``params`` on ``(X, Y)``, read to the host.

    Up to :data:`EVAL_CHUNK` examples are evaluated in one forward pass; more in chunks of
    that many, summed on the device and read once. With ``host``, ``X`` and ``Y`` are
    host NumPy arrays, copied to the device chunk by chunk. Stacked ``params`` give one
    figure per model (``l2`` may then be per model, and ``masks`` a padded stack's unit
    masks, :attr:`nnbackend.training.stack.ModelStack.unit_masks`).
    """
    backend, hidden, output = network.backend, network.hidden, network.output
    xp = backend.xp
    m = X.shape[0]
    if m <= EVAL_CHUNK and not host:
        compiled = _compiled_figures(backend, hidden, output, l2)
        if compiled is not None:
            return _read(network, *compiled(params, X, Y, masks))
        return _read(network, *_figures(params, X, Y, masks, l2, hidden, output, xp=xp))
    if host and m <= EVAL_CHUNK:
        return evaluate(network, params, backend.asarray(X), backend.asarray(Y), l2,
                        masks=masks)
    totals = BatchTotals()
    for start in range(0, m, EVAL_CHUNK):
        end = min(start + EVAL_CHUNK, m)
        X_part, Y_part = X[start:end, :], Y[:, start:end]
        if host:
            X_part, Y_part = backend.asarray(X_part), backend.asarray(Y_part)
        part = forward_propagation(params, X_part.T, hidden, output, masks, xp=xp)
        totals.add_stats(batch_stats(output, part, Y_part, xp=xp), end - start)
    return _averaged(network, params, totals, l2, m)


def _figures(params: dict[str, Array], X: Array, Y: Array, masks: list[Any] | None, l2: Any,
             hidden: Any, output: Any, *, xp: Any) -> tuple[Array, Array | None]:
    """A record's cost (with the L2 term) and accuracy on ``(X, Y)``, on the device."""
    cache = forward_propagation(params, X.T, hidden, output, masks, xp=xp)
    J = compute_cost(params, cache, Y, output, l2, xp=xp)
    return J, output_accuracy(output.task, cache.A[-1], Y, xp=xp)


#: :func:`_figures` compiled, by (backend, activations, L2): one program per data shape.
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _compiled_figures(backend: Any, hidden: Any, output: Any, l2: Any) -> Any:
    """:func:`_figures` as one compiled program where the backend compiles (JAX: a record
    on the flower is then one program, not ~30 separately compiled operations), or None
    (no compiler, or a stack's per-model L2, an array)."""
    if not backend.compiles:
        return None
    try:
        key = (backend.name, hidden, output, l2)
        compiled = _COMPILED.get(key)
    except TypeError:  # unhashable: an array
        return None
    if compiled is None:
        xp = backend.xp

        def figures(params: dict[str, Array], X: Array, Y: Array, masks: list[Any] | None
                    ) -> tuple[Array, Array | None]:
            return _figures(params, X, Y, masks, l2, hidden, output, xp=xp)

        compiled = _COMPILED[key] = backend.compile(figures)
    return compiled


def _averaged(network: Network, params: dict[str, Array], totals: BatchTotals, l2: Any,
              m: int) -> tuple[Figure, Figure]:
    """The totals' mean cost plus the L2 term of ``params`` over ``m``, and accuracy."""
    J, acc = totals.means()
    # Once, over all parameters: the batches summed the loss alone. (A stack's per-model
    # strengths are an array, which has no truth value.)
    if not isinstance(l2, (int, float)) or l2:
        J = J + l2_cost(params, l2, m, xp=network.backend.xp)
    return _read(network, J, acc)


def _read(network: Network, J: Array, acc: Array | None) -> tuple[Figure, Figure]:
    """Copy a cost and an accuracy (0-d device arrays, or a stack's ``(k,)``) to the host:
    floats, or lists of one float per model."""
    backend = network.backend
    if J.ndim:
        return (backend.to_host(J).tolist(),
                None if acc is None else backend.to_host(acc).tolist())
    return backend.to_float(J), None if acc is None else backend.to_float(acc)


