"""Benchmark nnbackend against what a user would pick instead.

Runs each workload for nnbackend and for each installed peer in ONE process: one untimed
warm-up run of each, one untimed run under a memory probe, then several timed
repetitions in which the implementations alternate (the starting one rotates). Prints, per workload,
the median time of each, the ratio nnbackend/peer, the final cost and accuracy of each
(computed the same way for all, on the host), the peak memory, and the project's speed
targets as PASS/MISS. ``--json PATH`` (or ``-`` for stdout) writes the same as one JSON document.

    pip install '.[bench]'            # + scikit-learn, threadpoolctl ('.[bench,torch]')
    python scripts/bench.py           # every workload on the CPU (about 10 minutes)
    python scripts/bench.py --quick   # tiny sizes, one repetition (a smoke test)
    python scripts/bench.py --device cuda --workloads planar,wide
    python scripts/bench.py --workloads wide --peers torch,torch-copy,nnbackend-torch

The planar workload and the ``notes`` peer come from the shallow-network study notes of
the Deep Learning Specialization (course 1, week 3, "planar data classification with one
hidden layer"): its flower data set and its plain-NumPy 2-layer training loop.

Workloads: ``planar`` (the flower data set, 2-4-1 tanh/sigmoid, full-batch GD lr 1.2,
10000 iterations, float64), ``wide`` (60000 x 784 synthetic 10-class float32 data,
784-256-10 ReLU/softmax, SGD lr 0.1, batch 256, 3 epochs), ``deep`` (same data,
784-512-256-128-10, Adam lr 1e-3, batch 256, 2 epochs), ``gemm`` (the time the wide
workload's matrix products alone take at this machine's measured GEMM rate), ``study``
(the course's hidden-size study, n_h = 1, 2, 3, 4, 5, 20, 50 on the flower, 5000
iterations: one ``nnbackend.sweep`` against the seven single runs one after the other),
``sweep256`` (256 flower models, 16 seeds x 16 learning rates, 2-4-1, 1000 iterations, in
one stack, against one model's step; float64 and float32; 1,024 models with ``--device
cuda``).

Peers: ``notes`` (the study notes' plain-NumPy loop, planar only), ``sklearn``
(``MLPClassifier``), ``torch`` (PyTorch eager autograd, the idiomatic loop: each batch
gathered with ``index_select``), ``nnbackend-torch`` (nnbackend itself on its PyTorch
backend), and, only when asked for, ``torch-copy`` (the same PyTorch model making a
permuted copy of the whole data set every epoch); for sweep256, ``vmap`` (PyTorch's
``torch.func.vmap`` over ``functional_call`` of the same network, from nnbackend's initial
weights) and ``gridsearch`` (scikit-learn's ``GridSearchCV`` over ``MLPClassifier``,
``n_jobs=-1``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import json
import os
import sys
import time
import warnings
from typing import Any

from _bench_common import (
    MEMORY_PROBES,
    Measurement,
    Runner,
    Workload,
    peak_memory,
    score,
    timed_fit,
    warm_up,
)
from _bench_gemm import gemm_floor
from _bench_impls import (
    NNBackendRunner,
    NotesRunner,
    SklearnRunner,
    TorchRunner,
    cuda_memory_probes,
    optional_module,
)
from _bench_many import ManyWorkload, SinglesRunner, SweepRunner, study_workload, sweep_workloads
from _bench_many_peers import GridSearchRunner, VmapRunner
from _bench_many_report import agreement, many_dict, many_targets, measure_many, print_many_table
from _bench_report import (
    Emit,
    environment,
    load_average,
    measurement_dict,
    print_header,
    print_table,
    print_targets,
)
from _bench_targets import Target, cost_agreement, summary, targets_for
from _bench_workloads import build_workloads

import nnbackend
from nnbackend import cuda_status, resolve_backend
from nnbackend.core.host_memory import keep_step_memory
from nnbackend.data.scale import FeatureScaleWarning
from nnbackend.persistence.atomic import atomic_write_text

WORKLOADS = ("planar", "wide", "deep", "gemm", "study", "sweep256")
#: Every peer --peers accepts; PEERS are the ones run by default.
ALL_PEERS = ("notes", "sklearn", "torch", "torch-copy", "nnbackend-torch", "nnbackend-jax")
PEERS = ("notes", "sklearn", "torch", "nnbackend-torch", "nnbackend-jax")
#: Peers that need PyTorch.
TORCH_PEERS = ("torch", "torch-copy", "nnbackend-torch")
QUICK_SCALE = 0.01
#: Peers of the many-model workloads only (study, sweep256), run by default; vmap needs
#: PyTorch. (Added here, not in the tuples above: other peers are added there.)
MANY_PEERS = ("vmap", "gridsearch")
ALL_PEERS += MANY_PEERS  # type: ignore[assignment]
PEERS += MANY_PEERS  # type: ignore[assignment]
TORCH_PEERS += ("vmap",)  # type: ignore[assignment]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Columns: median s = median wall time of the timed fits (a fresh model "
               "each); nnb/peer = nnbackend's median over the row's (below 1: nnbackend "
               "is faster); final cost and accuracy = cross-entropy and accuracy of the "
               "trained model, computed the same way for every row on the host in float64 "
               "from its predicted probabilities; peak memory = bytes allocated above "
               "what existed before the fit (method named under each table). "
               "Many-model tables (study, sweep256): median s = training every model of "
               "the row once; us/model/step = that time over (models x iterations); "
               "nnb/row = nnbackend's sweep's us/model/step over the row's (for the "
               "'one model' row: the stack's cost per model against one model's step); "
               "final cost and train accuracy = best/median/worst over the row's models. "
               "Their peers: vmap = torch.func.vmap over torch.func.grad of a "
               "functional_call loss, the update written on the stacked tensors "
               "(sweep256); gridsearch = scikit-learn GridSearchCV over MLPClassifier, "
               "n_jobs=-1 (sweep256, float64, CPU); nnbackend-torch, nnbackend-jax = the "
               "sweep and the single runs on nnbackend's PyTorch and JAX backends. "
               "Other load on the machine skews timings: the header and the end print "
               "the load average.")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS) +
                             " (default: all)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="comma-separated subset of " + ",".join(ALL_PEERS) + ". "
                             "notes: the study notes' plain-NumPy loop (planar only); "
                             "sklearn: "
                             "MLPClassifier; torch: PyTorch eager autograd, each mini-batch "
                             "gathered with torch.index_select (the idiomatic loop); "
                             "torch-copy: the same, but a permuted copy of the whole data "
                             "set every epoch (2x the data in memory; not run by default, "
                             "it adds a full PyTorch run per workload); nnbackend-torch: "
                             "nnbackend on its PyTorch backend (its ratio to torch is "
                             "printed under the table); nnbackend-jax: nnbackend on its "
                             "JAX backend, each step compiled by XLA (jax.jit). Peers that "
                             "are not installed are "
                             "skipped with a note (default: " + ",".join(PEERS) + ")")
    parser.add_argument("--device", default="cpu",
                        help="cpu (NumPy, against the study notes' loop, scikit-learn and "
                             "PyTorch "
                             "CPU; nnbackend-torch on PyTorch CPU) or cuda / cuda:N (CuPy "
                             "against PyTorch CUDA; nnbackend-torch on PyTorch CUDA, "
                             "nnbackend-jax on JAX's CUDA build; timed "
                             "with a device sync); cuda without a GPU exits with status 2")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repetitions per workload (default: 9 for planar, "
                             "5 for wide, deep and study, 3 for sweep256, since this "
                             "machine's speed drifts between seconds; 1 with --quick)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the planar, study and sweep256 iterations and the "
                             "wide/deep example counts by this factor, e.g. 0.1 for a "
                             "quicker look (default: 1, the sizes above)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke-test size: --scale {QUICK_SCALE} and one repetition "
                             "(and sweep256 on 4 seeds x 4 learning rates)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every number as one JSON document to PATH; '-' "
                             "writes it to stdout and sends the table to stderr")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit every BLAS and OpenMP pool (threadpoolctl) and "
                             "torch.set_num_threads to N threads (default: the libraries' "
                             "own defaults, and torch.set_num_threads(CPU count))")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr")
    args = parser.parse_args(argv)
    args.workload_list = _choices(parser, "--workloads", args.workloads, WORKLOADS)
    args.peer_list = _choices(parser, "--peers", args.peers, ALL_PEERS)
    if args.quick:
        args.scale = QUICK_SCALE
        args.repeats = args.repeats or 1
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    return args


def _choices(parser: argparse.ArgumentParser, flag: str, value: str,
             allowed: tuple[str, ...]) -> list[str]:
    """Split a comma-separated option and reject unknown names."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(unknown)}; choose from {','.join(allowed)}")
    return names


