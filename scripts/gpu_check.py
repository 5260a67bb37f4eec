"""Check nnbackend on a CUDA GPU in one command, on a machine without network access.

The GPU machine needs Python with CuPy (and PyTorch for the benchmark's peer) already
installed. The two pure-Python packages nnbackend needs beyond them can travel as wheels,
downloaded beforehand on any machine with network access, in the repository root:

    pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \\
        array-api-compat array-api-strict

Then, on the GPU machine, from the repository root (nothing needs installing there):

    python scripts/gpu_check.py --wheels .whl --out gpu-check

If ``array_api_compat`` does not import, the wheels in ``--wheels`` are installed with
``pip install --no-index --no-deps --target OUT/site`` and put on the path; without them
the script says which wheels to fetch and exits with status 2.

Each step runs in its own process with its own time limit, and the whole run stays
inside ``--budget`` seconds (default 480): a step that would not fit is reported as
skipped. The steps:

1. ``tests``: the tests that need a GPU (``-m gpu``: the ``cupy`` backend family and
   the PyTorch CUDA tests), with pytest directly.
2. ``train-float64``: ``nnbackend train --device cuda --backend cupy --dtype float64`` on
   the flower against the same run on the CPU: costs at iterations 0..6000 equal to 1e-9,
   and the training accuracy at most one example apart (later, lr 1.2 amplifies
   rounding).
3. ``cuda-graph``: the float64 run on PyTorch CUDA with CUDA graphs on and off: costs
   equal to 1e-12 (the graph replays the same kernels); against CuPy's eager run to 1e-9
   up to iteration 6000.
4. ``jax``: the float64 flower run on JAX on the GPU (each step compiled by XLA) against
   the same run on NumPy: costs at iterations 0..6000 equal to 1e-9, its time to the
   last record beside CuPy's eager run; skipped, with the install line, where JAX is not
   installed (``pip install 'jax[cuda13]'``, or the checkout's extra ``'.[jax-cuda13]'``).
5. ``train-float32``: CuPy in float32 against the CPU in float32.
6. ``devices``: ``nnbackend devices`` lists the GPU and the measured order of the CUDA
   backends; ``--backend auto`` picks the first of them that can run here, and
   ``nnbackend train``'s first line says so and why; ``--device cuda:N`` past the last
   GPU is a one-line error with exit status 2.
7. ``steps``: ``scripts/gpu_probes.py steps``: time, kernels and host waits per training
   step of each implementation; nnbackend's fastest against PyTorch autograd (planar
   <= 0.3x, wide and deep <= 1.0x).
8. ``streaming``: ``scripts/gpu_probes.py streaming``: the wide workload with its data
   kept in host memory, >= 80% of the speed with the data on the device.
9. ``sweep``: ``scripts/stack_probe.py`` on PyTorch CUDA (graphs) and CuPy: a stack of
   1,024 flower models per step against one model's step (>= 20 models' steps for the
   time of one stacked step), 8 stacked models against their single runs (float64, to
   1e-9: batched products may sum in another order) and the graphed stack against the
   eager one (to 1e-12).
10. ``bench``: ``scripts/bench.py --device cuda`` (planar, wide, deep) against PyTorch
   CUDA (with nnbackend on PyTorch and on JAX where installed), with fewer repetitions
   than on the CPU.
11. ``tests-rest``: the rest of the suite (``-m "not gpu"``: it must pass unchanged on a
   GPU machine) in whatever budget is left; unfinished, it is reported as skipped.

``--dry-run`` runs every step on the CPU instead, with NumPy standing in for CuPy and
tiny sizes (the tests are only collected): it checks this script and the probes against
the current code, in about a minute, on any machine; its figures mean nothing.

It writes ``OUT/summary.md`` (the tables to paste into the docs) and
``OUT/summary.json``, plus each step's log. Exit status: 0 when every step passed,
1 when one failed, 2 when the machine cannot run the check (no GPU, missing wheels).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib
import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ("array_api_compat", "array_api_strict")
DOWNLOAD_HINT = ("pip download --no-deps --only-binary=:all: --python-version "
                 f"{sys.version_info.major}.{sys.version_info.minor} -d .whl "
                 "array-api-compat array-api-strict")
#: Costs of the flower run compared between devices up to this iteration: later, lr 1.2
#: amplifies rounding differences of 1e-16 to about 1e-4 (see the README).
COMPARED_UP_TO = 6000


@dataclass(frozen=True)
class Target:
    """Where the steps run: a CUDA GPU, or the CPU standing in for it (``--dry-run``).

    Attributes
    ----------
    device : str
        ``--device`` of the GPU runs.
    cupy : str
        The backend of the runs that check CuPy (NumPy in a dry run).
    graphs : str
        ``--cuda-graph`` of the graphed PyTorch run (``auto`` in a dry run: off on a CPU).
    dry : bool
        True in a dry run: the figures are not judged, only produced.
    """

    device: str
    cupy: str
    graphs: str
    dry: bool

    @property
    def scale(self) -> float:
        """The probes' and the benchmark's size factor."""
        return 0.001 if self.dry else 1.0

    @property
    def flower(self) -> tuple[str, ...]:
        """Extra ``train`` options of the flower runs: 300 iterations in a dry run."""
        return ("--iterations", "300") if self.dry else ()


GPU = Target("cuda", "cupy", "on", dry=False)
DRY_RUN = Target("cpu", "numpy", "auto", dry=True)


@dataclass
class Step:
    """One check: its outcome, how long it took, and a line saying what it found."""

    name: str
    status: str = "skipped"  # passed, failed, skipped
    seconds: float = 0.0
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Checker:
    """Runs the steps in order inside one time budget, writing each log to ``out``."""

    def __init__(self, out: Path, budget: float, env: dict[str, str]) -> None:
        self.out, self.env = out, env
        self.deadline = time.monotonic() + budget
        self.steps: list[Step] = []

    def left(self) -> float:
        """Seconds left in the budget."""
        return self.deadline - time.monotonic()

    def run(self, name: str, limit: float, check: Callable[[Step, float], None],
            minimum: float = 10.0) -> Step:
        """Run ``check(step, limit)`` unless less than ``minimum`` seconds are left."""
        step = Step(name)
        self.steps.append(step)
        limit = min(limit, self.left())
        if limit < minimum:
            step.detail = f"not run: {self.left():.0f} s of the budget left"
            return step
        start = time.monotonic()
        try:
            check(step, limit)
        except subprocess.TimeoutExpired:
            step.status, step.detail = "failed", f"timed out after {limit:.0f} s"
        except Exception as exc:  # a check's own bug must not hide the other steps
            step.status, step.detail = "failed", f"{type(exc).__name__}: {exc}"
        step.seconds = time.monotonic() - start
        print(f"[{step.status}] {name} ({step.seconds:.1f} s): {step.detail}", flush=True)
        return step

    def command(self, name: str, args: list[str], limit: float,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``args`` with a time limit; its output goes to ``out/name.log``."""
        env = {**self.env, **(extra_env or {})}
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=limit, check=False)
        with open(self.out / f"{name}.log", "a") as log:
            log.write(f"$ {shlex.join(args)}\n{done.stdout}\n{done.stderr}\n"
                      f"exit status {done.returncode}\n")
        return done


