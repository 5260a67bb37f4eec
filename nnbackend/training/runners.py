"""Which runner takes the loop's steps: a CUDA graph, a compiled program, the data-parallel
steps of a communicator, or none (eager :func:`~nnbackend.training.step.train_step`).

Every runner has the interface of :class:`~nnbackend.training.graphed.GraphedSteps`:
``step(rows, masks, lr, with_stats, batch=None) -> stats``, and ``params``/``opt_state``
after each step; the loop drives any of them the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .compiled import CompiledSteps
from .graphed import GraphedSteps
from .step import StepSpec

if TYPE_CHECKING:
    from .trainer import Trainer

#: A runner of the loop's steps (the data-parallel one lives in nnbackend.distributed).
Runner = Any


def step_runner(trainer: Trainer, spec: StepSpec) -> Runner | None:
    """The runner of ``trainer``'s steps, with its state moved onto the runner's arrays
    (static arrays of a CUDA graph, or a compiled step's own, donated ones); None for
    eager steps."""
    if not (trainer.use_graphs or trainer.compiled):
        # A data-parallel run's steps (nnbackend.distributed) have the same interface.
        return None if trainer.comm is None else trainer.comm.data_parallel(trainer, spec)
    st, backend = trainer.state, trainer.network.backend
    X, Y = (None, None) if trainer.host_data else (trainer.X, trainer.Y)
    runner: GraphedSteps | CompiledSteps = (
        GraphedSteps(backend, spec, X, Y, st.params, st.optimizer_state,
                     gather=trainer.models.gather)
        if trainer.use_graphs else
        CompiledSteps(backend, spec, X, Y, st.params, st.optimizer_state))
    st.params, st.optimizer_state = runner.params, runner.opt_state
    return runner
