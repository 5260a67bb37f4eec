"""The training loop's data-parallel step runner: this rank's rows of each batch.

:class:`nnbackend.training.trainer.Trainer` drives it through the interface of its CUDA
graph runner (``step(rows, masks, lr, with_stats, batch=None) -> stats``, then ``params``
and ``opt_state``), so the loop itself is unchanged. Per step, from the loop's batch:

- the batch's rows: ``rows`` (a slice of the epoch's permutation, the same on every rank,
  drawn from the shared seeded generator), or all of the data (full batch), or, for data
  kept on the host, the epoch's host permutation; the rank keeps its contiguous part
  (:func:`shard_bounds`) and gathers only those rows;
- the dropout masks, drawn for the whole batch by the loop as in one process (so the
  generator advances identically everywhere), cut to the rank's columns;
- a stack of models (:mod:`nnbackend.training.stacked`): rows ``(k, b)``, one order per
  model; the rank keeps the same columns of every model's rows and gathers them with the
  stack's gather, so each model's batch is split over the ranks as a single run's is,
  and the stacked gradients ride in the one buffer;
- :func:`nnbackend.distributed.step.sharded_train_step`, whose all-reduce also carries
  the ranks' stop vote (:class:`nnbackend.training.stops.StopVote`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.optimizers import State, donation_updates
from ..errors import NNBackendError
from ..training.stack import model_major
from ..training.step import Batch, StepSpec, StepStats
from .reduce import FlatSum
from .shards import shard_bounds
from .step import sharded_train_step

if TYPE_CHECKING:
    from ..training.trainer import Trainer
    from .communicator import Communicator

Array = Any


class ShardedSteps:
    """Data-parallel steps of one run, for :class:`nnbackend.training.trainer.Trainer`.

    Parameters
    ----------
    trainer : Trainer
        The run (its data, batch size, state and host generator's permutation).
    spec : StepSpec
        What a step computes.
    comm : Communicator
        This rank's communicator.

    Attributes
    ----------
    params, opt_state : dict
        After each step: the new parameters and optimizer state (the same on every rank).
    reduce : FlatSum
        The step's all-reduce; its ``seconds`` and ``calls`` time the communication.
    """

    def __init__(self, trainer: Trainer, spec: StepSpec, comm: Communicator) -> None:
        self.trainer, self.spec, self.comm = trainer, spec, comm
        backend = trainer.network.backend
        self.backend, self.xp = backend, backend.xp
        self.reduce = FlatSum(comm, backend)
        st = trainer.state
        self.params: dict[str, Array] = st.params
        self.opt_state: State = st.optimizer_state
        # Donation as in the loop: only arrays this runner's own previous step made.
        self._owned: tuple[Any, Any] = (None, None)
        self._updates = donation_updates(backend.mutable_arrays, backend.update_block_bytes)
        self._ones: dict[int, Array] = {}
        self._check_ranks_agree()

    def _check_ranks_agree(self) -> None:
        """The same one-line error on every rank unless all run the same problem."""
        tr = self.trainer
        mine = (tr.m, tr.batch, tr.total_steps, tuple(tr.network.layer_sizes))
        expected = self.comm.broadcast(mine)
        flag = self.backend.asarray([0.0 if mine == expected else 1.0])
        # Its own FlatSum, so that reduce.seconds times the steps' all-reduces alone.
        if self.backend.to_float(FlatSum(self.comm, self.backend)([flag])[0][0]) > 0:
            raise NNBackendError(
                f"the ranks disagree on (examples, batch size, steps, layer sizes): rank 0 "
                f"has {expected}, rank {self.comm.rank} {mine}; give every rank the same data "
                "and options")

    def _sum_with_vote(self, arrays: Sequence[Array]) -> list[Array]:
        """The step's one all-reduce, with this rank's stop vote riding at its end: a
        signal on any rank becomes a stop of every rank after this same step."""
        vote = self.comm.stop_vote
        summed = self.reduce([*arrays, vote.flags(self.backend)])
        vote.summed(summed[-1], self.reduce.host_sum)
        return summed[:-1]

    def _rows(self, rows: Array | None, batch: tuple[Array, Array] | None, start: int,
              lo: int, hi: int) -> tuple[Array, Array]:
        """This rank's ``(X, Y)`` of the batch starting at row ``start`` of the epoch."""
        tr = self.trainer
        if batch is not None:  # a batch already on the device: cut it
            return batch[0][..., lo:hi, :], batch[1][..., lo:hi]
        if tr.host_data:  # gather only this rank's rows on the host (a memory map reads them)
            own = tr.state.order[..., start + lo:start + hi]
            X = self.backend.asarray(tr.X[own.reshape(-1)])
            Y = self.backend.asarray(tr.Y[:, own.reshape(-1)])
            k = tr.models.k  # a stack's rows are (k, b_r), gathered model after model
            return (X, Y) if k is None else model_major(X, Y, k, xp=self.xp)
        if rows is None:  # full batch: a contiguous part of the data, no copy
            return tr.X[lo:hi, :], tr.Y[:, lo:hi]
        return tr.models.gather(tr.X, tr.Y, rows[..., lo:hi])

    def step(self, rows: Array | None, masks: list[Any] | None, lr: Any, with_stats: bool,
             batch: tuple[Array, Array] | None = None) -> StepStats | None:
        """One step on this rank's share of the loop's batch; the whole batch's stats.

        Parameters
        ----------
        rows : array or None
            The batch's rows of the data (a device slice of the epoch's permutation), or
            None for all rows (full batch) and for data kept on the host.
        masks : list or None
            The whole batch's dropout masks, as the loop drew them.
        lr : float or array
            The step's learning rate (a stack's: per model, ``(k, 1, 1)``).
        with_stats : bool
            Return the batch's loss and accuracy sums (reduced with the gradients).
        batch : (X, Y), optional
            The whole batch already on the device.
        """
        tr = self.trainer
        st = tr.state
        start = st.batch_start  # the loop moves it on after the step
        size = min(tr.batch, tr.m - start)
        lo, hi = shard_bounds(size, self.comm.rank, self.comm.size)
        X, Y = self._rows(rows, batch, start, lo, hi)
        if masks is not None:
            # A padded stack's unit masks (one column) hold for every row: kept whole.
            masks = [None if D is None else D if D.shape[-1] == 1 else D[..., lo:hi]
                     for D in masks]
        owned = hi - lo
        if owned not in self._ones:
            self._ones[owned] = tr.models.ones(X)
        params, opt_state = st.params, st.optimizer_state
        update = self._updates[params is self._owned[0] and params is not st.best_params,
                               opt_state is self._owned[1]]
        self.params, self.opt_state, stats = sharded_train_step(
            params, opt_state, Batch(X, Y, masks, self._ones[owned]), lr, self.spec,
            self._sum_with_vote, batch_size=size, with_stats=with_stats, update=update, xp=self.xp)
        self._owned = (self.params, self.opt_state)
        return stats