def nnbackend_cli(*args: str) -> list[str]:
    """The nnbackend command line, run from this checkout (nothing installed)."""
    return [sys.executable, "-m", "nnbackend", *args]


def json_line(stdout: str) -> dict[str, Any]:
    """The JSON object ``--json`` prints as the last line of stdout."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the command printed no JSON")
    return dict(json.loads(lines[-1]))


def compare_costs(run: dict[str, Any], reference: dict[str, Any], up_to: int
                  ) -> tuple[float, int]:
    """Largest ``|cost - reference cost|`` over the records at iterations <= ``up_to``.

    Returns the difference and how many records were compared. The record lists must
    cover the same iterations.
    """
    pairs = [(a, b) for a, b in zip(run["history"], reference["history"], strict=True)
             if a["iteration"] <= up_to]
    if any(a["iteration"] != b["iteration"] for a, b in pairs) or not pairs:
        raise ValueError("the two runs recorded different iterations")
    return max(abs(a["cost"] - b["cost"]) for a, b in pairs), len(pairs)


#: pytest's closing line: ``12 passed, 3 skipped in 4.2s``, ``347/2733 tests collected
#: (2386 deselected) in 5.68s``, ``no tests ran in 0.1s``.
PYTEST_CLOSING = re.compile(r"^(\d|no tests ran).* in [\d.]+s\b")


def pytest_summary(output: str) -> str:
    """pytest's closing line (``12 passed, 3 skipped in 4.2s``), or the last line."""
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if PYTEST_CLOSING.match(line):
            return line
    return lines[-1] if lines else "(no output)"


