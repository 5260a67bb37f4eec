"""The benchmark's many-model workloads: what to train, and nnbackend's two ways to do it.

- ``study``: the course's hidden-size study on the flower (2-n-1 tanh/sigmoid, n = 1, 2, 3,
  4, 5, 20, 50; gradient descent lr 1.2, full batch, 5000 iterations, float64, seed 3),
  as ONE ``nnbackend.sweep`` (which groups the sizes into stacks with its cost model and
  runs them however ``nnbackend/model/sweep.py`` does) against the seven single runs
  (``Model(...).fit``, what ``nnbackend train`` runs) one after the other.
- ``sweep256``: 256 flower models, 16 seeds (1..16) x 16 learning rates (0.1, 0.2, ...,
  1.6), 2-4-1, 1000 iterations, as ONE stack, against one model's run (seed 1, lr 1.2),
  per model and step; float64 and float32 rows. With ``--device cuda``: 1,024 models (64
  seeds x 16 rates), where a GPU is expected to cost launches, not work.

Every runner (:class:`ManyRunner`) trains all of a workload's models from scratch in
``fit`` and gives each model's predicted probabilities of the training set back on the
host (``probas``), so that every row of a table is scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

import nnbackend
from nnbackend import Backend, Model
from nnbackend.data.datasets import flower

#: The course's hidden sizes of the study.
STUDY_SIZES = (1, 2, 3, 4, 5, 20, 50)
#: The grid of sweep256: 16 seeds x 16 learning rates (the notes' 1.2 among them).
SEEDS = tuple(range(1, 17))
RATES = tuple(round(0.1 * i, 1) for i in range(1, 17))
#: On a GPU: 64 seeds x the same 16 rates = 1,024 models.
GPU_SEEDS = tuple(range(1, 65))
#: Timed repetitions (each trains every model of the workload).
DEFAULT_REPEATS = {"study": 5, "sweep256": 3}


@dataclass(frozen=True)
class ManyWorkload:
    """Many flower models trained at once: one hidden layer, full-batch gradient descent.

    Attributes
    ----------
    name : str
        ``study`` or ``sweep256``.
    grid : dict
        The swept settings, as ``nnbackend.sweep`` takes them (``layers``, ``seed``,
        ``learning_rate``).
    fixed : dict
        The settings every model shares (``iterations``; ``seed`` and ``learning_rate``
        when not swept).
    dtype : str
        ``float64`` or ``float32``.
    repeats : int
        Timed repetitions.
    one : dict or None
        The settings of the single model whose step the stack is compared with (sweep256).
    """

    name: str
    grid: dict[str, tuple[Any, ...]]
    fixed: dict[str, Any]
    dtype: str
    repeats: int
    one: dict[str, Any] | None = None
    X: np.ndarray = field(default_factory=lambda: flower()[0], repr=False)
    y: np.ndarray = field(default_factory=lambda: flower()[1], repr=False)

    @property
    def iterations(self) -> int:
        """Full-batch steps of every model."""
        return int(self.fixed["iterations"])

    def models(self) -> list[dict[str, Any]]:
        """Each model's settings (the grid's product, in the sweep's row order)."""
        rows: list[dict[str, Any]] = [{}]
        for name, values in self.grid.items():
            rows = [{**row, name: value} for row in rows for value in values]
        return [{**self.fixed, **row} for row in rows]

    def describe(self) -> str:
        """One line: the models, the data, the network, the schedule and the dtype."""
        m, n = self.X.shape
        swept = " x ".join(f"{len(v)} {_plural(k)}" for k, v in self.grid.items())
        sizes = "/".join(str(s[0]) for s in self.grid.get("layers", ((4,),)))
        lr = "" if "learning_rate" in self.grid else f" lr {self.fixed['learning_rate']:g}"
        return (f"{len(self.models())} models ({swept}) of 2-{sizes}-1 tanh/sigmoid on "
                f"{m} x {n} {self.dtype}, gradient descent{lr}, full batch, "
                f"{self.iterations} iterations")


def _plural(setting: str) -> str:
    return {"layers": "hidden sizes", "seed": "seeds", "learning_rate": "learning rates"}[
        setting]


class ManyRunner(Protocol):
    """One way to train every model of a workload (see the module docstring)."""

    key: str
    label: str
    #: Models trained by ``fit`` and the full-batch steps of each.
    models: int
    steps: int

    def setup(self) -> None:
        """Forget what an earlier ``fit`` trained."""

    def fit(self) -> None:
        """Train every model (the timed part)."""

    def sync(self) -> None:
        """Wait for queued device work."""

    def probas(self) -> list[np.ndarray]:
        """Each model's P(y=1) on the training set, ``(m,)`` host arrays, in grid order."""


