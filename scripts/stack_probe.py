"""Many flower models per step: a stack's step time against one model's, and exactness.

A measurement for ``scripts/gpu_check.py`` (it prints one JSON document), runnable on its
own on a CUDA machine:

    python scripts/stack_probe.py --backend torch --device cuda --models 1024
    python scripts/stack_probe.py --backend cupy --device cuda --models 1024

It trains the notes' flower (2-h-1, tanh, full-batch gradient descent, float64) through
the one training loop (``Trainer``), as ``nnbackend sweep`` does:

- ``speed``: one model's step, and a stack of ``--models`` models (hidden sizes 1 to 8,
  each its own seed and learning rate) per step, each the median of ``--repeats``
  in-process runs after a warm-up, set-up not timed (the run ends with a read of the
  parameters, so the device has finished); ``models_per_step_over_single`` is how many
  single-model steps one stacked step is worth (``k * single / stack``);
- ``exact``: a stack of 8 models against each model's own single run on the same backend
  (largest parameter difference), and, where steps replay as CUDA graphs, the graphed
  stack against the eager stack (the same kernels: equal to rounding).

``--device cpu --backend numpy`` runs the same code on the CPU (the check's dry run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nnbackend import Network, TrainingOptions, encode_targets, host_rng, resolve_backend
from nnbackend.core.activations import get_hidden_activation
from nnbackend.core.backend import Backend
from nnbackend.data.datasets import flower
from nnbackend.training.stack import ModelStack
from nnbackend.training.stacked import StackedModels
from nnbackend.training.trainer import Trainer

#: The exactness stack: hidden sizes (padded to 20), one seed and rate per model.
EXACT_HIDDEN = (1, 2, 3, 4, 5, 8, 10, 20)


def flower_data(backend: Backend) -> tuple[Any, Any]:
    """The flower's rows ``(400, 2)`` and targets ``(1, 400)`` on ``backend``."""
    X, y = flower()
    return backend.asarray(X), backend.asarray(encode_targets(y).Y)


def rates(k: int) -> list[float]:
    """``k`` learning rates spread between 0.1 and 1.2 (the notes')."""
    return [float(r) for r in np.linspace(0.1, 1.2, k)]


def single_trainer(backend: Backend, data: tuple[Any, Any], hidden: int, seed: int,
                   lr: float, steps: int, graphs: str) -> Trainer:
    """One model's run (``nnbackend train``'s: one generator), ready to run."""
    rng = host_rng(seed)
    net = Network.create((2, hidden, 1), backend, "tanh", "binary", "small", rng=rng)
    return Trainer(net, *data, TrainingOptions(learning_rate=lr, iterations=steps,
                                               print_every=steps), rng=rng, cuda_graph=graphs)


def single_run(backend: Backend, data: tuple[Any, Any], hidden: int, seed: int, lr: float,
               steps: int, graphs: str) -> dict[str, Any]:
    """One model's run; its parameters on the host."""
    trainer = single_trainer(backend, data, hidden, seed, lr, steps, graphs)
    trainer.run()
    return {name: backend.to_host(value) for name, value in trainer.network.params.items()}


def stack_trainer(backend: Backend, data: tuple[Any, Any], hidden: list[int], steps: int,
                  graphs: str) -> tuple[StackedModels, Trainer]:
    """A stack of ``len(hidden)`` flower models (seed ``i``, rate ``rates(k)[i]``) for
    ``steps`` full-batch steps, ready to run."""
    k = len(hidden)
    stack = ModelStack([(2, h, 1) for h in hidden], backend, get_hidden_activation("tanh"),
                       list(range(k)))
    options = [TrainingOptions(learning_rate=lr, iterations=steps, print_every=steps)
               for lr in rates(k)]
    models = StackedModels(stack, options, "binary")
    return models, Trainer(models.network, *data, options[0], cuda_graph=graphs,
                           stack=models)


def stack_run(backend: Backend, data: tuple[Any, Any], hidden: list[int], steps: int,
              graphs: str) -> tuple[StackedModels, bool]:
    """The stack trained; and whether its steps were graphs."""
    models, trainer = stack_trainer(backend, data, hidden, steps, graphs)
    trainer.run()
    return models, trainer.use_graphs


def median_seconds(make: Callable[[], Trainer], repeats: int) -> float:
    """The median wall time of a fresh trainer's ``run()`` (its set-up, the models' draws
    included, is not timed) over ``repeats`` runs, after one warm-up. The run ends with
    a read of the parameters (their finiteness), so the device has finished."""
    make().run()
    times = []
    for _ in range(repeats):
        trainer = make()
        start = time.perf_counter()
        trainer.run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(backend: Backend, k: int, steps: int, repeats: int, graphs: str) -> dict[str, Any]:
    """Microseconds per step of one model and of a stack of ``k``."""
    data = flower_data(backend)
    hidden = [1 + i % 8 for i in range(k)]
    single = median_seconds(
        lambda: single_trainer(backend, data, 4, 0, 1.2, steps, graphs), repeats) / steps
    stacked = median_seconds(
        lambda: stack_trainer(backend, data, hidden, steps, graphs)[1], repeats) / steps
    return {"models": k, "steps": steps, "single_us_per_step": 1e6 * single,
            "stack_us_per_step": 1e6 * stacked,
            "stack_us_per_model_step": 1e6 * stacked / k,
            "models_per_step_over_single": k * single / stacked}


def exact(backend: Backend, steps: int, graphs: str) -> dict[str, Any]:
    """The largest parameter difference of a stack's models from their single runs, and of
    a graphed stack from the eager stack (None without graphs)."""
    data = flower_data(backend)
    hidden = list(EXACT_HIDDEN)
    models, graphed = stack_run(backend, data, hidden, steps, graphs)
    eager, _ = stack_run(backend, data, hidden, steps, "off")
    to_host = backend.to_host
    worst = 0.0
    for i, (h, lr) in enumerate(zip(hidden, rates(len(hidden)), strict=True)):
        own = single_run(backend, data, h, i, lr, steps, "off")
        mine = models.model(models.network.params, i)
        worst = max(worst, *(float(np.max(np.abs(to_host(mine[n]) - own[n]))) for n in own))
    graph_vs_eager = None
    if graphed:
        graph_vs_eager = max(float(np.max(np.abs(to_host(value)
                                                 - to_host(eager.network.params[name]))))
                             for name, value in models.network.params.items())
    return {"models": len(hidden), "steps": steps, "graphs": graphed,
            "max_diff_vs_single_runs": worst, "max_diff_graph_vs_eager": graph_vs_eager}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="torch", help="torch, cupy or numpy")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", type=int, default=1024, help="models in the timed stack")
    parser.add_argument("--steps", type=int, default=300, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cuda-graph", default="auto", choices=("auto", "on", "off"))
    args = parser.parse_args(argv)
    backend = resolve_backend(args.device, args.backend, "float64")
    doc = {"backend": backend.describe(),
           "speed": speed(backend, args.models, args.steps, args.repeats, args.cuda_graph),
           "exact": exact(backend, args.steps, args.cuda_graph)}
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