def ensure_dependencies(wheels: Path, out: Path, env: dict[str, str]) -> str | None:
    """Make array-api-compat importable; None on success, else a one-line problem.

    Installs the wheels found in ``wheels`` into ``out/site`` (no network, no
    dependencies) when the package does not import, and puts that folder on
    ``sys.path`` and on the subprocesses' ``PYTHONPATH``.
    """
    missing = [name for name in WHEELS if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    found = [path for name in missing
             for path in glob.glob(str(wheels / f"{name}-*.whl"))]
    if "array_api_compat" in missing and not any("array_api_compat" in f for f in found):
        return (f"array-api-compat is not installed and no wheel is in {wheels}; on a "
                f"machine with network access run: {DOWNLOAD_HINT}")
    site = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))  # not in OUT: results only
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                           "--no-deps", "--target", str(site), *found],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"installing the wheels failed: {done.stderr.strip().splitlines()[-1:]}"
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return None


def gpu_description() -> dict[str, Any]:
    """GPU name, memory, driver and CUDA versions, and the library versions in play."""
    info: dict[str, Any] = {"date": datetime.datetime.now(datetime.timezone.utc)
                            .isoformat(timespec="seconds"),
                            "python": platform.python_version(),
                            "machine": platform.platform()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             check=False)
        info["nvidia_smi"] = smi.stdout.strip().splitlines()
    except OSError as exc:  # no nvidia-smi: a dry run, or a driver without its tools
        info["nvidia_smi"] = [f"nvidia-smi did not run ({exc.strerror})"]
    for module in ("numpy", "cupy", "torch", "jax", "array_api_compat", "array_api_strict"):
        try:
            info[module] = importlib.import_module(module).__version__
        except Exception:
            info[module] = None
    try:
        import cupy

        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
    except Exception as exc:
        info["cuda_error"] = str(exc)
    return info


