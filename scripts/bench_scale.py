"""Data-parallel scaling: one process against ``mpirun -n N`` ranks on the same workloads.

    python scripts/bench_scale.py                        # 2 ranks, three workloads, 5 timings
    python scripts/bench_scale.py --ranks 2 --repeats 7 --workloads full,4096
    python scripts/bench_scale.py --rows 20000           # a quick, smaller run

Each workload trains the same binary classifier (float64 NumPy, tanh hidden layer, plain
gradient descent) from the same seed: the one process in this process, the ranks under
``mpirun`` (``--oversubscribe``, ``--mca mpi_yield_when_idle 1``: on a shared machine a
busy-polling wait steals the cores the other rank computes on). A step's time is taken
between the loop's own step ends (``time.perf_counter`` in ``on_step``, the first step
left out as warm-up, the loop's first record too); each figure is the median of
``--repeats`` runs. The all-reduce time per step is the ranks' ``FlatSum`` time (host
copies and the wait for the slower rank included). Agreement is the largest absolute
difference between the one process's final parameters and rank 0's.

Threads: each rank gets ``--threads-per-rank`` BLAS/OpenMP threads (default 1, so N ranks
use N cores); the one process gets ``--threads`` (default 1: the same per-process share;
``--threads 2`` lets one process's BLAS use both cores of this machine, which measured
far slower, 5-10x, while other processes kept the cores busy: OpenBLAS threads spin).
Needs threadpoolctl (``pip install 'nnbackend[bench]'``) for ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnbackend.core.backend import host_rng, resolve_backend
from nnbackend.core.network import Network
from nnbackend.training.trainer import Trainer, TrainingOptions


@dataclass(frozen=True)
class Workload:
    """One row of the table: a batch size and how many steps a timing runs."""

    label: str
    batch: int | None  # None: full batch
    steps: int


WORKLOADS = {
    "full": Workload("full batch", None, 4),
    "4096": Workload("mini-batch 4096", 4096, 60),
    "256": Workload("mini-batch 256", 256, 300),
}
FEATURES, HIDDEN = 100, 64


def make_data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The same host data on every process: ``X`` (rows, 100), 0/1 targets ``Y`` (1, rows)."""
    rng = np.random.RandomState(0)
    X = rng.randn(rows, FEATURES)
    w = rng.randn(FEATURES)
    Y = ((X @ w + 0.5 * rng.randn(rows)) > 0).astype(np.float64).reshape(1, -1)
    return X, Y


def timed_run(workload: Workload, X: Any, Y: Any, comm: Any) -> tuple[float, dict, Any]:
    """One training run: seconds per step (rank 0 / one process), host parameters, runner."""
    backend = resolve_backend("cpu", "numpy", "float64")
    net = Network.create((FEATURES, HIDDEN, 1), backend, "tanh", "binary", "xavier", seed=3)
    ends: list[float] = []
    options = TrainingOptions(0.05, iterations=workload.steps + 1,
                              batch_size=workload.batch, print_every=10**9)
    trainer = Trainer(net, X, Y, options, host_rng(0), cuda_graph="off", comm=comm,
                      on_step=lambda _: ends.append(time.perf_counter()))
    trainer.run()
    per_step = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else float("nan")
    params = {name: backend.to_host(value) for name, value in net.params.items()}
    return per_step, params, getattr(comm, "runner", None)


def measure(names: list[str], rows: int, repeats: int, comm: Any = None) -> dict[str, Any]:
    """Median step time (and all-reduce time under a communicator) of each workload."""
    backend = resolve_backend("cpu", "numpy", "float64")
    X_host, Y_host = make_data(rows)
    X, Y = backend.asarray(X_host), backend.asarray(Y_host)
    results: dict[str, Any] = {}
    for name in names:
        steps, comms = [], []
        for _ in range(repeats):
            per_step, params, runner = timed_run(WORKLOADS[name], X, Y, comm)
            steps.append(per_step)
            if runner is not None:
                comms.append(runner.reduce.seconds / runner.reduce.calls)
        results[name] = {"step_s": statistics.median(steps), "steps_s": steps,
                         "comm_s": statistics.median(comms) if comms else None,
                         "params": {k: v.tolist() for k, v in params.items()}}
    return results


def worker(out: str, names: list[str], rows: int, repeats: int) -> None:
    """The program each rank runs under mpirun; rank 0 writes the results."""
    from nnbackend.distributed import MPICommunicator

    class TimedCommunicator(MPICommunicator):
        """Keeps the loop's step runner, whose all-reduce counts its time."""

        def data_parallel(self, trainer: Any, spec: Any) -> Any:
            self.runner = super().data_parallel(trainer, spec)
            return self.runner

    comm = TimedCommunicator()
    results = measure(names, rows, repeats, comm)
    if comm.is_root:
        Path(out).write_text(json.dumps({"ranks": comm.size, "results": results}))


def run_ranks_under_mpirun(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """Start ``mpirun -n N`` on this script's worker mode; rank 0's results."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("no mpirun on PATH: pip install 'nnbackend[mpi]'")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.json"
        threads = str(args.threads_per_rank)
        env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1",
               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        command = [mpirun, "-n", str(args.ranks), "--oversubscribe", "--mca",
                   "mpi_yield_when_idle", "1", sys.executable, __file__, "--worker", str(out),
                   "--workloads", ",".join(names), "--rows", str(args.rows),
                   "--repeats", str(args.repeats)]
        subprocess.run(command, env=env, check=True)
        return json.loads(out.read_text())["results"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure (median)")
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads, one process")
    parser.add_argument("--threads-per-rank", type=int, default=1)
    parser.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    if args.worker:
        worker(args.worker, names, args.rows, args.repeats)
        return

    print(f"{args.rows} x {FEATURES}, {FEATURES}-{HIDDEN}-1, float64 NumPy, gradient "
          f"descent; medians of {args.repeats}; {os.cpu_count()} cores; BLAS threads: "
          f"{args.threads} (one process), {args.threads_per_rank} per rank")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        single = measure(names, args.rows, args.repeats)
    ranks = run_ranks_under_mpirun(args, names)
    header = (f"{'workload':<16} {'1 process ms/step':>18} {f'{args.ranks} ranks ms/step':>16} "
              f"{'speedup':>8} {'all-reduce us/step':>19} {'max |diff|':>11}")
    print(header)
    worst = 0.0
    for name in names:
        one, many = single[name], ranks[name]
        diff = max(float(np.max(np.abs(np.asarray(many["params"][k]) - np.asarray(v))))
                   for k, v in one["params"].items())
        worst = max(worst, diff)
        print(f"{WORKLOADS[name].label:<16} {one['step_s'] * 1e3:>18.2f} "
              f"{many['step_s'] * 1e3:>16.2f} {one['step_s'] / many['step_s']:>7.2f}x "
              f"{many['comm_s'] * 1e6:>19.0f} {diff:>11.1e}")
    if worst > 1e-10:
        sys.exit(f"the ranks' model differs from one process's by {worst:.1e}")


if __name__ == "__main__":
    main()
