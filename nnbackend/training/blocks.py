"""A stack's step on the host, in blocks of models that stay in the CPU's cache.

A stack of ``k`` models makes every activation ``(k, n[l], m)``: 256 flower models (2-4-1,
400 examples) make 3.3 MB float64 arrays, and each of the step's dozen element-wise and
product passes then streams them from memory. The models of a stack never mix (each
model's products and element-wise operations touch only its own slice of the model
axis), so forward and backward propagation can run on consecutive blocks of models whose
arrays fit the cache, with exactly the same operations on every model's numbers: the
results are those of the whole stack, bit for bit. Only the small gradients are joined
(``concat``) before the one update of the whole stack. A stack of fewer than
:data:`MIN_BLOCKS` blocks runs whole.

Measured on this project's 2-core machine (NumPy, float64, 256 flower models, full
batch): 6.1 ms per step on the whole stack, 4.1-4.2 ms in blocks of 16 or 32 models;
float32 gains little (its arrays are half the size). The block size comes from the
backend's cache-block budget (``Backend.update_block_bytes``, set for NumPy only: GPUs and
PyTorch's multi-threaded CPU loops want whole arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

Array = Any
#: Split a stack only when it holds at least this many blocks: below that the per-block
#: calls cost more than the cache saves (measured, float64, 2-n-1 flower models: 8-10%
#: slower at 1.6 and 2 blocks' worth, 7% faster at 3.2, 12-15% at 6.4 and more).
MIN_BLOCKS = 3
#: ``(params, batch, spec, scale, with_stats, xp=xp) -> (grads, stats or None)``.
Gradients = Callable[..., tuple[dict[str, Array], Any]]


def block_columns(width: Sequence[int], itemsize: int, budget: int | None) -> int:
    """How many (model, example) columns one block of a stack may hold; 0 for none.

    Parameters
    ----------
    width : sequence of int
        The stack's padded layer sizes ``(n[0], ..., n[L])``.
    itemsize : int
        Bytes per element of the stack's dtype.
    budget : int or None
        Bytes the widest layer's activation of one block may take (the backend's
        ``update_block_bytes``); None: never split the stack.
    """
    if not budget:
        return 0
    return max(1, budget // (max(width[1:]) * itemsize))


def _part(value: Any, block: slice) -> Any:
    """The block's rows of a per-model array (a Python float, or a shared array, as is)."""
    if isinstance(value, (int, float)) or value is None:
        return value
    return value[block, ...]


def blocked_gradients(gradients: Gradients, params: dict[str, Array], batch: Any, spec: Any,
                      scale: Any, with_stats: bool, *,
                      xp: ModuleType) -> tuple[dict[str, Array], Any]:
    """``gradients(...)`` of a stack, in blocks of models of at most ``spec.block_columns``
    (model, example) columns each, joined.

    Per-model inputs are cut along the model axis: the parameters, per-model rows
    ``(k, b, n[0])`` and targets ``(k, n[L], b)`` (a shared ``X`` or ``Y`` is passed
    whole), the dropout or unit masks, a ``(k, 1, 1)`` ``scale`` (the learning rates) and
    L2 strengths. The gradients and the per-model statistics are joined along it.
    """
    k = next(iter(params.values())).shape[0]
    size = max(1, spec.block_columns // batch.Y.shape[-1])
    shared_X, shared_Y = batch.X.ndim == 2, batch.Y.ndim == 2
    per_model_l2 = not isinstance(spec.l2, (int, float))
    parts: list[dict[str, Array]] = []
    stats: list[Any] = []
    for start in range(0, k, size):
        block = slice(start, min(start + size, k))
        part = batch._replace(
            X=batch.X if shared_X else batch.X[block, ...],
            Y=batch.Y if shared_Y else batch.Y[block, ...],
            masks=None if batch.masks is None else [_part(m, block) for m in batch.masks])
        grads, stat = gradients({name: value[block, ...] for name, value in params.items()}, part,
                                replace(spec, l2=spec.l2[block, ...]) if per_model_l2 else spec,
                                _part(scale, block), with_stats, xp=xp)
        parts.append(grads)
        stats.append(stat)
    joined = {name: xp.concat([g[name] for g in parts], axis=0) for name in parts[0]}
    if not with_stats:
        return joined, None
    first = stats[0]
    return joined, type(first)(*(None if field is None else
                                 xp.concat([s[i] for s in stats], axis=0)
                                 for i, field in enumerate(first)))