def git_commit() -> str | None:
    """This checkout's commit, or None where git or the history is missing."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def check_tests(checker: Checker, step: Step, limit: float, target: Target,
                marks: str = "gpu") -> None:
    """The tests ``-m marks`` selects, on the cupy family; ``-n`` workers when
    pytest-xdist is there. A dry run only collects them."""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
            "-m", marks]
    if target.dry:
        args.append("--collect-only")
    elif importlib.util.find_spec("xdist") is not None:
        args += ["-n", "8"]
    # The cupy family alone: the other families are the CPU's, which CI runs.
    done = checker.command(step.name, args, limit, {"NNBACKEND_TEST_BACKENDS": "cupy"})
    step.detail = pytest_summary(done.stdout)
    step.status = "passed" if done.returncode == 0 else "failed"


def check_rest_of_tests(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """The tests that need no GPU, in the budget left: not finishing is no failure."""
    try:
        check_tests(checker, step, limit, target, marks="not gpu")
    except subprocess.TimeoutExpired:
        step.status, step.detail = "skipped", f"not finished in the {limit:.0f} s left"


def flower_run(checker: Checker, name: str, limit: float, target: Target, *args: str
               ) -> dict[str, Any]:
    """``nnbackend train --json`` on the flower with ``args``; its JSON summary."""
    done = checker.command(name, nnbackend_cli("train", "--json", "--quiet", *target.flower,
                                               *args), limit)
    if done.returncode != 0:
        raise RuntimeError(f"train {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return json_line(done.stdout)


def check_float64(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """CuPy float64 against the CPU: costs to 1e-9 up to iteration 6000, same accuracy."""
    gpu = flower_run(checker, step.name, limit / 2, target, "--device", target.device,
                     "--backend", target.cupy, "--dtype", "float64")
    cpu = flower_run(checker, step.name, limit / 2, target, "--device", "cpu", "--dtype",
                     "float64")
    diff, count = compare_costs(gpu, cpu, COMPARED_UP_TO)
    # The final accuracy comes from iteration 10000, where lr 1.2 has amplified 1e-16
    # rounding differences (cuBLAS and OpenBLAS sum in other orders) to about 1e-4 in the
    # cost: at most one of the 400 examples may then fall on the other side of 0.5.
    gap = abs(gpu["train_accuracy"] - cpu["train_accuracy"])
    same_accuracy = gap <= 1 / 400 + 1e-12
    step.data = {"max_cost_diff": diff, "records": count,
                 "gpu_accuracy": gpu["train_accuracy"], "cpu_accuracy": cpu["train_accuracy"],
                 "gpu_costs": [r["cost"] for r in gpu["history"]],
                 "cpu_costs": [r["cost"] for r in cpu["history"]]}
    step.status = "passed" if diff <= 1e-9 and same_accuracy else "failed"
    late, _ = compare_costs(gpu, cpu, 10**9)
    step.detail = (f"max |cost - cpu cost| over iterations 0..{COMPARED_UP_TO}: {diff:.2e} "
                   f"(<= 1e-9); accuracy {100 * gpu['train_accuracy']:.2f}% vs cpu "
                   f"{100 * cpu['train_accuracy']:.2f}% (at most one example apart); "
                   f"max |cost diff| over all records: {late:.1e}")


def check_cuda_graph(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """The float64 flower run on PyTorch CUDA with graphs on and off: costs equal to
    1e-12; and against CuPy's eager run (other kernels) up to iteration 6000."""
    runs = {}
    for key, mode in (("on", target.graphs), ("off", "off")):
        runs[key] = flower_run(checker, step.name, limit / 3, target, "--backend", "torch",
                               "--device", target.device, "--dtype", "float64",
                               "--cuda-graph", mode)
    cupy = flower_run(checker, step.name, limit / 3, target, "--device", target.device,
                      "--backend", target.cupy, "--dtype", "float64")
    diff, count = compare_costs(runs["on"], runs["off"], 10**9)
    vs_cupy, _ = compare_costs(runs["on"], cupy, COMPARED_UP_TO)
    times = {mode: run["history"][-1]["time"] for mode, run in runs.items()}
    times["cupy eager"] = cupy["history"][-1]["time"]
    step.data = {"max_cost_diff": diff, "records": count, "record_times": times,
                 "max_cost_diff_vs_cupy_eager_to_6000": vs_cupy,
                 "graphs_used": [runs["on"]["cuda_graph"], runs["off"]["cuda_graph"]]}
    graphed = bool(runs["on"]["cuda_graph"]) == (not target.dry)  # a CPU has no graphs
    step.status = ("passed" if diff <= 1e-12 and vs_cupy <= 1e-9 and graphed
                   and runs["on"]["train_accuracy"] == runs["off"]["train_accuracy"]
                   else "failed")
    step.detail = (f"torch: max |cost(graph) - cost(eager)| over {count} records: {diff:.2e} "
                   f"(<= 1e-12), vs CuPy eager up to iteration {COMPARED_UP_TO}: "
                   f"{vs_cupy:.2e}; seconds to the last record (iteration "
                   f"{runs['on']['history'][-1]['iteration']}): graphs "
                   f"{times['on']:.2f}, torch eager {times['off']:.2f}, CuPy eager "
                   f"{times['cupy eager']:.2f}")


