"""Training steps compiled whole: one compiled program per batch shape (JAX's ``jax.jit``).

Eagerly, a step is dozens of separate array calls (the notes' 2-4-1 flower step is about
40), each dispatched from Python. A backend that compiles whole functions
(:meth:`nnbackend.core.backend.Backend.compile`; JAX, whose XLA compiler fuses the
element-wise work) traces :func:`nnbackend.training.step.train_step` once per batch shape
and runs every later step as one program: JAX's answer to CUDA-graph capture
(:mod:`nnbackend.training.graphed`), behind the same interface, ``step(rows, masks, lr,
with_stats, batch=None)``, so the loop drives either the same way.

What the compiled program takes and gives back:

- the parameters and the optimizer's moving averages, *donated*: the program may write its
  results into their memory, so the runner keeps only what its own last step returned
  (it copies the arrays it starts from once, and early stopping copies what it keeps);
- the data (or the batch, for data streamed from the host), the batch's row indices (the
  gather is part of the program; a stack's per-model gather too), the dropout masks;
- the learning rate and the optimizer's per-step factors (Adam's bias-corrected rate and
  epsilon) as traced scalars, computed on the host from the very floats the eager step
  would use, so a decayed rate or a new step count never compiles again.

The step's settings (activations, loss, update rule, L2, a stack's per-model
hyper-parameters) are closed over: fixed for the run. The results equal the eager steps'
within float rounding: XLA may fuse and reorder operations (docs/devices.md gives the
measured differences).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.backend import Backend
from ..core.optimizers import State, Update
from .stack import take_per_model
from .step import Batch, StepSpec, StepStats, train_step

Array = Any


class CompiledSteps:
    """Runs :func:`train_step` compiled whole by the backend (``Backend.compile``).

    Parameters
    ----------
    backend : Backend
        Must compile (``backend.compiles``: JAX).
    spec : StepSpec
        The run's step (closed over by the compiled program).
    X : array, shape (m, n[0]), or None
        All training examples (on the device); batches are gathered from it inside the
        program. None when the data stays on the host: each step is then given its batch.
    Y : array, shape (n[L], m), or None
        All encoded targets (None with ``X``).
    params, opt_state : dict
        Where training starts; copied once, so the caller's arrays are never donated.
    """

    def __init__(self, backend: Backend, spec: StepSpec, X: Array | None, Y: Array | None,
                 params: dict[str, Array], opt_state: State) -> None:
        xp = self.xp = backend.xp
        self.spec, self.X, self.Y = spec, X, Y
        self.params = {name: xp.asarray(value, copy=True) for name, value in params.items()}
        self.moments = {name: xp.asarray(value, copy=True)
                        for name, value in opt_state.items() if name != "t"}
        self.t: int = opt_state["t"]
        self._run = _program(backend, spec)

    @property
    def opt_state(self) -> State:
        """The optimizer state as :meth:`Optimizer.step` returns it."""
        return {"t": self.t, **self.moments}

    def step(self, rows: Array | None, masks: list[Any] | None, lr: Any,
             with_stats: bool, batch: tuple[Array, Array] | None = None
             ) -> StepStats | None:
        """One training step on the rows ``rows`` of the data (None: all of it), or on
        ``batch = (X, Y)`` given on the device (data streamed from the host).

        Returns the batch statistics when ``with_stats``.
        """
        spec = self.spec
        factors = None if spec.linear else spec.optimizer.factors(self.t + 1, lr)
        X, Y = (self.X, self.Y) if batch is None else batch
        self.params, self.moments, stats = self._run(
            self.params, self.moments, X, Y, None if batch is not None else rows, masks, lr,
            factors, with_stats=with_stats)
        self.t += 1
        return stats


#: Compiled programs by (backend, spec): every run with the same settings reuses one
#: program (and JAX's cache of its compilations per batch shape) instead of compiling
#: anew, which took 0.3 s (planar) to 5 s (wide) per run on a 2-core CPU.
_PROGRAMS: dict[tuple[str, StepSpec], Callable[..., Any]] = {}


def _program(backend: Backend, spec: StepSpec) -> Callable[..., Any]:
    """The compiled step for ``spec``, shared by the runs whose spec is equal where it is
    hashable (a stack's per-model hyper-parameters are arrays: such a run compiles its
    own)."""
    try:
        program = _PROGRAMS.get((backend.name, spec))
    except TypeError:  # unhashable: arrays among the settings
        cached, program = False, None
    else:
        cached = True
    if program is not None:
        return program
    xp = backend.xp

    def run(params: dict[str, Array], moments: dict[str, Array], X: Array, Y: Array,
            rows: Array | None, masks: list[Any] | None, lr: Any,
            factors: tuple[Any, Any] | None, with_stats: bool
            ) -> tuple[dict[str, Array], State, StepStats | None]:
        # The batch: all of the data, one model's rows (b,), or a stack's per-model rows
        # (k, b) (the loop's gathers: OneModel.gather, StackedModels.gather).
        Xb, Yb = (X, Y) if rows is None else (
            (xp.take(X, rows, axis=0), xp.take(Y, rows, axis=1)) if rows.ndim == 1
            else take_per_model(X, Y, rows, xp=xp))
        ones = xp.ones_like(Xb[0, :, :1] if Xb.ndim == 3 else Xb[:, :1])  # for db
        # The step count is the runner's (a host int); the moving averages' factors come
        # in as arguments, so t itself is never read inside the program.
        new_params, state, stats = train_step(
            params, {"t": 0, **moments}, Batch(Xb, Yb, masks, ones), lr, spec,
            with_stats=with_stats, update=Update(factors=factors), xp=xp)
        del state["t"]
        return new_params, state, stats

    # One compilation per distinct argument shape and with_stats, made on demand.
    program = backend.compile(run, static=("with_stats",), donate=("params", "moments"))
    if cached:
        _PROGRAMS[backend.name, spec] = program
    return program
