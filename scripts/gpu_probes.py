"""Where a training step's time goes on a GPU, and what streaming data from the host costs.

Two measurements for ``scripts/gpu_check.py`` (each prints one JSON document), runnable on
their own on a CUDA machine:

    python scripts/gpu_probes.py steps       # per-step time and kernels, per variant
    python scripts/gpu_probes.py streaming   # wide workload: data on the device vs host

``steps`` runs the benchmark's planar, wide and deep workloads (``scripts/bench.py``) for
a few hundred steps each through four implementations: nnbackend on CuPy (eager),
nnbackend on PyTorch CUDA eager, nnbackend on PyTorch CUDA with each step replayed as a
CUDA graph, and PyTorch's own autograd loop (the benchmark's peer). For each it reports
the median time per step over alternating repetitions (synchronised, timed in-process),
and, from PyTorch's profiler (CUPTI sees every kernel on the device, CuPy's included),
the kernels per step, their summed GPU time, and the host calls that wait for the device.

``streaming`` trains the wide workload with the data on the device and with the data
kept in host memory (each batch gathered on the host and copied while the previous step
runs), on PyTorch CUDA with graphs and on CuPy, and reports the speed ratio host/device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _bench_impls import TorchRunner
from _bench_workloads import build_workloads

from nnbackend import Network, TrainingOptions, encode_targets, host_rng, resolve_backend
from nnbackend.training.trainer import Trainer

#: Steps per timed repetition, per workload (planar steps are 25 tiny kernels).
STEPS = {"planar": 2000, "wide": 470, "deep": 470}
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
              "cudaMemcpy", "cuStreamSynchronize", "cuCtxSynchronize")


class NNBackendSteps:
    """A fixed number of nnbackend training steps of a workload on one backend."""

    def __init__(self, work: Any, backend_name: str, graphs: str, steps: int,
                 device: str = "cuda") -> None:
        self.work, self.steps = work, steps
        self.backend = resolve_backend(device, backend_name, work.dtype)
        self.graphs = graphs
        self.X = self.backend.asarray(work.data.X)
        self.Y = self.backend.asarray(encode_targets(work.data.y, work.task).Y)
        self.key = f"nnbackend {backend_name}" + (" + CUDA graphs" if graphs == "on" else
                                                  " eager")

    def run(self, steps: int | None = None) -> None:
        """Train ``steps`` steps (one record, at the end) from the workload's start."""
        w, n = self.work, steps or self.steps
        net = Network.create(w.layers, self.backend, w.hidden, w.task, w.init,
                             rng=host_rng(w.seed))
        options = TrainingOptions(learning_rate=w.learning_rate, iterations=n,
                                  batch_size=w.batch_size, optimizer=w.optimizer,
                                  print_every=n + 1)
        Trainer(net, self.X, self.Y, options, host_rng(0), cuda_graph=self.graphs).run()

    def sync(self) -> None:
        self.backend.synchronize()


class TorchSteps:
    """PyTorch autograd (the benchmark's peer) for a fixed number of steps."""

    def __init__(self, work: Any, torch: Any, steps: int, device: str = "cuda") -> None:
        self.runner = TorchRunner(work, torch, device)
        self.torch, self.work, self.steps = torch, work, steps
        self.key = "torch autograd eager"

    def run(self, steps: int | None = None) -> None:
        n = steps or self.steps
        runner = self.runner
        runner.setup()
        w = self.work
        if w.batch_size is None:
            for _ in range(n):
                runner._step(runner.X, runner.y)
            return
        torch, m, b = self.torch, runner.X.shape[0], w.batch_size
        order = torch.randperm(m, device=runner.device)
        for i in range(n):
            start = (i * b) % (m - b)
            rows = order[start:start + b]
            runner._step(torch.index_select(runner.X, 0, rows),
                         torch.index_select(runner.y, 0, rows))

    def sync(self) -> None:
        self.runner.sync()


def seconds(variant: Any, steps: int | None = None) -> float:
    """Wall time of one synchronised run."""
    variant.sync()
    start = time.perf_counter()
    variant.run(steps)
    variant.sync()
    return time.perf_counter() - start


def kernels_per_step(variant: Any, torch: Any, lengths: tuple[int, int] = (20, 60)
                     ) -> dict[str, Any]:
    """Kernels, GPU time and waiting host calls per step, from two run lengths' difference
    (which cancels the set-up, the record and the captures)."""
    from torch.profiler import ProfilerActivity, profile

    counts = {}
    short, long = lengths
    for steps in (short, long):
        variant.sync()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            variant.run(steps)
            variant.sync()
        events = prof.events()
        gpu = [e for e in events if e.device_type.name == "CUDA"]
        kernels = [e for e in gpu if "memcpy" not in e.name.lower()
                   and "memset" not in e.name.lower()]
        counts[steps] = (len(kernels), sum(e.device_time for e in gpu),
                         sum(1 for e in events if e.name in SYNC_CALLS))
    per = long - short
    return {"kernels_per_step": (counts[long][0] - counts[short][0]) / per,
            "gpu_us_per_step": (counts[long][1] - counts[short][1]) / per,
            "waits_per_step": (counts[long][2] - counts[short][2]) / per}


