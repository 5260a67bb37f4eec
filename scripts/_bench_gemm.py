"""The GEMM floor: how long a workload's matrix products alone take on this machine.

For one mini-batch step of an L-layer network in the notes' column form (``A[0] = Xb.T``,
a view of a row slice of the data, exactly as nnbackend hands it to the math) the
products are::

    forward   W[l] @ A[l-1]                      l = 1..L
    backward  dZ[l] @ A[l-1].T    (dW[l])        l = 1..L
              W[l].T @ dZ[l]      (dA[l-1])      l = 2..L

Each is timed on its own, with operands of the same shapes, dtype and memory layout, on
the backend the benchmark runs (NumPy's BLAS, or CuPy's cuBLAS with a device sync), and
the floor per epoch is the sum over one epoch's steps of the measured times. FLOPs are
counted as ``2 * m * n * k`` per product.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnbackend import Backend


@dataclass(frozen=True)
class Product:
    """One matrix product of a step: its name, shape and measured time per call."""

    name: str
    m: int
    k: int
    n: int
    calls_per_epoch: int
    seconds_per_call: float

    @property
    def flops(self) -> int:
        """``2 * m * n * k``."""
        return 2 * self.m * self.n * self.k

    @property
    def seconds_per_epoch(self) -> float:
        """Measured time per call times the calls in one epoch."""
        return self.seconds_per_call * self.calls_per_epoch

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the derived rate."""
        return {"product": self.name, "m": self.m, "k": self.k, "n": self.n,
                "calls_per_epoch": self.calls_per_epoch,
                "seconds_per_call": self.seconds_per_call,
                "gflops": self.flops / self.seconds_per_call / 1e9,
                "seconds_per_epoch": self.seconds_per_epoch}


def _operands(layers: tuple[int, ...], batch: int, backend: Backend,
              ) -> list[tuple[str, Any, Any]]:
    """The step's products as ``(name, left, right)`` in nnbackend's layouts."""
    rng = np.random.default_rng(0)

    def dev(*shape: int) -> Any:
        return backend.asarray(rng.standard_normal(shape))

    rows = dev(batch, layers[0])  # a contiguous row slice Xb of the data
    A = [rows.T] + [dev(n, batch) for n in layers[1:]]  # A[0] = Xb.T is a view
    W = [None] + [dev(layers[i], layers[i - 1]) for i in range(1, len(layers))]
    products: list[tuple[str, Any, Any]] = []
    for l in range(1, len(layers)):  # noqa: E741 -- the notes' layer index
        products.append((f"W{l} @ A{l - 1}", W[l], A[l - 1]))
    for l in range(len(layers) - 1, 0, -1):  # noqa: E741
        dZ = dev(layers[l], batch)
        products.append((f"dZ{l} @ A{l - 1}.T", dZ, A[l - 1].T))
        if l > 1:
            products.append((f"W{l}.T @ dZ{l}", W[l].T, dZ))
    return products


def _seconds_per_call(left: Any, right: Any, backend: Backend, budget: float) -> float:
    """Median time of ``left @ right`` over batches of calls filling about ``budget`` s."""
    backend.synchronize()
    start = time.perf_counter()
    left @ right  # noqa: B018 -- warm-up and calibration
    backend.synchronize()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(budget / 5 / once))
    samples = []
    for _ in range(5):
        backend.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            left @ right  # noqa: B018
        backend.synchronize()
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def gemm_floor(layers: tuple[int, ...], m: int, batch: int, backend: Backend,
               budget: float = 0.1) -> list[Product]:
    """Measure every matrix product of one epoch of mini-batch training.

    Parameters
    ----------
    layers : tuple of int
        ``(n[0], ..., n[L])``.
    m, batch : int
        Training examples and batch size: ``m // batch`` full steps, plus one short step
        of ``m % batch`` examples when it is not zero.
    backend : Backend
        Where to measure (operands made with ``backend.asarray``, in its dtype).
    budget : float
        Seconds spent timing each product.
    """
    sizes = [(batch, m // batch)] + ([(m % batch, 1)] if m % batch else [])
    out = []
    for size, calls in sizes:
        if calls == 0:
            continue
        for name, left, right in _operands(layers, size, backend):
            seconds = _seconds_per_call(left, right, backend, budget)
            (mm, kk), nn = left.shape, right.shape[1]
            out.append(Product(f"{name} (batch {size})", mm, kk, nn, calls, seconds))
    return out
