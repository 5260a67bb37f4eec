"""What a command line calls for ``--distributed`` and ``--device`` under a launcher."""

from __future__ import annotations

from ..core.backend import cuda_pick
from ..errors import NNBackendError
from .communicator import Communicator
from .mpi import MPICommunicator

#: ``--distributed`` values.
DISTRIBUTED_KINDS = ("mpi",)


def connect(kind: str) -> Communicator:
    """The communicator for ``--distributed KIND`` (``mpi``: under ``mpirun``/``srun``).

    Raises
    ------
    NNBackendError
        For an unknown kind, or ``mpi`` without mpi4py (naming the extra to install).
    """
    if kind == "mpi":
        return MPICommunicator()
    raise NNBackendError(f"unknown --distributed {kind!r}; choose {', '.join(DISTRIBUTED_KINDS)}")


def rank_device(device: str, comm: Communicator) -> str:
    """This rank's ``--device``: one GPU per rank on each machine.

    ``cuda`` (and ``auto`` where a CUDA path, PyTorch's or CuPy's, sees a device: the one
    ``--backend auto`` would pick) becomes ``cuda:{local_rank}``; anything else (``cpu``,
    an explicit ``cuda:N``) is kept.
    """
    name = device.strip().lower()
    if name == "cuda" or (name == "auto" and cuda_pick().path is not None):
        return f"cuda:{comm.local_rank}"
    return device
