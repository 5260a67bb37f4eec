"""Shared pieces of ``scripts/bench.py``: workloads, data, timing and memory probes.

Every implementation (nnbackend and each peer) is a :class:`Runner`: ``setup()`` builds
a fresh model from the same starting point, ``fit()`` is the timed training, ``sync()``
waits for queued device work, ``proba()`` reads predictions back to the host. Costs and
accuracies of all runners are computed here, on the host, in float64, from those
predictions, so every row of a table is scored the same way.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: Seed of the host generator that draws the per-epoch shuffles (nnbackend and torch).
SHUFFLE_SEED = 0
#: Smallest probability used in the log of the scoring cost (avoids log(0)).
PROBA_FLOOR = 1e-12


@dataclass(frozen=True)
class Data:
    """A workload's host data: examples as rows, integer labels."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def train_bytes(self) -> int:
        """Size of the training features ``X`` (the memory targets' unit)."""
        return int(self.X.nbytes)


@dataclass(frozen=True)
class Workload:
    """One benchmark case: the data, the network and how to train it.

    ``iterations`` (full-batch steps) and ``epochs`` (passes) are exclusive, as in
    :class:`nnbackend.TrainingOptions`.
    """

    name: str
    layers: tuple[int, ...]
    hidden: str
    task: str
    init: str
    seed: int
    dtype: str
    optimizer: str
    learning_rate: float
    batch_size: int | None
    iterations: int | None
    epochs: int | None
    print_every: int
    repeats: int
    data: Data

    @property
    def passes(self) -> int:
        """Passes over the data (full-batch iterations count as passes)."""
        return int(self.epochs if self.epochs is not None else self.iterations or 0)

    def describe(self) -> str:
        """One line: data, network, optimizer, schedule and dtype."""
        m, n = self.data.X.shape
        test = "" if self.data.X_test is None else f" (+{self.data.X_test.shape[0]} test)"
        shape = "-".join(str(n_l) for n_l in self.layers)
        out = "sigmoid" if self.task == "binary" else "softmax"
        batch = "full batch" if self.batch_size is None else f"batch {self.batch_size}"
        steps = (f"{self.iterations} iterations" if self.epochs is None
                 else f"{self.epochs} epochs")
        opt = {"gd": "gradient descent", "adam": "Adam"}.get(self.optimizer, self.optimizer)
        return (f"{m} x {n}{test} {self.dtype}, {shape} {self.hidden}/{out}, {opt} "
                f"lr {self.learning_rate:g}, {batch}, {steps}")


class Runner(Protocol):
    """One implementation of a workload (see the module docstring)."""

    key: str
    label: str
    memory_method: str

    def setup(self) -> None:
        """Build a fresh model with the workload's starting parameters."""

    def fit(self) -> None:
        """Train it (the timed part)."""

    def sync(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Predicted probabilities on the host: ``(m,)`` P(y=1), or ``(m, classes)``."""


@dataclass
class Measurement:
    """What one runner did on one workload (times in seconds, memory in bytes)."""

    key: str
    label: str
    times: list[float] = field(default_factory=list)
    cost: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    peak_bytes: int | None = None
    memory_method: str = ""

    @property
    def median(self) -> float:
        """Median of the timed repetitions."""
        return float(np.median(self.times))


def synthetic_classes(n_samples: int, n_features: int = 784, n_classes: int = 10,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable float32 classification data: Gaussian classes in a random subspace.

    Each class has a mean in a random 16-dimensional subspace of ``R^n_features`` and unit
    Gaussian spread there; the subspace is scaled by 3 and isotropic unit noise is added
    in every feature. The classes overlap, so a well-trained network reaches about 93%
    test accuracy (not 100%), and the accuracy is flat after one epoch, which makes it a
    fair check that every implementation trained properly.
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((n_features, 16)))
    means = rng.standard_normal((n_classes, 16))
    y = rng.integers(0, n_classes, n_samples)
    latent = means[y] + rng.standard_normal((n_samples, 16))
    X = (latent @ (basis.T * 3.0)).astype(np.float32)
    X += rng.standard_normal((n_samples, n_features), dtype=np.float32)
    return X, y.astype(np.int64)


def score(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Cross-entropy cost and accuracy of predicted probabilities, in float64.

    Parameters
    ----------
    proba : ndarray
        ``(m,)`` probabilities of class 1 (binary) or ``(m, k)`` class probabilities.
    y : ndarray, shape (m,)
        Integer labels.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        q = np.clip(p, PROBA_FLOOR, 1.0 - PROBA_FLOOR)
        cost = -np.mean(y * np.log(q) + (1 - y) * np.log(1.0 - q))
        return float(cost), float(np.mean((p > 0.5) == y))
    picked = np.clip(p[np.arange(y.shape[0]), y], PROBA_FLOOR, 1.0)
    return float(-np.mean(np.log(picked))), float(np.mean(np.argmax(p, axis=1) == y))


def timed_fit(runner: Runner) -> float:
    """Seconds of one ``fit`` from a fresh ``setup``, synchronised on both ends."""
    runner.setup()
    gc.collect()
    runner.sync()
    start = time.perf_counter()
    runner.fit()
    runner.sync()
    return time.perf_counter() - start


def traced_peak(fit: Callable[[], None]) -> int:
    """Peak bytes allocated during ``fit`` as seen by tracemalloc (NumPy reports to it)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fit()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sampled_rss_peak(fit: Callable[[], None], interval: float = 0.001) -> int | None:
    """Peak growth of the resident set during ``fit``, sampled every ``interval`` s.

    An approximation for allocators that tracemalloc does not see (PyTorch's): short
    peaks between samples are missed, and memory reused from earlier runs does not show.
    None where ``/proc`` is unavailable.
    """
    try:
        base = _rss_bytes()
    except OSError:
        return None
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], _rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fit()
    finally:
        done.set()
        thread.join()
    return max(peak[0], _rss_bytes()) - base


MEMORY_PROBES: dict[str, Callable[[Callable[[], None]], int | None]] = {
    "traced": traced_peak,
    "rss": sampled_rss_peak,
}
MEMORY_LABELS = {
    "traced": "tracemalloc peak during fit",
    "rss": "RSS growth during fit, sampled every 1 ms (approx.: allocator not traced)",
    "cupy-pool": "CuPy memory-pool growth during fit (approx. peak)",
    "torch-cuda": "torch.cuda.max_memory_allocated growth during fit",
}


def warm_up(runner: Runner) -> None:
    """One untimed full run: imports, caches, allocator pools and BLAS threads warm up."""
    runner.setup()
    runner.fit()
    runner.sync()


def peak_memory(runner: Runner, probes: dict[str, Any]) -> int | None:
    """One more untimed full run with the runner's memory probe around ``fit``.

    Returns the peak bytes above what was allocated before ``fit`` (the data and the
    fresh model are already there), or None when the runner has no probe.
    """
    probe = probes.get(runner.memory_method)
    if probe is None:
        return None
    runner.setup()
    gc.collect()

    def fit() -> None:
        runner.fit()
        runner.sync()

    peak = probe(fit)
    return None if peak is None else int(peak)
