"""Many networks at once: ``k`` models of one depth stacked along a leading model axis.

The notes' equations run unchanged on stacked arrays (:mod:`nnbackend.core.axes`):
``W[l]`` is ``(k, n[l], n[l-1])``, ``b[l]`` is ``(k, n[l], 1)``, ``A[l]`` is ``(k, n[l], m)``,
and ``X`` is shared, ``(m, n[0])`` as rows, or per model, ``(k, b, n[0])``. This module
builds such stacks so that every model in one equals its own single run:

- **Hidden sizes may differ.** Each hidden layer is padded to the widest model's size with
  zero weights. A padded unit computes ``g(0)``: zero for ``tanh``, ReLU and the others, so
  it stays exactly zero under every update rule (a zero gradient keeps a zero weight at
  zero, L2 included). Sigmoid's ``g(0) = 0.5`` would leak into the next layer's gradient,
  so for an activation with ``g(0) != 0`` a unit mask ``(k, n[l], 1)`` (1 for a model's
  real units, 0 for its padding) rides where dropout's masks go and zeroes the padded
  units' outputs and gradients. Dropout masks of a padded stack hold those zeros too.
- **Randomness is per model.** Each model has its own seeded host generator and draws
  from it exactly what its single run draws, in the same order and shapes: its weights
  (then placed into the padded stack), each epoch's permutation, each step's dropout
  masks.
- **Hyper-parameters may differ.** Learning rate, L2 strength, ``beta1``, ``beta2`` and
  ``epsilon`` are Python floats when all models share them, else ``(k, 1, 1)`` device
  arrays (:meth:`ModelStack.per_model`) that broadcast over each model's parameters.

What must be the same within a stack: the depth, ``n[0]`` and ``n[L]`` (so the task), the
hidden activation, the update rule, the batch size, the dtype and the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..core.activations import Activation
from ..core.backend import Backend, host_rng, resolve_backend
from ..core.initializers import initialize_parameters
from ..core.optimizers import Optimizer, make_optimizer
from ..core.regularization import dropout_masks
from ..errors import NNBackendError

Array = Any
#: One value shared by every model of a stack, or one per model.
PerModel = float | Sequence[float]


@cache
def _host() -> Backend:
    """Float64 NumPy: where a stack's per-model draws are made and padded before one
    upload (a cast to the stack's dtype, as each single run's own upload is)."""
    return resolve_backend("cpu", "numpy", "float64")


class ModelStack:
    """The layout of ``k`` networks trained as one stack, and their generators.

    Parameters
    ----------
    sizes : sequence of sequences of int
        Each model's ``(n[0], ..., n[L])``: one depth, one ``n[0]``, one ``n[L]``.
    backend : Backend
        Where the stacked arrays live, in its dtype.
    hidden : Activation
        The hidden layers' ``g``; decides whether padding needs unit masks.
    seeds : sequence, optional
        Each model's seed (an int or None), or a ``numpy.random.RandomState`` to draw
        from, exactly as a single run's ``seed``/``rng``. Default: seed 3 for every model
        (a single run's default).

    Attributes
    ----------
    sizes : tuple of tuples of int
        Each model's own layer sizes.
    width : tuple of int
        The stack's padded sizes: the widest model's size in each layer.
    rngs : list of numpy.random.RandomState
        Each model's generator (weights, shuffles, dropout), in that order of use.
    unit_masks : list or None
        Index ``l``: ``(k, n[l], 1)`` of 1 (real unit) and 0 (padding) for the hidden
        layers, None for the input and output; None altogether when no hidden layer is
        padded or the activation keeps padded units at zero by itself (``g(0) = 0``).
    """

    def __init__(self, sizes: Sequence[Sequence[int]], backend: Backend, hidden: Activation,
                 seeds: Sequence[Any] | None = None) -> None:
        models = tuple(tuple(int(n) for n in s) for s in sizes)
        if not models:
            raise NNBackendError("a stack needs at least one model")
        first = models[0]
        for s in models:
            if len(s) < 2 or any(n < 1 for n in s):
                raise NNBackendError(
                    f"layer sizes must be at least two positive integers, got {list(s)}")
            if len(s) != len(first) or s[0] != first[0] or s[-1] != first[-1]:
                raise NNBackendError(
                    f"models of layer sizes {list(first)} and {list(s)} cannot share a "
                    "stack: give models of one depth and the same input and output sizes "
                    "(stack the others separately)")
        self.sizes = models
        self.backend = backend
        self.hidden = hidden
        self.width = tuple(max(s[l] for s in models) for l in range(len(first)))  # noqa: E741
        seeds = [3] * len(models) if seeds is None else list(seeds)
        if len(seeds) != len(models):
            raise NNBackendError(f"{len(seeds)} seeds for {len(models)} models: give one "
                                 "seed per model")
        self.rngs = [s if isinstance(s, np.random.RandomState) else host_rng(s)
                     for s in seeds]
        padded = any(s != self.width for s in models)
        # Padding is exact by itself where g(0) = 0: a padded unit outputs 0, so the next
        # layer's weights from it get a zero gradient, and it gets none itself.
        leaks = float(hidden.forward(np.zeros(()), xp=np)) != 0.0
        self.unit_masks = self._unit_masks() if padded and leaks else None

    @property
    def k(self) -> int:
        """The number of models."""
        return len(self.sizes)

    @property
    def depth(self) -> int:
        """``L``, shared by every model."""
        return len(self.width) - 1

    def _values(self, value: PerModel, name: str) -> list[float]:
        """``value`` as one float per model (a single value repeated)."""
        if isinstance(value, (int, float)):
            return [float(value)] * self.k
        values = [float(v) for v in value]
        if len(values) != self.k:
            raise NNBackendError(f"{len(values)} values of {name} for {self.k} models: "
                                 "give one value, or one per model")
        return values

    def _unit_masks(self) -> list[Array | None]:
        host = [None] + [np.zeros((self.k, n, 1)) for n in self.width[1:-1]] + [None]
        for i, sizes in enumerate(self.sizes):
            for l in range(1, self.depth):  # noqa: E741 -- the notes' layer index
                host[l][i, :sizes[l]] = 1.0  # type: ignore[index]
        return [None if h is None else self.backend.asarray(h) for h in host]

    def per_model(self, value: PerModel, name: str = "the hyper-parameter") -> Any:
        """A hyper-parameter as the stacked math takes it.

        Returns a Python float when every model has the same value (the single run's own
        number, and no extra array operation), else a ``(k, 1, 1)`` device array of the
        per-model values, which broadcasts over each model's ``W[l]`` and ``b[l]``.
        """
        values = self._values(value, name)
        if all(v == values[0] for v in values):
            return values[0]
        return self.backend.asarray(np.asarray(values).reshape(self.k, 1, 1))

    def optimizer(self, name: str = "gd", beta1: PerModel = 0.9, beta2: PerModel = 0.999,
                  epsilon: PerModel = 1e-8) -> Optimizer:
        """One update rule for the whole stack, with per-model hyper-parameters where
        they differ (each model's checked as :func:`make_optimizer` checks a run's)."""
        b1, b2, eps = (self._values(v, label) for v, label in
                       ((beta1, "beta1"), (beta2, "beta2"), (epsilon, "epsilon")))
        for values in zip(b1, b2, eps, strict=True):
            make_optimizer(name, *values)
        betas = self.per_model(b1), self.per_model(b2)
        if all(isinstance(beta, float) for beta in betas):
            return Optimizer(name, *betas, self.per_model(eps))
        return StackedOptimizer(name, *betas, self.per_model(eps),
                                host_betas=(tuple(b1), tuple(b2)), stack=self)

    def init_params(self, init: str | Sequence[str] = "small",
                    init_scale: PerModel = 1.0) -> dict[str, Array]:
        """Each model's initial parameters, drawn from its own generator exactly as its
        single run draws them, padded into one stack.

        Parameters
        ----------
        init : str or sequence of str
            The initializer (see :func:`initialize_parameters`), one or one per model.
        init_scale : float or sequence of float
            Its scale, one or one per model.
        """
        inits = [init] * self.k if isinstance(init, str) else list(init)
        if len(inits) != self.k:
            raise NNBackendError(f"{len(inits)} initializers for {self.k} models: give "
                                 "one, or one per model")
        scales = self._values(init_scale, "init_scale")
        return self.stack([initialize_parameters(sizes, method, rng, self.backend, scale)
                           for sizes, method, rng, scale
                           in zip(self.sizes, inits, self.rngs, scales, strict=True)])

    def stack(self, models: Sequence[dict[str, Array]]) -> dict[str, Array]:
        """Pad each model's ``W{l}``, ``b{l}`` (arrays on the stack's backend, or host
        arrays) with zeros to the stack's widths and stack them: ``(k, ...)`` arrays."""
        if len(models) != self.k:
            raise NNBackendError(f"{len(models)} parameter sets for {self.k} models")
        stacked: dict[str, Array] = {}
        for l in range(1, self.depth + 1):  # noqa: E741 -- the notes' layer index
            n, n_prev = self.width[l], self.width[l - 1]
            for name, shape in ((f"W{l}", (n, n_prev)), (f"b{l}", (n, 1))):
                host = np.zeros((self.k, *shape))
                for i, params in enumerate(models):
                    value = np.asarray(self.backend.to_host(params[name]), dtype=np.float64)
                    host[i, :value.shape[0], :value.shape[1]] = value
                stacked[name] = self.backend.asarray(host)
        return stacked

    def model(self, params: dict[str, Array], i: int) -> dict[str, Array]:
        """Model ``i``'s own parameters (or gradients, or optimizer moments) from a stack:
        views of its rows and columns, without the padding."""
        sizes = self.sizes[i]
        out: dict[str, Array] = {}
        for name, value in params.items():
            if name == "t":  # an optimizer state's step count: shared
                out[name] = value
                continue
            l = int(name.lstrip("dvsWb"))  # noqa: E741 -- W3, dW3, vdW3, sdb3 -> 3
            columns = 1 if name.endswith(f"b{l}") else sizes[l - 1]
            out[name] = value[i, :sizes[l], :columns]
        return out

    def masks(self, m: int, keep_prob: PerModel = 1.0) -> list[Array | None] | None:
        """One step's masks for the hidden layers: each model's dropout masks drawn from
        its own generator exactly as its single run draws them (none for a model whose
        ``keep_prob`` is 1), padded with zeros; or the unit masks when no model drops out.

        Parameters
        ----------
        m : int
            The batch size.
        keep_prob : float or sequence of float
            Each model's probability of keeping a hidden unit.

        Returns
        -------
        list or None
            For :class:`nnbackend.training.step.Batch`: index ``l`` is ``(k, n[l], m)``
            (or ``(k, n[l], 1)``) for the hidden layers, None for the input and output.
        """
        keep = self._values(keep_prob, "keep_prob")
        if all(p == 1.0 for p in keep):
            return self.unit_masks
        host_backend = _host()
        host = [np.zeros((self.k, n, m)) for n in self.width[1:-1]]
        for i, (sizes, rng, p) in enumerate(zip(self.sizes, self.rngs, keep, strict=True)):
            drawn = (None if p == 1.0 else
                     dropout_masks(rng, sizes, m, p, host_backend)[1:-1])
            for l, mask in enumerate(host):  # noqa: E741 -- hidden layer l + 1
                mask[i, :sizes[l + 1]] = 1.0 if drawn is None else drawn[l]
        return [None] + [self.backend.asarray(h) for h in host] + [None]

    def permutations(self, m: int) -> np.ndarray:
        """Each model's epoch permutation from its own generator, as its single run draws
        it: a host ``(k, m)`` array of row indices."""
        return np.stack([rng.permutation(m) for rng in self.rngs])

    def gather(self, X: Array, Y: Array, rows: np.ndarray) -> tuple[Array, Array]:
        """Per-model batches: model ``i`` gets the rows ``rows[i]`` of ``X`` and the
        matching columns of ``Y``.

        Parameters
        ----------
        X : array, shape (m, n[0])
            The shared data, as rows, on the stack's device.
        Y : array, shape (n[L], m)
            The encoded targets.
        rows : numpy array of int, shape (k, b)
            Each model's rows (e.g. a slice of :meth:`permutations`).

        Returns
        -------
        Xb : array, shape (k, b, n[0])
        Yb : array, shape (k, n[L], b)
        """
        return self.take(X, Y, self.backend.asarray(rows, dtype="int64"))

    def take(self, X: Array, Y: Array, rows: Array) -> tuple[Array, Array]:
        """:meth:`gather` with the rows ``(k, b)`` already on the device (the training
        loop uploads one permutation per epoch and slices it)."""
        return take_per_model(X, Y, rows, xp=self.backend.xp)