def make_runners(work: Workload, device: str, peers: list[str], torch: Any,
                 sklearn: Any) -> tuple[list[Runner], list[str]]:
    """nnbackend first, then each requested peer that can run; notes on the skipped ones."""
    on_gpu = device != "cpu"
    backend = resolve_backend(device, "cupy" if on_gpu else "numpy", work.dtype)
    runners: list[Runner] = [NNBackendRunner(work, backend)]
    skipped = []
    for peer in peers:
        if peer in MANY_PEERS:
            continue  # peers of the many-model workloads
        if peer in ("notes", "sklearn") and on_gpu:
            skipped.append(f"{peer}: CPU-only peer, not run with --device {device}")
        elif peer == "notes" and work.name != "planar":
            continue  # the notes' loop is the 2-layer binary network only
        elif peer == "notes":
            runners.append(NotesRunner(work))
        elif peer == "sklearn" and sklearn is None:
            skipped.append("sklearn: scikit-learn is not installed (pip install "
                           "'nnbackend[bench]')")
        elif peer == "sklearn":
            runners.append(SklearnRunner(work, sklearn))
        elif peer == "nnbackend-jax":
            if jax_installed():
                runners.append(NNBackendRunner(
                    work, resolve_backend(device, "jax", work.dtype), key=peer))
            else:
                skipped.append(JAX_MISSING)
        elif peer == "torch-copy" and work.batch_size is None:
            skipped.append("torch-copy: a full-batch workload has no batches to gather "
                           "(the torch row is the same loop)")
        elif torch is None:
            skipped.append(f"{peer}: PyTorch is not installed (pip install "
                           "'nnbackend[torch]')")
        elif on_gpu and not torch.cuda.is_available():
            skipped.append(f"{peer}: this PyTorch build sees no CUDA device")
        elif peer == "nnbackend-torch":
            runners.append(NNBackendRunner(work, resolve_backend(device, "torch", work.dtype),
                                           key="nnbackend-torch"))
        else:
            runners.append(TorchRunner(work, torch, device,
                                       copy_per_epoch=peer == "torch-copy"))
    return runners, skipped


