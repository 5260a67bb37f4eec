"""The benchmark's speed targets, checked against one run's measurements."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from _bench_common import Measurement, Runner, Workload


@dataclass(frozen=True)
class Target:
    """A benchmark target: ``measured <= limit`` (None when it could not be measured)."""

    workload: str
    text: str
    measured: float | None
    limit: float
    unit: str

    @property
    def passed(self) -> bool | None:
        """True / False, or None when the measurement is missing."""
        return None if self.measured is None else self.measured <= self.limit

    def line(self) -> str:
        """``PASS  nnbackend <= 0.78x notes: 0.71x``."""
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[self.passed]
        value = "not measured" if self.measured is None else _fmt_target(self.measured,
                                                                          self.unit)
        return f"  {verdict}  {self.text}: {value}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the verdict."""
        return {**asdict(self), "passed": self.passed}


def _fmt_target(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "pp":
        return f"{value:.2f} pp"
    return f"{value:.2e}"


def cost_agreement(runners: list[Runner]) -> dict[str, Any] | None:
    """Max |cost difference| between nnbackend's and the notes' recorded costs."""
    by_key = {r.key: r for r in runners}
    if "notes" not in by_key:
        return None
    ours = np.asarray(by_key["nnbackend"].recorded_costs())  # type: ignore[attr-defined]
    theirs = np.asarray(by_key["notes"].recorded_costs())  # type: ignore[attr-defined]
    if ours.shape != theirs.shape:
        return {"records": [len(ours), len(theirs)], "max_abs_diff": None,
                "max_abs_diff_first_60pct": None}
    diff = np.abs(ours - theirs)
    early = max(1, int(0.6 * len(diff)))
    return {"records": len(diff), "max_abs_diff": float(diff.max()),
            "max_abs_diff_first_60pct": float(diff[:early].max())}


def _peer_ratio(rows: dict[str, Measurement], peer: str,
                ours: str = "nnbackend") -> float | None:
    """``ours``'s median over ``peer``'s (None when either row is missing)."""
    if peer not in rows or ours not in rows:
        return None
    return rows[ours].median / rows[peer].median


def targets_for(work: Workload, rows: list[Measurement],
                agreement: dict[str, Any] | None) -> list[Target]:
    """The CPU targets for this workload, from this run's measurements."""
    by = {r.key: r for r in rows}
    name = work.name
    out: list[Target] = []
    if name == "planar":
        out.append(Target(name, "nnbackend <= 0.78x notes", _peer_ratio(by, "notes"), 0.78,
                          "x"))
        if agreement is not None:
            out.append(Target(name, "identical costs: max |cost - notes cost|, first 60% "
                                    "of records, <= 1e-9",
                              agreement.get("max_abs_diff_first_60pct"), 1e-9, "abs"))
            out.append(Target(name, "identical costs: max |cost - notes cost|, all records, "
                                    "<= 1e-4 (lr 1.2 amplifies rounding late in the run)",
                              agreement.get("max_abs_diff"), 1e-4, "abs"))
        for peer in ("sklearn", "torch"):
            out.append(Target(name, f"nnbackend <= 0.5x {peer}", _peer_ratio(by, peer), 0.5,
                              "x"))
        out.append(Target(name, "nnbackend-jax <= 0.8x nnbackend (JAX, steps compiled by "
                                "XLA, against the first row)",
                          _peer_ratio(by, "nnbackend", "nnbackend-jax"), 0.8, "x"))
    elif name == "wide":
        out.append(Target(name, "nnbackend <= 0.9x torch", _peer_ratio(by, "torch"), 0.9, "x"))
        out.append(Target(name, "nnbackend-torch <= 0.8x torch (nnbackend on its torch "
                                "backend against PyTorch autograd)",
                          _peer_ratio(by, "torch", "nnbackend-torch"), 0.8, "x"))
        out.append(Target(name, "nnbackend <= 0.5x sklearn", _peer_ratio(by, "sklearn"), 0.5,
                          "x"))
        nnb = by["nnbackend"]
        for peer in ("torch", "sklearn"):
            theirs = by[peer].test_accuracy if peer in by else None
            gap = (None if theirs is None or nnb.test_accuracy is None
                   else 100 * abs(nnb.test_accuracy - theirs))
            out.append(Target(name, f"test accuracy within 0.5 pp of {peer}", gap, 0.5, "pp"))
        mem = None if nnb.peak_bytes is None else nnb.peak_bytes / work.data.train_bytes
        out.append(Target(name, "nnbackend peak memory <= 1.5x X", mem, 1.5, "x"))
    elif name == "deep":
        out.append(Target(name, "nnbackend <= 1.0x torch", _peer_ratio(by, "torch"), 1.0, "x"))
    return out


def summary(doc: dict[str, Any]) -> dict[str, int]:
    """Count PASS / MISS / n/a over every target of the run."""
    targets = [t for w in doc["workloads"].values() for t in w.get("targets", [])]
    targets += doc.get("gemm", {}).get("targets", []) if doc.get("gemm") else []
    verdicts = [{True: "pass", False: "miss", None: "n/a"}[t["passed"]] for t in targets]
    return {k: verdicts.count(k) for k in ("pass", "miss", "n/a")}
