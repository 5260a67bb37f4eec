"""Training data kept on the host, each mini-batch copied to the device just ahead of use.

For data that does not fit in the GPU's memory (a memory-mapped ``.npy`` is never read
whole). The training loop asks :class:`BatchStream` for its batches in order; behind it:

1. a worker thread gathers each batch's rows from the host arrays (the epoch's
   permutation, the same as on the device) into page-locked staging buffers;
2. the main thread issues the copy of the NEXT batch on the backend's copy stream
   (:class:`nnbackend.core.backend.Staging`) before the current step is launched, so the copy
   overlaps the step's kernels;
3. events order it all: a step waits for its batch's copy, a device buffer is refilled
   only after the step that read it, a staging buffer only after its copy has finished.

Three staging slots rotate. On backends without a copy stream (the CPUs) the batches
are gathered on the worker thread and copied with :meth:`Backend.asarray`: the same
batches, so the same results as data kept on the device, bit for bit.

A stack of ``k`` models (:mod:`nnbackend.training.stacked`) takes each model's own rows:
the epoch's order is ``(k, m)``, the worker gathers the ``k * b`` rows of a step in one
pass, and the device sees them as ``(k, b, n[0])`` and ``(k, n[L], b)``, in the layout
of the device-resident stack's gather (:meth:`~nnbackend.training.stack.ModelStack.take`).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.backend import Backend
from ..errors import NNBackendError
from .stack import model_major

Array = Any
#: Staging slots: one being read by the step, one being copied, one being gathered.
SLOTS = 3
#: Sentinel telling the worker to stop.
_STOP = None


@dataclass
class _Slot:
    """A staging buffer pair on the host and its landing pair on the device.

    ``Y`` buffers are flat: a batch of ``b`` examples uses their first ``n[L] * b``
    elements as a contiguous ``(n[L], b)`` array, the layout the device-resident loop's
    gather makes (reductions over another layout may round differently).
    """

    host_X: np.ndarray
    host_Y: np.ndarray
    device_X: Array = None
    device_Y: Array = None
    consumed: Any = None  # compute-stream event after the last step that read it


class BatchStream:
    """Batches of host-resident ``(X, Y)``, delivered on the device in schedule order.

    Parameters
    ----------
    X : ndarray, shape (m, n[0])
        Host examples as rows (may be a read-only memory map).
    Y : ndarray, shape (n[L], m)
        Host encoded targets.
    backend : Backend
        Where batches go; its ``staging`` (CUDA) makes the copies asynchronous.
    batch : int
        The largest batch size (the last batch of an epoch may be smaller).
    models : int, optional
        A stack's ``k``: each step takes ``k`` batches of rows, one per model, from a
        ``(k, m)`` order (None: one model).
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, backend: Backend, batch: int,
                 models: int | None = None) -> None:
        if X.shape[0] != Y.shape[1]:
            raise NNBackendError(f"X has {X.shape[0]} examples but Y has {Y.shape[1]}")
        self.X, self.Y, self.backend, self.batch = X, Y, backend, batch
        self.models = models
        self.staging = staging = backend.staging
        dtype, outputs = backend.dtype_name, Y.shape[0]
        rows = batch * (models or 1)  # the rows one step gathers
        self.slots: list[_Slot] = []
        for _ in range(SLOTS if staging is not None else 0):
            assert staging is not None
            slot = _Slot(staging.pinned((rows, X.shape[1]), dtype),
                         staging.pinned((outputs * rows,), dtype))
            slot.device_X = backend.asarray(np.zeros((rows, X.shape[1])))
            slot.device_Y = backend.asarray(np.zeros(outputs * rows))
            self.slots.append(slot)
        self._free: queue.Queue[tuple[int, Any]] = queue.Queue()
        for index in range(SLOTS):
            self._free.put((index, None))
        self._ready: queue.Queue[Any] = queue.Queue()
        self._tasks: queue.Queue[Any] = queue.Queue()
        self._pending = 0  # batches scheduled but not yet handed to the copy stream
        self._in_flight: deque[tuple[int, Any, Array, Array]] = deque()
        self._current: int | None = None
        self._stopping = False
        self._worker = threading.Thread(target=self._gather_loop, daemon=True,
                                        name="nnbackend-batch-gather")
        self._worker.start()

    # -- the worker thread ----------------------------------------------------------------

    def _gather_loop(self) -> None:
        """Gather scheduled batches into free slots until told to stop."""
        while True:
            task = self._tasks.get()
            if task is _STOP:
                return
            try:
                for rows in task:
                    index, copied = self._free.get()
                    if self._stopping:
                        return
                    self._ready.put((index, self._gather(index, rows, copied)))
            except BaseException as exc:  # handed to the main thread, which raises it
                self._ready.put(exc)

    def _gather(self, index: int, rows: np.ndarray | slice, copied: Any
                ) -> tuple[np.ndarray, np.ndarray]:
        """The batch on the host, ``X`` ``(b, n[0])`` and ``Y`` ``(n[L], b)``, both
        C-contiguous: in slot ``index``'s pinned buffers, or fresh arrays."""
        if self.staging is None:
            # Copies, also of a slice: a view of a read-only memory map would be handed
            # to the device library as is.
            return np.array(self.X[rows, :], order="C"), np.array(self.Y[:, rows], order="C")
        if copied is not None:
            self.staging.host_waits(copied)  # its last copy to the device has finished
        slot = self.slots[index]
        size = len(range(self.X.shape[0])[rows]) if isinstance(rows, slice) else len(rows)
        host_X = slot.host_X[:size]
        host_Y = slot.host_Y[:self.Y.shape[0] * size].reshape(self.Y.shape[0], size)
        for source, target, axis in ((self.X, host_X, 0), (self.Y, host_Y, 1)):
            if not isinstance(rows, slice) and source.dtype == target.dtype:
                np.take(source, rows, axis=axis, out=target)  # one pass, no temporary
            else:  # a slice, or a cast to the device dtype
                target[...] = source[rows, :] if axis == 0 else source[:, rows]
        return host_X, host_Y

    # -- the main thread ------------------------------------------------------------------

    def epoch(self, order: np.ndarray | None, start: int) -> None:
        """Schedule the batches of one epoch from row ``start`` of ``order`` (None: 0..m;
        a stack's is ``(k, m)``, its batches' rows model after model)."""
        m = self.X.shape[0]
        batches: list[np.ndarray | slice] = []
        for begin in range(start, m, self.batch):
            end = min(begin + self.batch, m)
            batches.append(slice(begin, end) if order is None else
                           np.reshape(order[..., begin:end], -1))
        self._pending += len(batches)
        self._tasks.put(batches)

    def next(self) -> tuple[Array, Array]:
        """The next scheduled batch on the device: ``X`` ``(b, n[0])`` and ``Y`` ``(n[L], b)``
        (a stack's: ``(k, b, n[0])`` and ``(k, n[L], b)``).

        Call :meth:`done` once the step that reads it has been launched.
        """
        while len(self._in_flight) < 2 and self._pending:
            self._issue_copy()
        if not self._in_flight:
            raise NNBackendError("internal error: no batch was scheduled")
        index, copied, X, Y = self._in_flight.popleft()
        if copied is not None:
            assert self.staging is not None
            self.staging.compute_waits(copied)
        self._current = index
        if self.models is None:
            return X, Y
        # The k models' rows, gathered model after model, as the device-resident gather.
        return model_major(X, Y, self.models, xp=self.backend.xp)

    def done(self) -> None:
        """Mark the batch from :meth:`next` as read by launched work (its slot is reusable)."""
        if self._current is not None and self.staging is not None:
            self.slots[self._current].consumed = self.staging.compute_event()
        self._current = None

    def _issue_copy(self) -> None:
        """Copy the next gathered batch to the device (asynchronously where possible)."""
        item = self._ready.get()
        if isinstance(item, BaseException):
            raise item
        index, (host_X, host_Y) = item
        self._pending -= 1
        if self.staging is None:
            X, Y = self.backend.asarray(host_X), self.backend.asarray(host_Y)
            self._free.put((index, None))
            self._in_flight.append((index, None, X, Y))
            return
        slot = self.slots[index]
        X = slot.device_X[:host_X.shape[0]]
        Y = self.backend.xp.reshape(slot.device_Y[:host_Y.size], host_Y.shape)
        self.staging.upload(host_X, X, slot.consumed)
        copied = self.staging.upload(host_Y, Y, None)  # same stream: after the X copy
        self._free.put((index, copied))
        self._in_flight.append((index, copied, X, Y))

    def close(self) -> None:
        """Wait for the copies still in flight, then stop the worker thread (batches still
        scheduled are dropped). The slots' memory may be reused once this returns."""
        if self.staging is not None:
            for _, copied, _, _ in self._in_flight:
                self.staging.host_waits(copied)
        self._in_flight.clear()
        self._stopping = True
        self._tasks.put(_STOP)
        self._free.put((0, None))  # wakes a worker waiting for a free slot
        self._worker.join(timeout=10)