#: The skip note of the nnbackend-jax rows where JAX is missing.
JAX_MISSING = "nnbackend-jax: JAX is not installed (pip install 'nnbackend[jax]')"


def jax_installed() -> bool:
    """Whether JAX can be imported here (found, not imported: that takes a second)."""
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def torch_backend_ratios(rows: list[Measurement]) -> dict[str, float]:
    """nnbackend-torch's median over each PyTorch row's (``torch``, ``torch-copy``)."""
    by = {r.key: r for r in rows}
    if "nnbackend-torch" not in by:
        return {}
    ours = by["nnbackend-torch"].median
    return {key: ours / by[key].median for key in ("torch", "torch-copy") if key in by}


def measure(work: Workload, runners: list[Runner], probes: dict[str, Any],
            progress: Emit) -> list[Measurement]:
    """Warm-up, a memory run, then ``work.repeats`` alternating timed repetitions.

    Every implementation runs once untimed (warm-up) and once under its memory probe
    before the timed repetitions; in repetition ``r`` the order starts at runner ``r``.
    Costs and accuracies are scored after the last timed run.
    """
    rows = [Measurement(r.key, r.label, memory_method=r.memory_method) for r in runners]
    for runner, row in zip(runners, rows, strict=True):
        progress(f"[{work.name}] warm-up and memory run: {runner.key}")
        warm_up(runner)
        row.peak_bytes = peak_memory(runner, probes)
    n = len(runners)
    for rep in range(work.repeats):
        order = [(rep + i) % n for i in range(n)]
        for i in order:
            rows[i].times.append(timed_fit(runners[i]))
        progress(f"[{work.name}] repetition {rep + 1}/{work.repeats}: " + ", ".join(
            f"{rows[i].key} {rows[i].times[-1]:.3f}s" for i in order))
    data = work.data
    for runner, row in zip(runners, rows, strict=True):
        row.cost, row.accuracy = score(runner.proba(data.X), data.y)
        if data.X_test is not None and data.y_test is not None:
            row.test_accuracy = score(runner.proba(data.X_test), data.y_test)[1]
    return rows


