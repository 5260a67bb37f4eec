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

1. ``tests``: the test suite on the ``cupy`` backend family (pytest directly).
2. ``train-float64``: ``nnbackend train --device cuda --dtype float64`` on the flower
   against the same run on the CPU: costs at iterations 0..6000 equal to 1e-9, and the
   training accuracy at most one example apart (later, lr 1.2 amplifies rounding).
3. ``cuda-graph``: the float64 run on PyTorch CUDA with CUDA graphs on and off: costs
   equal to 1e-12 (the graph replays the same kernels); against CuPy's eager run to 1e-9
   up to iteration 6000.
4. ``train-float32``: ``--device cuda`` in float32 against the CPU in float32.
5. ``devices``: ``nnbackend devices`` lists the GPU; ``--device cuda:N`` past the last
   GPU is a one-line error with exit status 2.
6. ``steps``: ``scripts/gpu_probes.py steps``: time, kernels and host waits per training
   step of each implementation; nnbackend's fastest against PyTorch autograd (planar
   <= 0.3x, wide and deep <= 1.0x).
7. ``streaming``: ``scripts/gpu_probes.py streaming``: the wide workload with its data
   kept in host memory, >= 80% of the speed with the data on the device.
8. ``bench``: ``scripts/bench.py --device cuda`` (planar, wide, deep) against PyTorch
   CUDA, with fewer repetitions than on the CPU.

It writes ``OUT/summary.md`` (the tables to paste into the README) and
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
import shlex
import subprocess
import sys
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


def pytest_summary(output: str) -> str:
    """pytest's closing line (``12 passed, 3 skipped in 4.2s``), or the last line."""
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if " passed" in line or " failed" in line or " error" in line:
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
    site = out / "site"
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
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True,
                         check=False)
    info["nvidia_smi"] = smi.stdout.strip().splitlines()
    for module in ("numpy", "cupy", "torch", "array_api_compat", "array_api_strict"):
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


def check_tests(checker: Checker, step: Step, limit: float) -> None:
    """The suite on the cupy family; ``-n`` workers when pytest-xdist is there."""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "8"]
    done = checker.command("tests", args, limit, {"NNBACKEND_TEST_BACKENDS": "cupy"})
    step.detail = pytest_summary(done.stdout)
    step.status = "passed" if done.returncode == 0 else "failed"


