"""Which CUDA backend ``--backend auto`` prefers: the measured order, kept as data.

The order is not a guess: it is the per-step times of one dated GPU run (the tables in
docs/devices.md), and :func:`cuda_order` sorts the paths by them. A new measurement
replaces :data:`MEASURED` (date, machine, figures) and the order follows; nothing else
in nnbackend ranks the CUDA backends.

Which of these paths is *installed* is the backend module's business
(:func:`nnbackend.core.backend.cuda_pick`): this module names backends only by their
``--backend`` names and imports no array library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CudaPath:
    """One way to train on a CUDA GPU, with its measured time per training step.

    Attributes
    ----------
    backend : str
        The ``--backend`` name that takes this path.
    label : str
        How messages name the path (``torch+graphs``: PyTorch with each step replayed
        as a CUDA graph, the default of ``--cuda-graph auto`` on PyTorch CUDA).
    flower_us : float
        Microseconds per step on the flower workload (2-4-1, 400 examples, measured in
        float64, while the CUDA default is float32: the step is launch-bound, about 32
        us of GPU time in 446). The order sorts by it.
    deep_us : float
        Microseconds per step on the deep workload (784-512-256-128-10, Adam, batch
        256, float32), shown beside it.
    """

    backend: str
    label: str
    flower_us: float
    deep_us: float


@dataclass(frozen=True)
class Measurement:
    """One dated GPU run's per-step times of the CUDA paths, and where they are printed."""

    date: str
    machine: str
    software: str
    source: str
    paths: tuple[CudaPath, ...]

    def summary(self) -> str:
        """Where the figures come from, in one line (``2026-11-26, NVIDIA H200``)."""
        return f"measured {self.date} on an {self.machine}"


#: The run behind the order: medians of 3 alternating runs of 2000 flower or 470 deep
#: steps, in-process and synchronised (``scripts/gpu_probes.py steps``). The eager
#: PyTorch path (266 / 1,624 us) sits between the two; ``--cuda-graph off`` takes it.
MEASURED = Measurement(
    date="2026-11-26",
    machine="NVIDIA H200",
    software="CUDA runtime 13.0, CuPy 14.2.0, PyTorch 2.11.0+cu130",
    source="docs/devices.md, 'Checking a GPU machine in one command'",
    paths=(CudaPath("cupy", "cupy", 446.0, 2560.0),
           CudaPath("torch", "torch+graphs", 69.0, 393.0)),
)


def measured() -> Measurement:
    """The measurement the order comes from (read at call time)."""
    return MEASURED


def cuda_order() -> tuple[CudaPath, ...]:
    """The CUDA paths, fastest first by their flower step."""
    return tuple(sorted(measured().paths, key=lambda path: path.flower_us))


def order_text() -> str:
    """The order in words, with its source.

    E.g. ``measured 2026-11-26 on an NVIDIA H200: torch+graphs 69 us > cupy 446 us per
    flower step``.
    """
    steps = " > ".join(f"{p.label} {p.flower_us:,.0f} us" for p in cuda_order())
    return f"{measured().summary()}: {steps} per flower step"