def run_workload(work: Workload, args: argparse.Namespace, mods: dict[str, Any],
                 probes: dict[str, Any], emit: Emit, progress: Emit) -> dict[str, Any]:
    """Measure one workload, print its table and targets, return its JSON part."""
    runners, skipped = make_runners(work, args.device, args.peer_list, mods["torch"],
                                    mods["sklearn"])
    rows = measure(work, runners, probes, progress)
    agreement = cost_agreement(runners) if work.name == "planar" else None
    targets = targets_for(work, rows, agreement) if args.device == "cpu" else []
    emit("")
    emit(f"{work.name}: {work.describe()}; median of {work.repeats} after a warm-up")
    print_table(work.name, rows, work.data.train_bytes, emit)
    torch_ratios = torch_backend_ratios(rows)
    if torch_ratios:
        emit("  nnbackend on its torch backend over PyTorch autograd (same library and "
             "threads): " + ", ".join(f"nnbackend-torch / {key} {value:.2f}"
                                      for key, value in torch_ratios.items()))
    for note in skipped:
        emit(f"  skipped {note}")
    noisy = [f"{r.key} {max(r.times) / min(r.times):.1f}x" for r in rows
             if max(r.times) > 1.5 * min(r.times)]
    if noisy:
        emit(f"  noisy timings (max/min over repetitions: {', '.join(noisy)}): other load "
             "on the machine? compare the load averages")
    if work.batch_size is not None:
        emit(f"  nnbackend's time includes its history record (every {work.print_every} "
             "epochs): the mean of the epoch's batch costs and accuracies, summed on the "
             "device as it trains and read once")
    if agreement is not None and agreement["max_abs_diff"] is None:
        emit(f"  cost agreement: record counts differ (nnbackend, notes: "
             f"{agreement['records']})")
    elif agreement is not None:
        emit(f"  cost agreement, nnbackend vs notes over {agreement['records']} recorded "
             f"iterations: max |diff| {agreement['max_abs_diff']:.2e} "
             f"(first 60%: {agreement['max_abs_diff_first_60pct']:.2e})")
    if args.device != "cpu":
        emit("  (the speed targets are set for the CPU; on CUDA the ratios above are the result)")
    print_targets(targets, emit)
    return {"description": work.describe(), "repeats": work.repeats,
            "data_bytes": work.data.train_bytes, "skipped": skipped,
            "rows": [measurement_dict(r, rows[0]) for r in rows],
            "nnbackend_torch_over": torch_ratios, "cost_agreement": agreement,
            "targets": [t.as_dict() for t in targets]}