def take_per_model(X: Array, Y: Array, rows: Array, *, xp: Any) -> tuple[Array, Array]:
    """Per-model batches ``(k, b, n[0])`` and ``(k, n[L], b)`` from device rows ``(k, b)``
    (:meth:`ModelStack.take`; a function of the arrays alone, so a compiled step can
    trace it)."""
    index = xp.reshape(rows, (-1,))
    return model_major(xp.take(X, index, axis=0), xp.take(Y, index, axis=1), rows.shape[0],
                       xp=xp)


def model_major(X: Array, Y: Array, k: int, *, xp: Any) -> tuple[Array, Array]:
    """``k`` models' rows gathered model after model, as the stacked math takes them.

    ``X`` ``(k * b, n[0])`` becomes ``(k, b, n[0])`` and ``Y`` ``(n[L], k * b)`` becomes
    ``(k, n[L], b)`` (views). Every gather of a stack's batches (on the device, streamed
    from the host, a rank's share) shapes them here, so all see one memory layout: a
    reduction over another layout may round differently.
    """
    b = X.shape[0] // k
    return (xp.reshape(X, (k, b, X.shape[1])),
            xp.permute_dims(xp.reshape(Y, (Y.shape[0], k, b)), (1, 0, 2)))


@dataclass(frozen=True)
class StackedOptimizer(Optimizer):
    """An update rule whose ``beta1``/``beta2`` differ between the models of a stack.

    The update itself is :class:`Optimizer`'s (the betas are ``(k, 1, 1)`` arrays). Only
    Adam's bias corrections ``1 - beta**t`` and ``sqrt(1 - beta2**t)`` are computed here,
    per model on the host with Python's ``pow`` and ``math.sqrt``, as each single run
    computes them: NumPy's array ``power`` differs from the C library's ``pow`` by an ulp
    for some ``t``, which Adam turns into different trajectories. The rest of
    :meth:`Optimizer.factors`'s formula then runs on the arrays, operation for operation.

    Attributes
    ----------
    host_betas : (tuple of float, tuple of float)
        Each model's ``beta1`` and ``beta2``.
    stack : ModelStack
        Where the per-model corrections are uploaded (one ``(k, 1, 1)`` array each, per
        step; no read back).
    """

    host_betas: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    stack: ModelStack | None = None

    def factors(self, t: int, lr: Any) -> tuple[Any, Any]:
        """:meth:`Optimizer.factors` with per-model bias corrections."""
        if not self.rule.bias_corrected or self.stack is None:
            return super().factors(t, lr)
        b1, b2 = self.host_betas
        c1 = self.stack.per_model([1.0 - beta**t for beta in b1])
        root_c2 = self.stack.per_model([math.sqrt(1.0 - beta**t) for beta in b2])
        return lr * root_c2 / c1, self.epsilon * root_c2
