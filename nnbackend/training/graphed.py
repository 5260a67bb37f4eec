"""Training steps replayed as CUDA graphs: one capture per batch shape, then replays.

A small network's step on a GPU is dozens of tiny kernels, and launching them one by one
from Python costs more than running them: the notes' 2-4-1 flower step is about 25
kernels of a few microseconds each. A CUDA graph records the kernels of one
:func:`nnbackend.training.step.train_step` once and replays them with one launch.

A replay reads and writes the very memory the capture saw, so everything that changes
between steps lives in *static* arrays owned here, refreshed before each replay:

- the parameters and the optimizer's moving averages (updated in place by the step);
- the batch's row indices (copied from the epoch's permutation on the device; the
  gather itself is part of the graph) and the dropout masks;
- the optimizer's per-step factors (Adam's bias-corrected learning rate and epsilon),
  0-d arrays refilled from the very floats the eager step would use.

Plain gradient descent bakes its learning rate into the graph (it rides on ``dZ[L]``), so
a decayed learning rate means a new capture, once per change. Each distinct step (batch
size, with or without statistics, dropout) is captured the second time it is seen: the
first run is an eager warm-up on a side stream, a real step like every other.

A stack of ``k`` models (:mod:`nnbackend.training.stacked`) runs through the same graphs:
its rows are ``(k, b)`` (each model's own, gathered in the graph by the stack's
``gather``), its masks and statistics carry the model axis, and its factors are
``(k, 1, 1)`` static arrays. Plain gradient descent keeps a rate shared by every model
baked in as above; per-model rates (a ``(k, 1, 1)`` array, 0 for a frozen model) live in
a static array refilled before each replay, so freezing a model or a decay recaptures
nothing.

The results equal the eager steps' exactly: the graph replays the same kernels on the same
inputs. The backend provides the capture itself (:class:`nnbackend.core.backend.GraphCapture`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.backend import Backend
from ..core.optimizers import State, Update
from ..errors import NNBackendError, SettingError, literal
from .step import Batch, StepSpec, StepStats, train_step

Array = Any
#: Graph key: (batch size, with statistics, dropout, learning rate for plain gd or None):
#: a float is baked in; :data:`PER_MODEL` stands for a stack's static array of rates.
Key = tuple[int, bool, bool, float | str | None]
#: Plain gd's key for per-model rates, read from a static array (never baked in).
PER_MODEL = "per-model rates"
#: ``gather(X, Y, rows) -> (Xb, Yb)``: a batch's examples and targets on the device.
Gather = Callable[[Array, Array, Array], tuple[Array, Array]]


class _StaticInputs:
    """The arrays one batch size's graphs read: row indices or the batch itself (data
    streamed from the host), dropout masks, a column of ones."""

    def __init__(self, rows: Array | None, batch: tuple[Array, Array] | None,
                 masks: list[Any] | None, ones: Array, *, xp: Any) -> None:
        self.rows = None if rows is None else xp.asarray(rows, copy=True)
        self.batch = None if batch is None else tuple(xp.asarray(a, copy=True) for a in batch)
        self.masks = None if masks is None else [
            None if m is None else xp.asarray(m, copy=True) for m in masks]
        self.ones = ones

    def load(self, rows: Array | None, batch: tuple[Array, Array] | None,
             masks: list[Any] | None) -> None:
        """Copy this step's inputs into the static arrays (device-side copies)."""
        if rows is not None and self.rows is not None:
            self.rows[...] = rows
        if batch is not None and self.batch is not None:
            for static, given in zip(self.batch, batch, strict=True):
                static[...] = given
        if masks is not None and self.masks is not None:
            for static, mask in zip(self.masks, masks, strict=True):
                if static is not None:
                    static[...] = mask