def run_gemm(work: Workload, args: argparse.Namespace, wide: dict[str, Any] | None,
             emit: Emit, progress: Emit) -> dict[str, Any]:
    """Measure the wide workload's GEMM floor and compare nnbackend's wide time to it."""
    progress("[gemm] timing the wide workload's matrix products")
    backend = resolve_backend(args.device, "numpy" if args.device == "cpu" else "cupy",
                              work.dtype)
    m, batch = work.data.X.shape[0], work.batch_size or work.data.X.shape[0]
    products = gemm_floor(work.layers, m, batch, backend, 0.005 if args.quick else 0.1)
    floor = sum(p.seconds_per_epoch for p in products)
    flops = sum(p.flops * p.calls_per_epoch for p in products)
    emit("")
    emit(f"gemm floor: the wide workload's matrix products per epoch ({m} examples, batch "
         f"{batch}, {backend.describe()})")
    emit(f"  {'product (column form)':<30} {'m x k x n':>16} {'calls':>6} {'ms/call':>9} "
         f"{'GFLOP/s':>8} {'s/epoch':>8}")
    for p in products:
        emit(f"  {p.name:<30} {f'{p.m}x{p.k}x{p.n}':>16} {p.calls_per_epoch:>6} "
             f"{1e3 * p.seconds_per_call:>9.3f} {p.flops / p.seconds_per_call / 1e9:>8.1f} "
             f"{p.seconds_per_epoch:>8.3f}")
    emit(f"  floor: {floor:.3f} s per epoch for {flops / 1e9:.1f} GFLOP "
         f"({flops / floor / 1e9:.1f} GFLOP/s)")
    out: dict[str, Any] = {"products": [p.as_dict() for p in products],
                           "floor_s_per_epoch": floor, "gflop_per_epoch": flops / 1e9,
                           "nnbackend_s_per_epoch": None, "nnbackend_over_floor": None}
    targets = []
    if wide is not None:
        per_epoch = wide["rows"][0]["median_s"] / work.passes
        out["nnbackend_s_per_epoch"] = per_epoch
        out["nnbackend_over_floor"] = per_epoch / floor
        emit(f"  nnbackend wide: {per_epoch:.3f} s per epoch = {per_epoch / floor:.2f}x the "
             "floor")
        # The floor over a peer's time is the lowest nnbackend/peer ratio that any
        # implementation of these products at this GEMM rate could reach.
        bounds = {row["key"]: floor * work.passes / row["median_s"]
                  for row in wide["rows"][1:]}
        out["floor_over_peer"] = bounds
        for key, bound in bounds.items():
            emit(f"  the floor alone is {bound:.2f}x {key}'s wide time: the lowest ratio to "
                 f"{key} reachable at this GEMM rate")
        if args.device == "cpu":
            targets.append(Target("gemm", "nnbackend wide <= 2x the gemm floor",
                                  per_epoch / floor, 2.0, "x"))
    else:
        emit("  (run the wide workload too to compare nnbackend's time with the floor)")
    print_targets(targets, emit)
    out["targets"] = [t.as_dict() for t in targets]
    return out


