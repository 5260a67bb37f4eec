"""The communicator seam: what a data-parallel run needs from its engine, and nothing more.

A :class:`Communicator` knows its ``rank`` among ``size`` processes (and ``local_rank`` on
its machine, which picks a GPU), sums one flat buffer over all ranks (``allreduce_sum``),
broadcasts a small Python value from one rank or gathers one from each, and waits at a
barrier. Engines:

- :class:`nnbackend.distributed.mpi.MPICommunicator`: mpi4py over any MPI (``mpirun``,
  ``srun``); it sums host NumPy buffers.
- :class:`nnbackend.distributed.inprocess.InProcessCommunicator`: ``k`` ranks as threads of
  one process, for tests.
- An NCCL communicator (one rank per GPU) fits the same seam without touching the step:
  ``device_buffers = True`` says its ``allreduce_sum`` takes the backend's device array
  itself (CuPy's ``cupy.cuda.nccl.NcclCommunicator.allReduce`` on the array's pointer, on
  the current stream), so the gradients never cross to the host. Its unique id is made on
  rank 0 and handed to the others with an :class:`MPICommunicator`'s ``broadcast``; its
  ``rank``/``size``/``local_rank`` are MPI's; ``broadcast`` and ``barrier`` stay MPI's.

The training loop cannot import this package (it sits below it, see docs/ARCHITECTURE.md),
so a communicator also carries the two hooks the loop calls, :meth:`data_parallel` and
:meth:`evaluate`, which build the data-parallel step and evaluation around it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from ..training.stops import StopVote
from .evaluation import evaluate_sharded
from .runner import ShardedSteps

if TYPE_CHECKING:
    from ..core.network import Network
    from ..training.step import StepSpec
    from ..training.trainer import Trainer

Array = Any


class Communicator(ABC):
    """One rank's view of a group of processes that train one model together.

    Attributes
    ----------
    rank : int
        This process's index, ``0 <= rank < size``; rank 0 alone reports and saves.
    size : int
        Number of ranks.
    local_rank : int
        Index among the ranks on this machine (``cuda:{local_rank}`` under one rank per GPU).
    device_buffers : bool
        True when :meth:`allreduce_sum` takes the backend's device arrays (NCCL, a
        CUDA-aware MPI); False when it takes host NumPy arrays, which the step then copies
        to the host and back (a few kB of gradients per step on small networks).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device_buffers: bool = False

    @abstractmethod
    def allreduce_sum(self, buffer: Array) -> Array:
        """Sum a flat 1-D buffer element-wise over all ranks; every rank gets the sum.

        Parameters
        ----------
        buffer : array, shape (n,)
            The same length and dtype on every rank: a host NumPy array, or a device
            array where :attr:`device_buffers` is True.

        Returns
        -------
        array, shape (n,)
            The sum, identical on every rank. It may be ``buffer`` itself, written in
            place: use the returned array.
        """

    @abstractmethod
    def broadcast(self, value: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``value`` (a small picklable Python object) on every rank."""

    @abstractmethod
    def allgather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (a small picklable Python object), in rank order, on
        every rank."""

    @abstractmethod
    def barrier(self) -> None:
        """Return once every rank has called it."""

    _stop_vote: StopVote | None = None

    @property
    def stop_vote(self) -> StopVote:
        """This rank's requests to stop, summed with the next step's gradients so that
        every rank stops after the same step (:mod:`nnbackend.training.stops`)."""
        if self._stop_vote is None:
            self._stop_vote = StopVote()
        return self._stop_vote

    def abort(self, code: int = 1) -> None:
        """End the job with exit status ``code``, after an error on this rank that the
        others would otherwise wait on in their next collective.

        This base version ends this process only; engines whose ranks are separate
        processes override it to end them all (MPI's ``Abort``).
        """
        raise SystemExit(code)

    @property
    def is_root(self) -> bool:
        """True on rank 0, the one that prints, saves and checkpoints."""
        return self.rank == 0

    def describe(self) -> str:
        """One line for logs, e.g. ``rank 1 of 4 (local 1)``."""
        return f"rank {self.rank} of {self.size} (local {self.local_rank})"

    # The loop's hooks (see the module docstring).

    def data_parallel(self, trainer: Trainer, spec: StepSpec) -> ShardedSteps:
        """The step runner the training loop drives instead of :func:`train_step`."""
        return ShardedSteps(trainer, spec, self)

    def evaluate(self, network: Network, params: dict[str, Array], X: Array, Y: Array,
                 l2: Any, host: bool = False, masks: list[Any] | None = None
                 ) -> tuple[Any, Any]:
        """:func:`nnbackend.training.evaluation.evaluate`, each rank on its share of the rows."""
        return evaluate_sharded(self, network, params, X, Y, l2, host, masks)