class GraphedSteps:
    """Runs :func:`train_step` through captured CUDA graphs, on arrays it owns.

    Parameters
    ----------
    backend : Backend
        Must have a ``graph_capture`` (PyTorch on CUDA).
    spec : StepSpec
        The run's step.
    X : array, shape (m, n[0]), or None
        All training examples (on the device); batches are gathered from it in the graph.
        None when the data stays on the host: each step is then given its batch.
    Y : array, shape (n[L], m), or None
        All encoded targets (None with ``X``).
    params, opt_state : dict
        Where training starts; copied once, so the caller's arrays are never written.
        A stack's (``W1`` of shape ``(k, n[1], n[0])``) makes every per-step array carry
        the model axis.
    gather : callable, optional
        ``gather(X, Y, rows) -> (Xb, Yb)`` inside the graph; default ``take`` of one
        model's rows ``(b,)``. A stack passes its per-model gather of rows ``(k, b)``
        (:meth:`nnbackend.training.stack.ModelStack.take`).
    """

    def __init__(self, backend: Backend, spec: StepSpec, X: Array | None, Y: Array | None,
                 params: dict[str, Array], opt_state: State,
                 gather: Gather | None = None) -> None:
        if backend.graph_capture is None:
            raise SettingError(f"cannot use CUDA graphs on {literal(backend.describe())}: "
                               f"{literal(backend.graph_unavailable)}; use {{backend}} torch "
                               "{device} cuda, or {cuda_graph} off")
        xp = self.xp = backend.xp
        self.backend = backend
        self.capture = backend.graph_capture
        self.spec, self.X, self.Y = spec, X, Y
        self.params = {name: xp.asarray(value, copy=True) for name, value in params.items()}
        self.moments = {name: xp.asarray(value, copy=True)
                        for name, value in opt_state.items() if name != "t"}
        self.t: int = opt_state["t"]
        self.gather = gather or _take_rows(xp)
        first = next(iter(self.params.values()))
        stacked = first.ndim == 3
        # One model's factors are 0-d, a stack's (k, 1, 1); statistics 0-d or (k,).
        factor, figure = (first[:, :1, :1], first[:, 0, 0]) if stacked else (first[0, 0],) * 2
        self.factors: tuple[Array, Array] | None = (
            None if spec.linear else (xp.zeros_like(factor), xp.zeros_like(factor)))
        # Plain gd's per-model rates (a stack's (k, 1, 1) array), made at the first one.
        self.rates: Array | None = None
        # Where a graph leaves the batch statistics (a replay cannot hand out new arrays).
        self.stats = StepStats(xp.zeros_like(figure), xp.zeros_like(figure))
        self.inputs: dict[int, _StaticInputs] = {}
        self.graphs: dict[Key, Callable[[], None]] = {}
        self.graphed_lr: float | str | None = None  # plain gd: the key part of self.graphs
        self.warmed: set[Key] = set()

    @property
    def opt_state(self) -> State:
        """The optimizer state as :meth:`Optimizer.step` returns it (static arrays)."""
        return {"t": self.t, **self.moments}

    def step(self, rows: Array | None, masks: list[Any] | None, lr: Any,
             with_stats: bool, batch: tuple[Array, Array] | None = None
             ) -> StepStats | None:
        """One training step on the rows ``rows`` of the data (None: all of it), or on
        ``batch = (X, Y)`` given on the device (data streamed from the host).

        ``rows`` is ``(b,)``, or a stack's ``(k, b)``; ``batch`` a stack's ``(k, b, n[0])``
        and ``(k, n[L], b)``; ``lr`` a float, or a stack's ``(k, 1, 1)`` per-model rates.
        Returns the batch statistics (fresh arrays) when ``with_stats``.
        """
        xp, spec = self.xp, self.spec
        if batch is not None:
            size = batch[0].shape[-2]
        else:
            assert self.X is not None
            size = self.X.shape[0] if rows is None else rows.shape[-1]
        inputs = self.inputs.get(size)
        if inputs is None:
            if batch is not None:
                template = batch[0] if batch[0].ndim == 2 else batch[0][0]
            else:
                assert self.X is not None
                template = self.X[:size, :]
            inputs = self.inputs[size] = _StaticInputs(rows, batch, masks,
                                                       xp.ones_like(template[:, :1]), xp=xp)
        inputs.load(rows, batch, masks)
        if self.factors is not None:
            for static, value in zip(self.factors, spec.optimizer.factors(self.t + 1, lr),
                                     strict=True):
                self._load(static, value)
        linear_lr: float | str | None = None
        if spec.linear:
            if isinstance(lr, (int, float)):
                linear_lr = lr  # baked in, as the eager step's Python float
            else:
                if self.rates is None:
                    self.rates = xp.asarray(lr, copy=True)
                self.rates[...] = lr
                linear_lr, lr = PER_MODEL, self.rates
        key: Key = (size, with_stats, masks is not None, linear_lr)
        if linear_lr != self.graphed_lr:
            # A decayed learning rate: graphs of the old rate are never replayed again.
            self.graphs.clear()
            self.graphed_lr = linear_lr
        if key in self.graphs:
            self.graphs[key]()
        elif key in self.warmed:
            replay = self.capture.capture(lambda: self._run(inputs, lr, with_stats))
            self.graphs[key] = replay
            replay()
        else:
            self.capture.warm_up(lambda: self._run(inputs, lr, with_stats))
            self.warmed.add(key)
        self.t += 1
        if not with_stats:
            return None
        # The static statistics are overwritten by the next step: hand out copies.
        return StepStats(xp.asarray(self.stats.cost_sum, copy=True),
                         None if spec.output.task == "regression" else
                         xp.asarray(self.stats.hits_sum, copy=True))

    def _load(self, static: Array, value: Any) -> None:
        """Refill a static factor from a Python float, or copy a stack's per-model array."""
        if isinstance(value, (int, float)):
            self.backend.fill(static, float(value))
        else:
            static[...] = value

    def _run(self, inputs: _StaticInputs, lr: float, with_stats: bool) -> None:
        """The step on the static arrays: what is warmed up, then captured."""
        xp = self.xp
        if inputs.batch is not None:
            X, Y = inputs.batch
        elif inputs.rows is None:
            X, Y = self.X, self.Y
        else:
            X, Y = self.gather(self.X, self.Y, inputs.rows)
        params, state, stats = train_step(
            self.params, self.opt_state, Batch(X, Y, inputs.masks, inputs.ones), lr,
            self.spec, with_stats=with_stats,
            update=Update(in_place=True, factors=self.factors), xp=xp)
        if any(params[name] is not value for name, value in self.params.items()) or any(
                state[name] is not value for name, value in self.moments.items()):
            raise NNBackendError("internal error: a captured step must update its arrays "
                                 "in place")
        if stats is not None:
            self.stats.cost_sum[...] = stats.cost_sum
            static_hits = self.stats.hits_sum  # always an array here (made in __init__)
            if stats.hits_sum is not None and static_hits is not None:
                static_hits[...] = stats.hits_sum


def _take_rows(xp: Any) -> Gather:
    """One model's gather: rows ``(b,)`` of ``X`` and the matching columns of ``Y``."""
    def take(X: Array, Y: Array, rows: Array) -> tuple[Array, Array]:
        return xp.take(X, rows, axis=0), xp.take(Y, rows, axis=1)
    return take