def make_many_runners(work: ManyWorkload, device: str, peers: list[str], torch: Any,
                      sklearn: Any) -> tuple[list[Any], list[str]]:
    """nnbackend's sweep first, then the single runs it is measured against, then peers.

    On a GPU, nnbackend runs on CuPy and, with ``nnbackend-torch``, on PyTorch CUDA (the
    sweep and the one model each); ``nnbackend-jax`` adds the same two rows on JAX; study:
    the seven single runs; sweep256: one model.
    """
    on_gpu = device != "cpu"
    backend = resolve_backend(device, "cupy" if on_gpu else "numpy", work.dtype)
    study = work.name == "study"
    runners: list[Any] = [SweepRunner(work, backend),
                          SinglesRunner(work, backend, only_one=not study)]
    skipped = []
    wanted = [p for p in peers if p == "nnbackend-torch" or p in MANY_PEERS]
    if "nnbackend-jax" in peers and not jax_installed():
        skipped.append(JAX_MISSING)
    elif "nnbackend-jax" in peers:
        on_jax = resolve_backend(device, "jax", work.dtype)
        runners += [SweepRunner(work, on_jax, key="nnbackend-jax"),
                    SinglesRunner(work, on_jax, only_one=not study,
                                  key=("single runs" if study else "one model") + "-jax")]
    for peer in wanted:
        if peer == "gridsearch" and (on_gpu or study or work.dtype != "float64"):
            continue  # a CPU peer of the float64 grid of models of one size
        if peer == "vmap" and study:
            continue  # vmap stacks models of one hidden size
        if peer == "gridsearch" and sklearn is None:
            skipped.append("gridsearch: scikit-learn is not installed (pip install "
                           "'nnbackend[bench]')")
        elif peer == "gridsearch":
            runners.append(GridSearchRunner(work, sklearn))
        elif torch is None:
            skipped.append(f"{peer}: PyTorch is not installed (pip install "
                           "'nnbackend[torch]')")
        elif on_gpu and not torch.cuda.is_available():
            skipped.append(f"{peer}: this PyTorch build sees no CUDA device")
        elif peer == "vmap":
            runners.append(VmapRunner(work, torch, device))
        else:
            on_torch = resolve_backend(device, "torch", work.dtype)
            runners.append(SweepRunner(work, on_torch, key="nnbackend-torch"))
            runners.append(SinglesRunner(work, on_torch, only_one=not study,
                                         key=("one model" if not study else "single runs")
                                         + "-torch"))
    return runners, skipped