def steps_probe(repeats: int, device: str, scale: float, quick: bool = False
                ) -> dict[str, Any]:
    """Per-step time and kernels of every variant on planar, wide and deep.

    ``quick`` runs a handful of steps per measurement: a smoke test of this code (the
    CPU dry run of ``scripts/gpu_check.py``), not a timing.
    """
    import torch

    out: dict[str, Any] = {}
    on_gpu = device != "cpu"
    warm_up, lengths = (2, (2, 6)) if quick else (50, (20, 60))
    for work in build_workloads(["planar", "wide", "deep"], scale, repeats):
        steps = 5 if quick else max(60, round(STEPS[work.name] * scale))
        variants: list[Any] = [
            NNBackendSteps(work, "cupy" if on_gpu else "numpy", "off", steps, device),
            NNBackendSteps(work, "torch", "off", steps, device),
            *([NNBackendSteps(work, "torch", "on", steps, device)] if on_gpu else []),
            TorchSteps(work, torch, steps, device)]
        times: dict[str, list[float]] = {v.key: [] for v in variants}
        for variant in variants:
            variant.run(warm_up)  # kernels compiled, pools filled
        for rep in range(repeats):
            for i in range(len(variants)):
                variant = variants[(rep + i) % len(variants)]
                times[variant.key].append(seconds(variant) / steps * 1e6)
        rows = []
        for variant in variants:
            row = {"variant": variant.key, "us_per_step": statistics.median(times[variant.key]),
                   "runs_us_per_step": times[variant.key]}
            try:
                row.update(kernels_per_step(variant, torch, lengths))
            except Exception as exc:  # the profiler is a report, not a requirement
                row["profile_error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
        peer = rows[-1]["us_per_step"]
        for row in rows:
            row["over_torch_autograd"] = row["us_per_step"] / peer
        out[work.name] = {"description": work.describe(), "steps": steps, "rows": rows}
        print(f"[steps] {work.name}: " + ", ".join(
            f"{r['variant']} {r['us_per_step']:.1f} us" for r in rows), file=sys.stderr)
    return out


def streaming_probe(repeats: int, device: str, scale: float) -> dict[str, Any]:
    """The wide workload, 2 epochs, data on the device vs kept on the host."""
    (work,) = build_workloads(["wide"], scale, repeats)
    targets = encode_targets(work.data.y, work.task).Y
    out: dict[str, Any] = {"description": work.describe()}
    for backend_name in (("torch", "cupy") if device != "cpu" else ("numpy", "torch")):
        backend = resolve_backend(device, backend_name, work.dtype)
        on_device = (backend.asarray(work.data.X), backend.asarray(targets))
        on_host = (work.data.X, targets)
        options = TrainingOptions(learning_rate=work.learning_rate, epochs=2,
                                  batch_size=work.batch_size, print_every=2)

        def fit(place: str, data: tuple[Any, Any], backend: Any = backend,
                options: TrainingOptions = options) -> Callable[[], Any]:
            def run() -> Any:
                net = Network.create(work.layers, backend, work.hidden, work.task,
                                     work.init, rng=host_rng(work.seed))
                return Trainer(net, *data, options, host_rng(0), data_on=place).run()
            return run

        runs = {"device": fit("device", on_device), "host": fit("host", on_host)}
        times: dict[str, list[float]] = {"device": [], "host": []}
        costs = {}
        for place, fit_once in runs.items():
            costs[place] = fit_once().history[-1]["cost"]  # warm-up, and the result
        for rep in range(repeats):
            for place in (("device", "host") if rep % 2 == 0 else ("host", "device")):
                backend.synchronize()
                start = time.perf_counter()
                runs[place]()
                backend.synchronize()
                times[place].append(time.perf_counter() - start)
        on_gpu, streamed = (statistics.median(times["device"]),
                            statistics.median(times["host"]))
        out[backend_name] = {"device_s": on_gpu, "host_s": streamed, "runs": times,
                             "host_speed_over_device": on_gpu / streamed,
                             "final_cost": costs, "same_cost": costs["device"] == costs["host"]}
        print(f"[streaming] {backend_name}: data on the device {on_gpu:.3f} s, on the host "
              f"{streamed:.3f} s: {on_gpu / streamed:.2f}x the on-device speed; same cost: "
              f"{costs['device'] == costs['host']}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["steps", "streaming"])
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repetitions per variant (default 5; medians)")
    parser.add_argument("--device", default="cuda",
                        help="cuda (default) or cuda:N; cpu runs NumPy and PyTorch CPU "
                             "instead (a smoke test of this script)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="shrink the workloads' data and steps (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a few steps per measurement: checks this script, times "
                             "nothing (steps only)")
    args = parser.parse_args(argv)
    if args.probe == "steps":
        doc = steps_probe(args.repeats, args.device, args.scale, args.quick)
    else:
        doc = streaming_probe(args.repeats, args.device, args.scale)
    print(json.dumps(doc, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