def check_jax(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """The float64 flower run on JAX (steps compiled by XLA) against NumPy on the CPU:
    costs to 1e-9 up to iteration 6000; its time beside CuPy's eager run."""
    if importlib.util.find_spec("jax") is None:
        step.detail = "JAX is not installed: pip install 'jax[cuda13]' (or '.[jax-cuda13]')"
        return
    runs = {name: flower_run(checker, step.name, limit / 3, target, "--device", device,
                             "--backend", backend, "--dtype", "float64")
            for name, device, backend in (("jax", target.device, "jax"),
                                          ("cpu", "cpu", "numpy"),
                                          ("cupy", target.device, target.cupy))}
    diff, count = compare_costs(runs["jax"], runs["cpu"], COMPARED_UP_TO)
    times = {name: run["history"][-1]["time"] for name, run in runs.items()}
    step.data = {"max_cost_diff": diff, "records": count, "record_times": times,
                 "backend": runs["jax"]["backend"]}
    step.status = "passed" if diff <= 1e-9 else "failed"
    step.detail = (f"jax: max |cost - cpu cost| over iterations 0..{COMPARED_UP_TO}: "
                   f"{diff:.2e} (<= 1e-9); seconds to the last record: jax "
                   f"{times['jax']:.2f}, CuPy eager {times['cupy']:.2f}")


def probe(checker: Checker, name: str, limit: float, repeats: int, target: Target
          ) -> dict[str, Any]:
    """``scripts/gpu_probes.py NAME``'s JSON document."""
    quick = ["--quick"] if target.dry and name == "steps" else []
    done = checker.command(name, [sys.executable, "scripts/gpu_probes.py", name,
                                  "--repeats", str(repeats), "--device", target.device,
                                  "--scale", str(target.scale), *quick], limit)
    if done.returncode != 0:
        raise RuntimeError(f"gpu_probes.py {name} exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return json_line(done.stdout)


#: The steps, in the order they run (``--skip`` names them).
STEP_NAMES = ("tests", "train-float64", "cuda-graph", "jax", "train-float32", "devices",
              "steps", "streaming", "sweep", "bench", "tests-rest")
#: The sweep step's target on a GPU: one stacked step of 1,024 flower models is worth at
#: least this many single-model steps.
SWEEP_SPEEDUP = 20.0
#: Per-step targets on the GPU: (workload, best nnbackend variant / torch autograd).
STEP_TARGETS = {"planar": 0.3, "wide": 1.0, "deep": 1.0}


def check_steps(checker: Checker, step: Step, limit: float, repeats: int,
                target: Target) -> None:
    """Per-step time and kernels of each variant; nnbackend's best against the targets
    (not judged in a dry run: a CPU's figures)."""
    doc = probe(checker, "steps", limit, repeats, target)
    step.data = doc
    verdicts = []
    for name, limit_ratio in STEP_TARGETS.items():
        rows = doc[name]["rows"]
        best = min(rows[:-1], key=lambda r: r["us_per_step"])
        ok = best["over_torch_autograd"] <= limit_ratio
        verdicts.append(ok)
        doc[name]["target"] = {"best": best["variant"], "ratio": best["over_torch_autograd"],
                               "limit": limit_ratio, "met": ok}
    step.status = "passed" if all(verdicts) or target.dry else "failed"
    step.detail = "; ".join(
        f"{name} {doc[name]['target']['best']}: {doc[name]['target']['ratio']:.2f}x torch "
        f"autograd (<= {doc[name]['target']['limit']})" for name in STEP_TARGETS)


def check_streaming(checker: Checker, step: Step, limit: float, repeats: int,
                    target: Target) -> None:
    """The wide workload with its data kept on the host: >= 80% of the on-device speed
    (not judged in a dry run), and the same costs."""
    doc = probe(checker, "streaming", limit, repeats, target)
    step.data = doc
    results = {k: v for k, v in doc.items() if isinstance(v, dict)}
    step.status = "passed" if results and all(
        (r["host_speed_over_device"] >= 0.8 or target.dry) and r["same_cost"]
        for r in results.values()) else "failed"
    step.detail = "; ".join(
        f"{name}: {r['host_speed_over_device']:.2f}x the on-device speed ({r['host_s']:.2f} "
        f"vs {r['device_s']:.2f} s for 2 epochs), same cost: {r['same_cost']}"
        for name, r in results.items())


def check_sweep(checker: Checker, step: Step, limit: float, repeats: int,
                target: Target) -> None:
    """``scripts/stack_probe.py`` on PyTorch (graphs) and the CuPy target: the stack's
    speed against one model's (judged on a GPU) and its exactness (always judged)."""
    size = ("--models", "16", "--steps", "20") if target.dry else ("--models", "1024")
    docs: dict[str, Any] = {}
    verdicts = []
    for backend, graphs in (("torch", target.graphs), (target.cupy, "auto")):
        done = checker.command(step.name, [
            sys.executable, "scripts/stack_probe.py", "--backend", backend, "--device",
            target.device, "--repeats", str(repeats), "--cuda-graph", graphs, *size], limit / 2)
        if done.returncode != 0:
            raise RuntimeError(f"stack_probe.py --backend {backend} exited {done.returncode}: "
                               f"{done.stderr.strip().splitlines()[-1:]}")
        doc = docs[backend] = json_line(done.stdout)
        fast = doc["speed"]["models_per_step_over_single"] >= SWEEP_SPEEDUP or target.dry
        graph_diff = doc["exact"]["max_diff_graph_vs_eager"]
        graphed = backend != "torch" or target.dry or doc["exact"]["graphs"]
        verdicts.append(fast and graphed and doc["exact"]["max_diff_vs_single_runs"] <= 1e-9
                        and (graph_diff is None or graph_diff <= 1e-12))
    step.data = docs
    step.status = "passed" if all(verdicts) else "failed"
    step.detail = "; ".join(
        f"{name}: {d['speed']['models']} models per step "
        f"{d['speed']['stack_us_per_step']:,.0f} us vs one model "
        f"{d['speed']['single_us_per_step']:,.0f} us "
        f"({d['speed']['models_per_step_over_single']:,.1f} models' steps, >= "
        f"{SWEEP_SPEEDUP:.0f}); {d['exact']['models']} models vs their single runs "
        f"{d['exact']['max_diff_vs_single_runs']:.1e} (<= 1e-9), graphs vs eager "
        f"{_number(d['exact']['max_diff_graph_vs_eager'], '.1e')} (<= 1e-12)"
        for name, d in docs.items())


def check_float32(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """CuPy in float32 against the CPU in float32: same accuracy within 1 point."""
    gpu = flower_run(checker, step.name, limit / 2, target, "--device", target.device,
                     "--backend", target.cupy, "--dtype", "float32")
    cpu = flower_run(checker, step.name, limit / 2, target, "--device", "cpu", "--dtype",
                     "float32")
    diff, count = compare_costs(gpu, cpu, COMPARED_UP_TO)
    gap = abs(gpu["train_accuracy"] - cpu["train_accuracy"])
    step.data = {"max_cost_diff": diff, "records": count, "dtype": gpu["dtype"],
                 "gpu_accuracy": gpu["train_accuracy"], "cpu_accuracy": cpu["train_accuracy"]}
    step.status = "passed" if gpu["dtype"] == "float32" and gap <= 0.01 else "failed"
    step.detail = (f"{gpu['backend']} on {gpu['device']}, {gpu['dtype']}: accuracy "
                   f"{100 * gpu['train_accuracy']:.2f}% vs cpu float32 "
                   f"{100 * cpu['train_accuracy']:.2f}%; max |cost diff| up to iteration "
                   f"{COMPARED_UP_TO}: {diff:.1e}")


def expected_pick(listing: dict[str, Any]) -> str:
    """The backend ``auto`` must pick by ``devices --json``'s measured order: the first
    CUDA path that can run here, else NumPy."""
    usable = [path["backend"] for path in listing["cuda_order"]["paths"] if path["available"]]
    return usable[0] if usable else "numpy"


def check_devices(checker: Checker, step: Step, limit: float, target: Target) -> None:
    """``devices --json`` lists the GPU and the order; ``auto`` picks the order's first
    usable path and says why on train's first line; ``cuda:N`` past the last GPU is a
    clean error."""
    done = checker.command(step.name, nnbackend_cli("devices", "--json"), limit / 3)
    listing = json_line(done.stdout)
    gpus = listing["cuda_devices"]
    auto = checker.command(step.name, nnbackend_cli(
        "train", "--device", "auto", "--backend", "auto", "--iterations", "1"), limit / 3)
    first = (auto.stdout.splitlines() or [""])[0]
    pick = expected_pick(listing)
    says_why = "(auto: fastest CUDA path installed, by the order measured " in first
    picked = (auto.returncode == 0 and listing["auto"]["backend"].startswith(f"{pick} on ")
              and first.startswith(f"Backend: {listing['auto']['backend']}")
              and (says_why or pick == "numpy"))
    bad = checker.command(step.name, nnbackend_cli(
        "train", "--device", f"cuda:{len(gpus)}", "--iterations", "1"), limit / 3)
    error = bad.stderr.strip()
    one_line = bad.returncode == 2 and error.startswith("Error:") and "\n" not in error
    step.data = {"devices": listing, "auto_first_line": first, "expected_pick": pick,
                 "missing_device_error": error}
    on_gpu = bool(gpus) and pick != "numpy"
    step.status = "passed" if (on_gpu or target.dry) and picked and one_line else "failed"
    order = " > ".join(f"{p['path']} ({'usable' if p['available'] else 'not usable'})"
                       for p in listing["cuda_order"]["paths"])
    step.detail = (f"{len(gpus)} GPU(s): {', '.join(g['name'] for g in gpus)}; order "
                   f"{order}; auto picks {listing['auto']['backend']} (expected {pick}); "
                   f"train's first line: {first[:200]}; cuda:{len(gpus)} -> exit "
                   f"{bad.returncode}: {error[:120]}")


def check_bench(checker: Checker, step: Step, limit: float, repeats: int,
                target: Target) -> None:
    """The benchmark's planar, wide and deep workloads with --device cuda."""
    path = checker.out / "bench.json"
    # A dry run compares with PyTorch alone: the CPU's other peers take minutes.
    peers = ["--peers", "torch,nnbackend-jax"] if target.dry else []
    done = checker.command(step.name, [
        sys.executable, "scripts/bench.py", "--device", target.device, "--workloads",
        "planar,wide,deep", "--repeats", str(repeats), "--scale", str(target.scale),
        *peers, "--quiet", "--json", str(path)], limit)
    if done.returncode != 0:
        raise RuntimeError(f"bench.py exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(path.read_text())
    step.data = {"table": bench_rows(doc), "text": done.stdout}
    step.status = "passed"
    step.detail = "; ".join(f"{r['workload']} {r['key']} {r['median_s']:.3f} s"
                            for r in step.data["table"])


def bench_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per (workload, implementation) of a bench.py JSON document."""
    rows = []
    for name, work in doc["workloads"].items():
        for row in work["rows"]:
            rows.append({"workload": name, "key": row["key"], "label": row["label"],
                         "median_s": row["median_s"],
                         "nnbackend_over_peer": row["nnbackend_over_peer"],
                         "cost": row["cost"], "accuracy": row["accuracy"]})
    return rows


def markdown(info: dict[str, Any], steps: list[Step]) -> str:
    """The summary as markdown: the machine, one line per step, the benchmark table."""
    gpu = "; ".join(info.get("nvidia_smi") or ["nvidia-smi printed nothing"])
    title = "dry run on the CPU (figures mean nothing)" if info.get("dry_run") else "GPU check"
    lines = [f"# nnbackend {title}, {info['date']}", "",
             f"- nnbackend commit: {info.get('commit')}",
             f"- GPU (name, driver, memory): {gpu}",
             f"- CUDA runtime {info.get('cuda_runtime')}, driver API "
             f"{info.get('cuda_driver')}; Python {info['python']}; numpy {info['numpy']}, "
             f"cupy {info['cupy']}, torch {info['torch']}, array-api-compat "
             f"{info['array_api_compat']}", "",
             "| step | result | seconds | what it found |", "| --- | --- | --- | --- |"]
    devices = next((s for s in steps if s.name == "devices" and s.data), None)
    if devices is not None:
        lines[-3:-3] = [f"- `--backend auto` picked (expected {devices.data['expected_pick']}"
                        f" by the measured order): `{devices.data['auto_first_line']}`"]
    lines += [f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.detail} |" for s in steps]
    probes = next((s for s in steps if s.name == "steps" and s.data), None)
    if probes is not None:
        lines += ["", "Per training step (median, in-process, synchronised; kernels and GPU "
                  "time from PyTorch's profiler):", "",
                  "| workload | implementation | us per step | / torch autograd | kernels "
                  "per step | GPU us per step | host waits per step |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, work in probes.data.items():
            for row in work["rows"]:
                lines.append(
                    f"| {name} | {row['variant']} | {row['us_per_step']:.1f} | "
                    f"{row['over_torch_autograd']:.2f} | {row.get('kernels_per_step', '-')} | "
                    f"{_number(row.get('gpu_us_per_step'))} | {row.get('waits_per_step', '-')} |")
    bench = next((s for s in steps if s.name == "bench" and s.data), None)
    if bench is not None:
        lines += ["", "| workload | implementation | median s | nnbackend / this |",
                  "| --- | --- | --- | --- |"]
        for row in bench.data["table"]:
            ratio = row["nnbackend_over_peer"]
            lines.append(f"| {row['workload']} | {row['label']} | {row['median_s']:.3f} | "
                         f"{'-' if ratio is None else f'{ratio:.2f}'} |")
    return "\n".join(lines) + "\n"


def _number(value: Any, form: str = ".1f") -> str:
    """A float in ``form`` (one decimal), or a dash."""
    return "-" if value is None else format(value, form)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu-check"),
                        help="folder for summary.md, summary.json and the logs "
                             "(default: gpu-check)")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl",
                        help="folder with the array-api-compat (and array-api-strict) wheels "
                             "to install when they do not import (default: .whl)")
    parser.add_argument("--budget", type=float, default=480.0,
                        help="seconds for the whole check (default 480); steps that would "
                             "not fit are skipped")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repetitions per benchmark workload (default 3)")
    parser.add_argument("--skip", default="",
                        help="comma-separated steps to leave out: " + ", ".join(STEP_NAMES))
    parser.add_argument("--commit", default=None,
                        help="the nnbackend commit checked, for the summary (default: git "
                             "rev-parse HEAD, where git and the history are there)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every step on the CPU (NumPy standing in for CuPy, tiny "
                             "sizes, tests only collected): checks this script on any "
                             "machine; its figures mean nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 = all passed, 1 = a step failed, 2 = cannot run here."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("CUPY_TF32", None)  # never TF32: results are compared with the CPU
    target = DRY_RUN if args.dry_run else GPU
    problem = ensure_dependencies(args.wheels, args.out, env)
    if problem is None and not target.dry:
        sys.path.insert(0, str(ROOT))
        from nnbackend.core.backend import cuda_status

        status = cuda_status()
        problem = None if status.available else f"no CUDA device: {status.reason}"
    if problem is not None:
        print(f"gpu_check.py: error: {problem}", file=sys.stderr)
        return 2
    info = gpu_description()
    info["dry_run"] = target.dry
    info["commit"] = args.commit or git_commit()
    checker = Checker(args.out, args.budget, env)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    repeats = 1 if target.dry else args.repeats
    plan: list[tuple[str, float, Callable[[Step, float], None]]] = [
        ("tests", 150, lambda s, t: check_tests(checker, s, t, target)),
        ("train-float64", 60, lambda s, t: check_float64(checker, s, t, target)),
        ("cuda-graph", 60, lambda s, t: check_cuda_graph(checker, s, t, target)),
        ("jax", 90, lambda s, t: check_jax(checker, s, t, target)),
        ("train-float32", 60, lambda s, t: check_float32(checker, s, t, target)),
        # devices imports every array library (JAX's import alone: 1.5 s on 2 cores).
        ("devices", 45, lambda s, t: check_devices(checker, s, t, target)),
        ("steps", 120, lambda s, t: check_steps(checker, s, t, repeats, target)),
        ("streaming", 90, lambda s, t: check_streaming(checker, s, t, repeats, target)),
        ("sweep", 90, lambda s, t: check_sweep(checker, s, t, repeats, target)),
        ("bench", 200, lambda s, t: check_bench(checker, s, t, repeats, target)),
        ("tests-rest", args.budget, lambda s, t: check_rest_of_tests(checker, s, t, target)),
    ]
    assert [name for name, _, _ in plan] == list(STEP_NAMES)
    for name, limit, check in plan:
        if name in skip:
            checker.steps.append(Step(name, detail="left out with --skip"))
            continue
        checker.run(name, limit, check)
    (args.out / "summary.md").write_text(markdown(info, checker.steps))
    (args.out / "summary.json").write_text(json.dumps(
        {"environment": info, "steps": [asdict(s) for s in checker.steps]}, indent=2,
        default=str) + "\n")
    print(markdown(info, checker.steps))
    return 1 if any(s.status == "failed" for s in checker.steps) else 0


if __name__ == "__main__":
    sys.exit(main())
