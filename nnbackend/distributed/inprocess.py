"""Ranks as threads of one process: the data-parallel code path, testable without MPI.

:func:`run_ranks` runs ``fn(comm)`` on ``k`` threads, each with its own
:class:`InProcessCommunicator`, exactly as ``mpirun -n k`` runs a script once per process:
every rank builds its own network, generator and trainer, and they meet only in the
communicator's collectives. ``allreduce_sum`` adds the ranks' buffers in rank order on
every rank (so all get the same bits); with ``device_buffers=False`` (the default, as
MPI) it accepts host NumPy buffers only, so a step that hands it a device array fails
here as it would under MPI.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import numpy as np  # host buffers only: the check that mirrors MPI's

from ..errors import NNBackendError
from .communicator import Communicator

Array = Any


class _World:
    """What the ranks of one :func:`run_ranks` share: a barrier and one slot per rank."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=timeout)
        self.slots: list[Any] = [None] * size


class InProcessCommunicator(Communicator):
    """One thread's rank in a :func:`run_ranks` group (see the module docstring).

    Parameters
    ----------
    world : _World
        Shared by the group's communicators.
    rank : int
        This rank; ``local_rank`` is the same (one "machine").
    device_buffers : bool
        Sum device arrays directly (as NCCL would) instead of host NumPy arrays (as MPI).
    """

    def __init__(self, world: _World, rank: int, device_buffers: bool = False) -> None:
        self._world = world
        self.rank = self.local_rank = rank
        self.size = world.size
        self.device_buffers = device_buffers

    def _exchange(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (valid until this rank's next call)."""
        world = self._world
        world.slots[self.rank] = value
        world.barrier.wait()
        values = list(world.slots)
        world.barrier.wait()  # every rank has read every slot before any is replaced
        return values

    def allreduce_sum(self, buffer: Array) -> Array:
        if not self.device_buffers and not isinstance(buffer, np.ndarray):
            raise NNBackendError(f"this communicator sums host NumPy buffers, got "
                                 f"{type(buffer).__name__}: copy it with Backend.to_host")
        parts = self._exchange(buffer)
        if any(part.shape != buffer.shape for part in parts):
            shapes = [tuple(part.shape) for part in parts]
            raise NNBackendError(f"the ranks' all-reduce buffers differ in shape: {shapes}")
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total

    def broadcast(self, value: Any, root: int = 0) -> Any:
        got = self._exchange(value)[root]
        return got if self.rank == root else copy.deepcopy(got)

    def allgather(self, value: Any) -> list[Any]:
        return [copy.deepcopy(got) for got in self._exchange(value)]

    def barrier(self) -> None:
        self._world.barrier.wait()


def run_ranks(size: int, fn: Callable[[InProcessCommunicator], Any], *,
              device_buffers: bool = False, timeout: float = 120.0) -> list[Any]:
    """Run ``fn(comm)`` as ``size`` ranks on threads; their results in rank order.

    Parameters
    ----------
    size : int
        Number of ranks (>= 1).
    fn : callable
        The per-rank program, e.g. build a network and train it with ``comm=comm``.
    device_buffers : bool
        See :class:`InProcessCommunicator`.
    timeout : float
        Seconds a rank waits for the others at a collective before failing (a rank that
        skipped one would otherwise hang the test).

    Raises
    ------
    Exception
        The first rank's own error (not the broken barriers it caused on the others).
    """
    if size < 1:
        raise NNBackendError(f"the number of ranks must be >= 1, got {size}")
    world = _World(size, timeout)
    results: list[Any] = [None] * size
    errors: list[BaseException | None] = [None] * size

    def rank_main(rank: int) -> None:
        try:
            results[rank] = fn(InProcessCommunicator(world, rank, device_buffers))
        except BaseException as error:  # handed to the caller below
            errors[rank] = error
            world.barrier.abort()  # the others fail at their next collective, not hang

    threads = [threading.Thread(target=rank_main, args=(rank,), name=f"rank {rank}")
               for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    raised = [error for error in errors if error is not None]
    own = [error for error in raised if not isinstance(error, threading.BrokenBarrierError)]
    if raised:
        raise (own or raised)[0]
    return results
