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
#: Graph key: (batch size, with statistics, dropout, learning rate for plain gd or None).
Key = tuple[int, bool, bool, float | None]


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
    """

    def __init__(self, backend: Backend, spec: StepSpec, X: Array | None, Y: Array | None,
                 params: dict[str, Array], opt_state: State) -> None:
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
        first = next(iter(self.params.values()))
        self.factors: tuple[Array, Array] | None = (
            None if spec.linear else
            (xp.zeros_like(first[0, 0]), xp.zeros_like(first[0, 0])))
        # Where a graph leaves the batch statistics (a replay cannot hand out new arrays).
        self.stats = StepStats(xp.zeros_like(first[0, 0]), xp.zeros_like(first[0, 0]))
        self.inputs: dict[int, _StaticInputs] = {}
        self.graphs: dict[Key, Callable[[], None]] = {}
        self.graphed_lr: float | None = None  # plain gd's rate baked into self.graphs
        self.warmed: set[Key] = set()

    @property
    def opt_state(self) -> State:
        """The optimizer state as :meth:`Optimizer.step` returns it (static arrays)."""
        return {"t": self.t, **self.moments}

    def step(self, rows: Array | None, masks: list[Any] | None, lr: float,
             with_stats: bool, batch: tuple[Array, Array] | None = None
             ) -> StepStats | None:
        """One training step on the rows ``rows`` of the data (None: all of it), or on
        ``batch = (X, Y)`` given on the device (data streamed from the host).

        Returns the batch statistics (fresh arrays) when ``with_stats``.
        """
        xp, spec = self.xp, self.spec
        if batch is not None:
            size = batch[0].shape[0]
        else:
            assert self.X is not None
            size = self.X.shape[0] if rows is None else rows.shape[0]
        inputs = self.inputs.get(size)
        if inputs is None:
            if batch is not None:
                template = batch[0]
            else:
                assert self.X is not None
                template = self.X[:size, :]
            inputs = self.inputs[size] = _StaticInputs(rows, batch, masks,
                                                       xp.ones_like(template[:, :1]), xp=xp)
        inputs.load(rows, batch, masks)
        if self.factors is not None:
            lr_t, eps_t = spec.optimizer.factors(self.t + 1, lr)
            self.backend.fill(self.factors[0], lr_t)
            self.backend.fill(self.factors[1], eps_t)
        linear_lr = lr if spec.linear else None
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

    def _run(self, inputs: _StaticInputs, lr: float, with_stats: bool) -> None:
        """The step on the static arrays: what is warmed up, then captured."""
        xp = self.xp
        if inputs.batch is not None:
            X, Y = inputs.batch
        elif inputs.rows is None:
            X, Y = self.X, self.Y
        else:
            X = xp.take(self.X, inputs.rows, axis=0)
            Y = xp.take(self.Y, inputs.rows, axis=1)
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