def run_many_workload(work: ManyWorkload, args: argparse.Namespace, mods: dict[str, Any],
                      emit: Emit, progress: Emit) -> dict[str, Any]:
    """Measure one many-model workload, print its table and targets, return its JSON."""
    runners, skipped = make_many_runners(work, args.device, args.peer_list, mods["torch"],
                                         mods["sklearn"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeatureScaleWarning)  # the flower, unscaled
        rows = measure_many(work, runners, progress)
    agree = agreement(work, rows)
    on_gpu = args.device != "cpu"
    targets = many_targets(work, rows, agree, on_gpu)
    emit("")
    emit(f"{work.name} ({work.dtype}): {work.describe()}; median of {work.repeats} after a "
         "warm-up")
    print_many_table(rows, emit)
    for note in skipped:
        emit(f"  skipped {note}")
    for key, diff in agree.items():
        emit(f"  final cost agreement, nnbackend vs {key} (same initial weights): "
             f"max |diff| {diff:.2e}")
    if "gridsearch" in {r.key for r in rows}:
        emit("  gridsearch draws its own (Glorot) initial weights: its costs differ; its "
             "costs and accuracies are its own scorers' on the training set")
    print_targets(targets, emit)
    return {"description": work.describe(), "dtype": work.dtype, "repeats": work.repeats,
            "skipped": skipped, "rows": [many_dict(r, rows[0]) for r in rows],
            "cost_agreement": agree, "targets": [t.as_dict() for t in targets]}


def check_device(device: str) -> str | None:
    """None when ``device`` can run here, else a one-line reason."""
    if device == "cpu":
        return None
    if device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        return f"unknown --device {device!r}; use cpu, cuda or cuda:N"
    status = cuda_status()
    if not status.available:
        return f"--device {device} needs a CUDA GPU, but {status.reason}"
    index = int(device[5:]) if ":" in device else 0
    if index >= status.device_count:
        return f"there is no {device}: {status.reason}"
    return None


def load_peers(args: argparse.Namespace) -> dict[str, Any]:
    """Import the optional libraries once and set their thread counts.

    torch gets ``torch.set_num_threads(--threads or CPU count)``; with ``--threads`` every
    BLAS and OpenMP pool loaded by then is limited too (through threadpoolctl).
    """
    wanted = set(args.peer_list)
    mods = {"torch": optional_module("torch") if wanted & set(TORCH_PEERS) else None,
            "sklearn": (optional_module("sklearn") if wanted & {"sklearn", "gridsearch"}
                        else None),
            "threadpoolctl": optional_module("threadpoolctl")}
    if mods["sklearn"] is not None and optional_module("sklearn.neural_network") is None:
        mods["sklearn"] = None  # a broken install: treat it as missing
    threads = args.threads or os.cpu_count() or 1
    if mods["torch"] is not None:
        mods["torch"].set_num_threads(threads)
    if args.threads is not None and mods["threadpoolctl"] is not None:
        mods["limits"] = mods["threadpoolctl"].threadpool_limits(limits=args.threads)
    # Move everything imported so far out of the collector's view, so the gc.collect()
    # before each timed run costs milliseconds, not a scan of torch's object graph.
    gc.collect()
    gc.freeze()
    return mods


def versions(device: str) -> dict[str, str | None]:
    """Installed versions of the libraries in play (None: not installed)."""
    out: dict[str, str | None] = {"nnbackend": nnbackend.__version__}
    dists = {"numpy": "numpy", "array-api-compat": "array-api-compat",
             "sklearn": "scikit-learn", "torch": "torch", "threadpoolctl": "threadpoolctl"}
    for label, dist in dists.items():
        out[label] = _dist_version(dist)
    if device != "cpu":
        out["cupy"] = getattr(optional_module("cupy"), "__version__", None)
    return out


def _dist_version(dist: str) -> str | None:
    """A distribution's installed version without importing it."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (targets do not change the status), 2 on usage."""
    args = parse_args(argv)
    problem = check_device(args.device)
    if problem is not None:
        print(f"bench.py: error: {problem}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    out_stream = sys.stderr if args.json == "-" else sys.stdout
    emit: Emit = functools.partial(print, file=out_stream, flush=True)
    progress: Emit = ((lambda _: None) if args.quiet
                      else functools.partial(print, file=sys.stderr, flush=True))
    mods = load_peers(args)
    probes = dict(MEMORY_PROBES) if args.device == "cpu" else cuda_memory_probes(mods["torch"])
    env = environment(versions(args.device), mods["threadpoolctl"],
                      torch_threads=(args.threads or os.cpu_count())
                      if mods["torch"] is not None else None, threads=args.threads)
    env["device"] = args.device
    # nnbackend's training loop sets glibc's malloc thresholds once per process (see
    # nnbackend/core/host_memory.py); set them before anything is timed, so that every
    # implementation, the peers included, runs with the same allocator.
    env["malloc_thresholds_kept"] = keep_step_memory()
    print_header(env, emit)
    doc: dict[str, Any] = {"environment": env, "workloads": {}, "gemm": None,
                           "settings": {"device": args.device, "scale": args.scale,
                                        "repeats": args.repeats, "peers": args.peer_list,
                                        "threads": args.threads,
                                        "workloads": args.workload_list}}
    for work in build_workloads(args.workload_list, args.scale, args.repeats):
        if work.name in args.workload_list:
            doc["workloads"][work.name] = run_workload(work, args, mods, probes, emit,
                                                       progress)
        if work.name == "wide" and "gemm" in args.workload_list:
            doc["gemm"] = run_gemm(work, args, doc["workloads"].get("wide"), emit, progress)
    many = [study_workload(args.scale, args.repeats)] if "study" in args.workload_list else []
    if "sweep256" in args.workload_list:
        many += sweep_workloads(args.scale, args.repeats, args.device != "cpu", args.quick)
    for many_work in many:
        key = (many_work.name if many_work.dtype == "float64"
               else f"{many_work.name}-{many_work.dtype}")
        doc["workloads"][key] = run_many_workload(many_work, args, mods, emit, progress)
    doc["targets_summary"] = summary(doc)
    doc["load_average_end"] = load_average()
    doc["total_s"] = time.perf_counter() - start
    counts = doc["targets_summary"]
    emit("")
    emit(f"targets: {counts['pass']} PASS, {counts['miss']} MISS, {counts['n/a']} n/a; "
         f"total {doc['total_s']:.0f} s; load average at end (1/5/15 min): "
         f"{doc['load_average_end']}")
    if args.json:
        text = json.dumps(doc, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            atomic_write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
