"""The model axis: the few places where a stack of networks reads differently from one.

Every array of the math may carry an optional leading axis of ``k`` models (see
:mod:`nnbackend.training.stack`): ``W[l]`` is ``(k, n[l], n[l-1])``, ``A[l]`` is
``(k, n[l], m)``. The equations themselves need no change, because ``matmul`` and the
element-wise operators broadcast over leading axes; what does change is

- the transpose: ``.T`` is the standard's transpose of a 2-D array only; a stack takes the
  standard's ``.mT`` attribute, or its ``matrix_transpose`` function where arrays lack the
  attribute (:func:`matrix_transposer`);
- a model's total: its sum runs over its own two last axes, never over the models;
- a hyper-parameter may be a ``(k, 1, 1)`` array (one value per model) instead of a
  Python float.

The 2-D case keeps the notes' forms (``.T``, a plain ``sum``): on the flower every extra
array call costs 2-3% of a step, so callers decide once per call, from ``ndim``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

Array = Any

#: ``x.mT``: one attribute read, where array-api-compat's ``matrix_transpose`` for NumPy
#: is three Python calls (about 5 us per call on the flower, 3% of a 50-unit step).
_mT: Callable[[Array], Array] = attrgetter("mT")


def matrix_transposer(x: Array, *, xp: Any) -> Callable[[Array], Array]:
    """The transpose of a stack's last two axes, for arrays like ``x``: the standard's
    ``.mT`` attribute where ``x`` has it, else the namespace's ``matrix_transpose``."""
    return _mT if hasattr(x, "mT") else xp.matrix_transpose


def model_sum(x: Array, *, xp: Any) -> Array:
    """Each model's total: ``sum(x)`` of a 2-D array (a 0-d array), or the sums over the
    two last axes of a stack ``(k, a, b)`` (shape ``(k,)``)."""
    return xp.sum(x) if x.ndim == 2 else xp.sum(x, axis=(-2, -1))


def is_float(value: Any) -> bool:
    """True for a hyper-parameter given as one Python number (the same for every model),
    False for a per-model array."""
    return isinstance(value, (int, float))


def per_model_vector(value: Array, *, xp: Any) -> Array:
    """A per-model ``(k, 1, 1)`` hyper-parameter as ``(k,)``, shaped like the costs."""
    return xp.reshape(value, (-1,))
