"""One all-reduce for a whole step: many arrays flattened into one buffer, summed, split.

A step's gradients are one array per parameter (``dW1, db1, ...``), plus, in recorded
steps, the batch's loss and accuracy sums; one collective call over one flat buffer costs
one latency instead of one per array (an MPI all-reduce of a few kB took 6-64 us on the
project's 2-core machine, two ranks). A communicator that sums host buffers gets a host
copy (``Backend.to_host``, explicit), and the sum goes back with ``Backend.asarray``; one
that sums device buffers (NCCL) gets the device array itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.backend import Backend

if TYPE_CHECKING:
    from .communicator import Communicator

Array = Any


class FlatSum:
    """Sum a list of device arrays over the ranks with one ``allreduce_sum``.

    Parameters
    ----------
    comm : Communicator
        The ranks to sum over.
    backend : Backend
        Where the arrays live (their namespace, and the host bridges).

    Attributes
    ----------
    seconds : float
        Wall time spent in the collective, host copies included (on a GPU with device
        buffers it measures the launch, not the transfer).
    calls : int
        Collective calls made.
    host_sum : ndarray or None
        The last summed buffer where it came back to the host (host-buffer engines), for
        reading small parts of it without another device sync; None otherwise.
    """

    def __init__(self, comm: Communicator, backend: Backend) -> None:
        self.comm, self.backend, self.xp = comm, backend, backend.xp
        self.seconds = 0.0
        self.calls = 0
        self.host_sum: Any = None

    def __call__(self, arrays: Sequence[Array]) -> list[Array]:
        """The element-wise sums over all ranks of ``arrays`` (any shapes, one dtype).

        Parameters
        ----------
        arrays : sequence of arrays
            The same shapes, in the same order, on every rank; 0-d arrays allowed.

        Returns
        -------
        list of arrays
            Shaped like ``arrays``, on the same device; views of one summed buffer.
        """
        xp = self.xp
        flat = xp.concat([xp.reshape(a, (-1,)) for a in arrays])
        started = time.perf_counter()
        if self.comm.device_buffers:
            summed = self.comm.allreduce_sum(flat)
        else:
            self.host_sum = self.comm.allreduce_sum(self.backend.to_host(flat))
            summed = self.backend.asarray(self.host_sum)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        parts, offset = [], 0
        for a in arrays:
            count = math.prod(a.shape)
            parts.append(xp.reshape(summed[offset:offset + count], a.shape))
            offset += count
        return parts
