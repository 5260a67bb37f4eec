"""Divergence: a run whose cost or parameters become NaN or infinite.

A diverged run must never be mistaken for a finished one: no model is saved from it, no
checkpoint holds its parameters, and it reports ``stopped_by == "diverged"``. The checks
cost no host read inside the step loop (on a GPU each read is a synchronisation):

- at each record, the cost already read to the host is checked (:func:`cost_divergence`);
- before each checkpoint and at the end of the run, the parameters are checked on the
  device, with one reduction and one read (:func:`parameters_finite`,
  :func:`check_final_parameters`).

Non-finite parameters stay non-finite under every update rule (``NaN - lr * dW`` is NaN),
so a run that diverged between two records, or after the last one, is caught at the end
whatever the record cadence.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NNBackendError

if TYPE_CHECKING:
    from ..core.backend import Backend
    from .trainer import Trainer

#: The fix every divergence message names.
FIX = "lower the learning rate, or standardize the features"


def parameters_finite(backend: Backend, params: dict[str, Any]) -> bool:
    """Whether every array of ``params`` is finite: one device reduction and one read (a
    GPU sync, so at records, saves and the end of a run, never every step)."""
    xp = backend.xp
    flags = xp.stack([xp.all(xp.isfinite(value)) for value in params.values()])
    return bool(backend.to_host(xp.all(flags)))


def cost_divergence(cost: float, unit: str, count: int) -> str | None:
    """The stop reason when a recorded training ``cost`` is not finite, else None."""
    if math.isfinite(cost):
        return None
    return f"diverged: the training cost became {cost} at {unit} {count}; {FIX}"


def check_final_parameters(trainer: Trainer) -> None:
    """Mark the run diverged when its parameters are no longer finite at its end, whatever
    else stopped it (a divergence between two records, or after the last one)."""
    if trainer.parameters_finite():
        _check_final_cost(trainer)
        return  # (a cost already found non-finite keeps its own, earlier, reason)
    history, st = trainer.state.history, trainer.state
    unit = "epoch" if trainer.by_epoch else "iteration"
    since = (f"after {unit} {history[-1][unit]}" if history and unit in history[-1]
             else "during the run")
    trainer.request_stop("diverged", (
        f"diverged: the parameters became NaN or infinite {since} (found at step "
        f"{st.step}, the end of the run); {FIX}"), override=True)


def _check_final_cost(trainer: Trainer) -> None:
    """Mark the run diverged when its cost after the last step, unrecorded, is not finite.

    Finite parameters can still overflow the cost (a regression whose outputs near 1e155
    square to infinity): the last record saw a finite cost, the steps after it did not.
    One evaluation, as a record makes, and only when the last step made no record.
    """
    st = trainer.state
    unit = "epoch" if trainer.by_epoch else "iteration"
    done = st.epoch if trainer.by_epoch else st.step
    if st.history and st.history[-1].get(unit) == done:  # the record checked its cost
        return
    models = trainer.models  # one model, or a stack (each model's cost checked)
    evaluate_on = models.evaluate if trainer.comm is None else trainer.comm.evaluate
    with trainer.network.backend.compute_mode(), np.errstate(over="ignore", invalid="ignore"):
        cost, _ = evaluate_on(trainer.network, st.params, trainer.X, trainer.Y,
                              models.l2, host=trainer.host_data)
    if models.cost_diverged(trainer, cost):
        trainer.request_stop("diverged", (
            f"diverged: the training cost became {cost} after the last record (found at "
            f"step {st.step}, the end of the run); {FIX}"), override=True)


class DivergedError(NNBackendError):
    """Training diverged: the cost or the parameters became NaN or infinite.

    Raised by :meth:`nnbackend.Model.fit`, the estimators' ``fit`` and
    :meth:`nnbackend.Model.save` instead of handing back (or writing) a model whose
    predictions would be NaN. ``result`` is the run's
    :class:`~nnbackend.training.trainer.TrainingResult` (history included) when known.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def refuse_diverged(result: Any) -> None:
    """Raise :class:`DivergedError` when ``result`` (a ``TrainingResult``) diverged."""
    if result.stopped_by == "diverged":
        raise DivergedError(f"training {result.stop_reason}", result)


def refuse_non_finite(backend: Backend, params: dict[str, Any], path: Any) -> None:
    """Raise :class:`DivergedError` before ``path`` is written from non-finite
    ``params`` (whatever was at ``path`` is kept)."""
    if not parameters_finite(backend, params):
        raise DivergedError(f"the parameters are NaN or infinite (training diverged); "
                            f"nothing was written to {path}, which keeps what it had; {FIX}")