class SweepRunner:
    """``nnbackend.sweep`` over the workload's grid: the stacks its grouping decides."""

    def __init__(self, work: ManyWorkload, backend: Backend, key: str = "nnbackend") -> None:
        self.work, self.backend, self.key = work, backend, key
        self.models, self.steps = len(work.models()), work.iterations
        self.label = f"nnbackend {nnbackend.__version__} sweep ({backend.describe()})"
        self.result: Any = None

    def setup(self) -> None:
        """Nothing: every ``fit`` draws its models afresh."""
        self.result = None

    def fit(self) -> None:
        """``nnbackend.sweep(X, y, grid, **fixed)``."""
        w = self.work
        self.result = nnbackend.sweep(w.X, w.y, grid=dict(w.grid), backend=self.backend,
                                      **w.fixed)

    def sync(self) -> None:
        """``Backend.synchronize``."""
        self.backend.synchronize()

    def stacks(self) -> list[int]:
        """The number of models in each stack the last sweep trained."""
        return [len(rows) for rows in self.result.stacks]

    def probas(self) -> list[np.ndarray]:
        """Each row's model, as its own single run would make it."""
        return [self.result.model(i).predict_proba(self.work.X)[:, 1]
                for i in range(len(self.result))]


class SinglesRunner:
    """Single runs (``Model(...).fit``, as ``nnbackend train`` runs them), one after the
    other: every model of the grid, or only the one named by ``work.one``."""

    def __init__(self, work: ManyWorkload, backend: Backend, only_one: bool = False,
                 key: str | None = None) -> None:
        self.work, self.backend = work, backend
        self.settings = ([{**work.fixed, **work.one}] if only_one and work.one
                         else work.models())
        self.models, self.steps = len(self.settings), work.iterations
        self.key = key or ("one model" if only_one else "single runs")
        what = (", ".join(f"{k} {v}" for k, v in (work.one or {}).items()) if only_one
                else f"{len(self.settings)} single runs one after the other")
        self.label = f"nnbackend {nnbackend.__version__} {what} ({backend.describe()})"
        self.fitted: list[Model] = []

    def setup(self) -> None:
        """Forget the fitted models."""
        self.fitted = []

    def fit(self) -> None:
        """``Model(layers, seed=...).fit(X, y, iterations=..., learning_rate=...)`` each."""
        w = self.work
        for settings in self.settings:
            arch = {k: settings[k] for k in ("layers", "seed") if k in settings}
            training = {k: v for k, v in settings.items() if k not in arch}
            model = Model(**arch, backend=self.backend)
            self.fitted.append(model.fit(w.X, w.y, **training))

    def sync(self) -> None:
        """``Backend.synchronize``."""
        self.backend.synchronize()

    def probas(self) -> list[np.ndarray]:
        """Each fitted model's P(y=1)."""
        return [model.predict_proba(self.work.X)[:, 1] for model in self.fitted]


def study_workload(scale: float, repeats: int | None) -> ManyWorkload:
    """The course's seven hidden sizes, 5000 iterations (times ``scale``), float64."""
    return ManyWorkload("study", {"layers": tuple((n,) for n in STUDY_SIZES)},
                        {"iterations": max(10, round(5000 * scale)), "learning_rate": 1.2,
                         "seed": 3}, "float64", repeats or DEFAULT_REPEATS["study"])


def sweep_workloads(scale: float, repeats: int | None, on_gpu: bool,
                    quick: bool = False) -> list[ManyWorkload]:
    """16 seeds x 16 rates (64 x 16 on a GPU), 1000 iterations (times ``scale``), in
    float64 and float32; ``quick``: 4 seeds x 4 rates (0.3, 0.6, 0.9, 1.2), a smoke test."""
    grid = {"seed": GPU_SEEDS if on_gpu else SEEDS, "learning_rate": RATES}
    if quick:
        grid = {"seed": SEEDS[:4], "learning_rate": RATES[2::3][:4]}
    fixed = {"iterations": max(10, round(1000 * scale))}
    return [ManyWorkload("sweep256", grid, fixed, dtype, repeats or
                         DEFAULT_REPEATS["sweep256"], one={"seed": 1, "learning_rate": 1.2})
            for dtype in ("float64", "float32")]