def flower_run(checker: Checker, name: str, limit: float, *args: str) -> dict[str, Any]:
    """``nnbackend train --json`` on the flower with ``args``; its JSON summary."""
    done = checker.command(name, nnbackend_cli("train", "--json", "--quiet", *args), limit)
    if done.returncode != 0:
        raise RuntimeError(f"train {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return json_line(done.stdout)


def check_float64(checker: Checker, step: Step, limit: float) -> None:
    """CUDA float64 against the CPU: costs to 1e-9 up to iteration 6000, same accuracy."""
    gpu = flower_run(checker, step.name, limit / 2, "--device", "cuda", "--dtype", "float64")
    cpu = flower_run(checker, step.name, limit / 2, "--device", "cpu", "--dtype", "float64")
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


def check_cuda_graph(checker: Checker, step: Step, limit: float) -> None:
    """The float64 flower run on PyTorch CUDA with graphs on and off: costs equal to
    1e-12; and against CuPy's eager run (other kernels) up to iteration 6000."""
    runs = {}
    for mode in ("on", "off"):
        runs[mode] = flower_run(checker, step.name, limit / 3, "--backend", "torch",
                                "--device", "cuda", "--dtype", "float64", "--cuda-graph", mode)
    cupy = flower_run(checker, step.name, limit / 3, "--device", "cuda", "--dtype", "float64")
    diff, count = compare_costs(runs["on"], runs["off"], 10**9)
    vs_cupy, _ = compare_costs(runs["on"], cupy, COMPARED_UP_TO)
    times = {mode: run["history"][-1]["time"] for mode, run in runs.items()}
    times["cupy eager"] = cupy["history"][-1]["time"]
    step.data = {"max_cost_diff": diff, "records": count, "record_times": times,
                 "max_cost_diff_vs_cupy_eager_to_6000": vs_cupy,
                 "graphs_used": [runs["on"]["cuda_graph"], runs["off"]["cuda_graph"]]}
    step.status = ("passed" if diff <= 1e-12 and vs_cupy <= 1e-9 and runs["on"]["cuda_graph"]
                   and runs["on"]["train_accuracy"] == runs["off"]["train_accuracy"]
                   else "failed")
    step.detail = (f"torch: max |cost(graph) - cost(eager)| over {count} records: {diff:.2e} "
                   f"(<= 1e-12), vs CuPy eager up to iteration {COMPARED_UP_TO}: "
                   f"{vs_cupy:.2e}; seconds to the last record (iteration 9000): graphs "
                   f"{times['on']:.2f}, torch eager {times['off']:.2f}, CuPy eager "
                   f"{times['cupy eager']:.2f}")


def probe(checker: Checker, name: str, limit: float, repeats: int) -> dict[str, Any]:
    """``scripts/gpu_probes.py NAME``'s JSON document."""
    done = checker.command(name, [sys.executable, "scripts/gpu_probes.py", name,
                                  "--repeats", str(repeats)], limit)
    if done.returncode != 0:
        raise RuntimeError(f"gpu_probes.py {name} exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return json_line(done.stdout)


#: Per-step targets on the GPU: (workload, best nnbackend variant / torch autograd).
STEP_TARGETS = {"planar": 0.3, "wide": 1.0, "deep": 1.0}


def check_steps(checker: Checker, step: Step, limit: float, repeats: int) -> None:
    """Per-step time and kernels of each variant; nnbackend's best against the targets."""
    doc = probe(checker, "steps", limit, repeats)
    step.data = doc
    verdicts = []
    for name, target in STEP_TARGETS.items():
        rows = doc[name]["rows"]
        best = min(rows[:-1], key=lambda r: r["us_per_step"])
        ok = best["over_torch_autograd"] <= target
        verdicts.append(ok)
        doc[name]["target"] = {"best": best["variant"], "ratio": best["over_torch_autograd"],
                               "limit": target, "met": ok}
    step.status = "passed" if all(verdicts) else "failed"
    step.detail = "; ".join(
        f"{name} {doc[name]['target']['best']}: {doc[name]['target']['ratio']:.2f}x torch "
        f"autograd (<= {doc[name]['target']['limit']})" for name in STEP_TARGETS)


def check_streaming(checker: Checker, step: Step, limit: float, repeats: int) -> None:
    """The wide workload with its data kept on the host: >= 80% of the on-device speed."""
    doc = probe(checker, "streaming", limit, repeats)
    step.data = doc
    results = {k: v for k, v in doc.items() if isinstance(v, dict)}
    step.status = "passed" if all(r["host_speed_over_device"] >= 0.8 and r["same_cost"]
                                  for r in results.values()) else "failed"
    step.detail = "; ".join(
        f"{name}: {r['host_speed_over_device']:.2f}x the on-device speed ({r['host_s']:.2f} "
        f"vs {r['device_s']:.2f} s for 2 epochs), same cost: {r['same_cost']}"
        for name, r in results.items())


def check_float32(checker: Checker, step: Step, limit: float) -> None:
    """CUDA float32 against the CPU in float32: same accuracy within 1 point."""
    gpu = flower_run(checker, step.name, limit / 2, "--device", "cuda")
    cpu = flower_run(checker, step.name, limit / 2, "--device", "cpu", "--dtype", "float32")
    diff, count = compare_costs(gpu, cpu, COMPARED_UP_TO)
    gap = abs(gpu["train_accuracy"] - cpu["train_accuracy"])
    step.data = {"max_cost_diff": diff, "records": count, "dtype": gpu["dtype"],
                 "gpu_accuracy": gpu["train_accuracy"], "cpu_accuracy": cpu["train_accuracy"]}
    step.status = "passed" if gpu["dtype"] == "float32" and gap <= 0.01 else "failed"
    step.detail = (f"{gpu['backend']} on {gpu['device']}, {gpu['dtype']}: accuracy "
                   f"{100 * gpu['train_accuracy']:.2f}% vs cpu float32 "
                   f"{100 * cpu['train_accuracy']:.2f}%; max |cost diff| up to iteration "
                   f"{COMPARED_UP_TO}: {diff:.1e}")


def check_devices(checker: Checker, step: Step, limit: float) -> None:
    """``devices --json`` lists the GPU; ``cuda:N`` past the last one is a clean error."""
    done = checker.command(step.name, nnbackend_cli("devices", "--json"), limit / 2)
    listing = json_line(done.stdout)
    gpus = listing["cuda_devices"]
    bad = checker.command(step.name, nnbackend_cli(
        "train", "--device", f"cuda:{len(gpus)}", "--iterations", "1"), limit / 2)
    error = bad.stderr.strip()
    one_line = bad.returncode == 2 and error.startswith("Error:") and "\n" not in error
    step.data = {"devices": listing, "missing_device_error": error}
    step.status = "passed" if gpus and listing["auto"]["backend"].startswith("cupy") \
        and one_line else "failed"
    step.detail = (f"{len(gpus)} GPU(s): {', '.join(g['name'] for g in gpus)}; auto picks "
                   f"{listing['auto']['backend']}; cuda:{len(gpus)} -> exit {bad.returncode}: "
                   f"{error[:120]}")


def check_bench(checker: Checker, step: Step, limit: float, repeats: int) -> None:
    """The benchmark's planar, wide and deep workloads with --device cuda."""
    path = checker.out / "bench.json"
    done = checker.command(step.name, [
        sys.executable, "scripts/bench.py", "--device", "cuda", "--workloads",
        "planar,wide,deep", "--repeats", str(repeats), "--quiet", "--json", str(path)], limit)
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
    lines = [f"# nnbackend GPU check, {info['date']}", "",
             f"- GPU (name, driver, memory): {gpu}",
             f"- CUDA runtime {info.get('cuda_runtime')}, driver API "
             f"{info.get('cuda_driver')}; Python {info['python']}; numpy {info['numpy']}, "
             f"cupy {info['cupy']}, torch {info['torch']}, array-api-compat "
             f"{info['array_api_compat']}", "",
             "| step | result | seconds | what it found |", "| --- | --- | --- | --- |"]
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


def _number(value: Any) -> str:
    """A float with one decimal, or a dash."""
    return "-" if value is None else f"{value:.1f}"


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
                        help="comma-separated steps to leave out: tests, train-float64, "
                             "cuda-graph, train-float32, devices, steps, streaming, bench")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 = all passed, 1 = a step failed, 2 = cannot run here."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("CUPY_TF32", None)  # never TF32: results are compared with the CPU
    problem = ensure_dependencies(args.wheels, args.out, env)
    if problem is None:
        sys.path.insert(0, str(ROOT))
        from nnbackend.core.backend import cuda_status

        status = cuda_status()
        problem = None if status.available else f"no CUDA device: {status.reason}"
    if problem is not None:
        print(f"gpu_check.py: error: {problem}", file=sys.stderr)
        return 2
    info = gpu_description()
    checker = Checker(args.out, args.budget, env)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    plan: list[tuple[str, float, Callable[[Step, float], None]]] = [
        ("tests", 150, lambda s, t: check_tests(checker, s, t)),
        ("train-float64", 60, lambda s, t: check_float64(checker, s, t)),
        ("cuda-graph", 60, lambda s, t: check_cuda_graph(checker, s, t)),
        ("train-float32", 60, lambda s, t: check_float32(checker, s, t)),
        ("devices", 30, lambda s, t: check_devices(checker, s, t)),
        ("steps", 120, lambda s, t: check_steps(checker, s, t, args.repeats)),
        ("streaming", 90, lambda s, t: check_streaming(checker, s, t, args.repeats)),
        ("bench", 200, lambda s, t: check_bench(checker, s, t, args.repeats)),
    ]
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
