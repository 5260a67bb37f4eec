"""The benchmark's workloads: what to train, on which data, for how long.

- ``planar``: the notes' flower, 2-4-1 tanh/sigmoid, full-batch gradient descent, lr 1.2,
  10000 iterations, float64, the notes' ``randn * 0.01`` initialisation with seed 3.
- ``wide``: 60000 x 784 synthetic 10-class float32 data (+10000 held out), 784-256-10
  ReLU/softmax, mini-batch SGD lr 0.1, batch 256, 3 epochs, He initialisation.
- ``deep``: the same data, 784-512-256-128-10, Adam lr 1e-3, batch 256, 2 epochs.

``scale`` shrinks the planar iterations and the wide/deep example counts (smoke tests).
"""

from __future__ import annotations

from _bench_common import Data, Workload, synthetic_classes

from nnbackend.data.datasets import flower

#: Timed repetitions: medians of 3 flipped targets between runs on a 2-core VM whose
#: speed drifts (single repetitions 1.5-1.8x apart within one run).
DEFAULT_REPEATS = {"planar": 9, "wide": 5, "deep": 5}


def planar_workload(scale: float, repeats: int | None) -> Workload:
    """The notes' flower run: 2-4-1 tanh/sigmoid, full-batch GD, lr 1.2, float64."""
    X, y = flower()
    iterations = max(10, round(10000 * scale))
    return Workload("planar", (2, 4, 1), "tanh", "binary", "small", 3, "float64", "gd", 1.2,
                    None, iterations, None, max(1, iterations // 10),
                    repeats or DEFAULT_REPEATS["planar"], Data(X, y))


def classes_data(scale: float) -> Data:
    """The wide/deep data: 60000 training and 10000 test examples (times ``scale``)."""
    m, m_test = max(512, round(60000 * scale)), max(100, round(10000 * scale))
    X, y = synthetic_classes(m + m_test, seed=0)
    return Data(X[:m], y[:m], X[m:], y[m:])


def wide_workload(data: Data, repeats: int | None) -> Workload:
    """784-256-10 ReLU/softmax, mini-batch SGD lr 0.1, batch 256, 3 epochs, float32."""
    return Workload("wide", (784, 256, 10), "relu", "multiclass", "he", 0, "float32", "gd",
                    0.1, 256, None, 3, 3, repeats or DEFAULT_REPEATS["wide"], data)


def deep_workload(data: Data, repeats: int | None) -> Workload:
    """784-512-256-128-10 ReLU/softmax, Adam lr 1e-3, batch 256, 2 epochs, float32."""
    return Workload("deep", (784, 512, 256, 128, 10), "relu", "multiclass", "he", 0,
                    "float32", "adam", 1e-3, 256, None, 2, 2,
                    repeats or DEFAULT_REPEATS["deep"], data)


def build_workloads(names: list[str], scale: float, repeats: int | None) -> list[Workload]:
    """The named workloads at ``scale`` (``gemm`` needs the wide one's shapes)."""
    out = []
    if "planar" in names:
        out.append(planar_workload(scale, repeats))
    if {"wide", "deep", "gemm"} & set(names):
        data = classes_data(scale)
        if "wide" in names or "gemm" in names:
            out.append(wide_workload(data, repeats))
        if "deep" in names:
            out.append(deep_workload(data, repeats))
    return out
