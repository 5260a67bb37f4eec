"""What ``scripts/bench.py`` prints: the header, one table per workload, the targets.

Everything shown is measured in the same run; the targets are the project's speed limits,
checked against the medians.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from _bench_common import MEMORY_LABELS, Measurement
from _bench_targets import Target

ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUPY_TF32", "NNBACKEND_MALLOC",
            "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
Emit = Callable[[str], None]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """``uptime``'s 1, 5 and 15 minute load averages."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def blas_info(threadpoolctl: Any | None) -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS and OpenMP libraries loaded in this process."""
    if threadpoolctl is None:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture",
            "threading_layer", "filepath")
    return [{k: info.get(k) for k in keys if k in info}
            for info in threadpoolctl.threadpool_info()]


def _package_of(path: str) -> str:
    """The installed package a shared library ships in (``numpy.libs``, ``torch``)."""
    parts = path.replace(os.sep, "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1]
    return os.path.dirname(path) or "?"


def environment(versions: dict[str, str | None], threadpoolctl: Any | None,
                torch_threads: int | None, threads: int | None = None) -> dict[str, Any]:
    """Date, machine, versions, BLAS and the environment variables that matter."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "date": now.isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
        "torch_threads": torch_threads,
        "threads": threads,
        "load_average_start": load_average(),
        "blas": blas_info(threadpoolctl),
    }


def print_header(env: dict[str, Any], emit: Emit) -> None:
    """The run's context, before any number."""
    emit(f"nnbackend benchmark, {env['date']}")
    emit(f"machine: {env['platform']}; {env['cpu_count']} CPUs: {env['cpu_model']}")
    versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in env["versions"].items())
    emit(f"python {env['python']}; {versions}")
    if env["torch_threads"] is not None:
        why = "--threads" if env.get("threads") else "this machine's CPU count"
        emit(f"torch.set_num_threads({env['torch_threads']}) ({why})")
    settings = ", ".join(f"{k}={v}" for k, v in env["env"].items()) or "none set"
    emit(f"environment: {settings}")
    if env.get("malloc_thresholds_kept"):
        emit("glibc malloc: mmap threshold 32 MiB, trim threshold 64 MiB for every "
             "implementation (as nnbackend's training sets them)")
    for lib in env["blas"]:
        arch = f", coretype {lib['architecture']}" if lib.get("architecture") else ""
        where = _package_of(lib.get("filepath") or "")
        emit(f"threadpool: {lib.get('internal_api')} {lib.get('version') or ''} "
             f"({lib.get('user_api')}, {lib.get('num_threads')} threads{arch}) "
             f"{os.path.basename(lib.get('filepath') or '')} in {where}")
    if not env["blas"]:
        emit("threadpool: threadpoolctl is not installed (pip install threadpoolctl)")
    emit(f"load average at start (1/5/15 min): {env['load_average_start']}")


def _mb(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**10:.1f} KB" if n < 2**20 else f"{n / 2**20:.1f} MB"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def ratio(nnb: Measurement, peer: Measurement) -> float:
    """nnbackend's median over the peer's."""
    return nnb.median / peer.median


def print_table(title: str, rows: list[Measurement], data_bytes: int, emit: Emit) -> None:
    """One row per implementation; nnbackend first, then each peer with its ratio."""
    nnb = rows[0]
    width = max(48, *(len(row.label) for row in rows))
    emit(f"  {'implementation':<{width}} {'median s':>9} {'min-max s':>13} {'nnb/peer':>8} "
         f"{'final cost':>10} {'train acc':>9} {'test acc':>8}  peak memory")
    for row in rows:
        rel = "-" if row is nnb else f"{ratio(nnb, row):.2f}"
        spread = f"{min(row.times):.3f}-{max(row.times):.3f}"
        mem = _mb(row.peak_bytes)
        if row.peak_bytes is not None:
            mem += f" = {row.peak_bytes / data_bytes:.2f}x X"
        emit(f"  {row.label:<{width}} {row.median:>9.3f} {spread:>13} {rel:>8} "
             f"{row.cost:>10.6f} {_pct(row.accuracy):>9} {_pct(row.test_accuracy):>8}  {mem}")
    emit(f"  X (training features) = {_mb(data_bytes)}; peak memory methods:")
    for method in dict.fromkeys(r.memory_method for r in rows):
        users = ", ".join(r.key for r in rows if r.memory_method == method)
        emit(f"    {users}: {MEMORY_LABELS.get(method, 'not measured')}")


def print_targets(targets: list[Target], emit: Emit) -> None:
    """The issue's targets for a workload, PASS/MISS with the measured value."""
    if targets:
        emit("  targets:")
    for target in targets:
        emit(target.line())


def measurement_dict(row: Measurement, nnb: Measurement) -> dict[str, Any]:
    """A table row as JSON, with the median and the ratio to nnbackend."""
    out = asdict(row)
    out["median_s"] = row.median
    out["nnbackend_over_peer"] = None if row is nnb else ratio(nnb, row)
    return out
