"""Is this checkout slower than another revision? The benchmark's workloads, A/B, one run.

    python scripts/bench_versions.py --base 827d906          # or a tag, a branch
    python scripts/bench_versions.py --base HEAD~5 --repeats 7 --workloads planar

It checks the base revision out into a temporary git worktree, then times the same
training run with each version's ``nnbackend`` alternately (base, this, base, this, ...),
each in a fresh process that times only its training loop (``time.perf_counter`` around
``nnbackend.train``, not the start-up), and prints the medians and the ratio
``this / base`` (below 1 is faster). Alternating and medians keep a busy shared machine's
swings out of the ratio. The workloads are ``scripts/bench.py``'s, on NumPy on the CPU:

- ``planar``: the course's flower, 2-4-1 tanh/sigmoid, full-batch gradient descent, lr 1.2,
  10000 iterations (float64);
- ``wide``: 60000 x 784 random float32 data, 10 classes, 784-256-10 relu, gradient descent
  lr 0.1, batch 256, 1 epoch;
- ``deep``: the same data, 784-512-256-128-10 relu, Adam lr 1e-3, batch 256, 1 epoch.

Each run also counts its minor page faults (``ru_minflt`` around the loop): a step frees
and allocates the same arrays, and whether glibc's malloc returns that memory to the system
and faults it in again changes a run by 10-20% on ``wide`` (see
``nnbackend/core/host_memory.py``). To compare the code alone, give both versions the same
thresholds: ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864`` in the
environment reaches every run (and this version then leaves the thresholds alone).

Only the public API both versions share is used (``resolve_backend``, ``Network.create``,
``encode_targets``, ``TrainingOptions``, ``train``), so any revision since the first
release can be the base.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What each child process runs: build the workload, time the loop, print the seconds.
CHILD = r"""
import resource, sys, time
import numpy as np
import nnbackend as n

name = sys.argv[1]
if name == "planar":
    X, y = n.load_dataset("flower")
    backend = n.resolve_backend("cpu", "numpy", "float64")
    sizes, act, init = (2, 4, 1), "tanh", "small"
    options = n.TrainingOptions(learning_rate=1.2, iterations=10000, print_every=1000)
else:
    rng = np.random.RandomState(0)
    X = rng.randn(60000, 784).astype(np.float32)
    y = rng.randint(0, 10, 60000)
    backend = n.resolve_backend("cpu", "numpy", "float32")
    if name == "wide":
        sizes, act, init = (784, 256, 10), "relu", "he"
        options = n.TrainingOptions(learning_rate=0.1, epochs=1, batch_size=256)
    else:
        sizes, act, init = (784, 512, 256, 128, 10), "relu", "he"
        options = n.TrainingOptions(learning_rate=1e-3, epochs=1, batch_size=256,
                                    optimizer="adam")
targets = n.encode_targets(y)
net = n.Network.create(sizes, backend, act, targets.task, init, rng=n.host_rng(3))
Xd, Yd = backend.asarray(X), backend.asarray(targets.Y)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
n.train(net, Xd, Yd, options, rng=n.host_rng(3))
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


def time_once(source: Path, workload: str) -> tuple[float, int]:
    """Seconds and minor page faults of one training loop with the ``nnbackend`` found in
    ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source), "NNBACKEND_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-c", CHILD, workload], env=env,
                          cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {workload} run failed with {source}:\n{done.stderr[-2000:]}")
    seconds, faults = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(faults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--repeats", type=int, default=5, help="timings per version (median)")
    parser.add_argument("--workloads", default="planar,wide,deep",
                        help="comma-separated, of planar, wide, deep")
    args = parser.parse_args()
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(workloads) - {"planar", "wide", "deep"}
    if unknown or args.repeats < 1:
        parser.error(f"unknown workloads {sorted(unknown)}" if unknown else "--repeats >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base),
                        args.base], check=True)
        try:
            print(f"this checkout vs {args.base}; NumPy on the CPU; medians of {args.repeats} "
                  "alternating runs, each timing its training loop in-process")
            print(f"{'workload':10} {'base s':>9} {'this s':>9} {'this/base':>10} "
                  f"{'base faults':>12} {'this faults':>12}")
            for workload in workloads:
                runs: dict[str, list[tuple[float, int]]] = {"base": [], "this": []}
                for _ in range(args.repeats):
                    runs["base"].append(time_once(base, workload))
                    runs["this"].append(time_once(ROOT, workload))
                b, t = (statistics.median(s for s, _ in runs[v]) for v in ("base", "this"))
                fb, ft = (statistics.median(f for _, f in runs[v]) for v in ("base", "this"))
                print(f"{workload:10} {b:9.3f} {t:9.3f} {t / b:9.2f}x {fb:12.0f} {ft:12.0f}",
                      flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                           check=False)


if __name__ == "__main__":
    main()
