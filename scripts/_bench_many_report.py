"""Timing, scoring, tables and targets of the many-model workloads (``study``,
``sweep256``): every runner trains every one of its models in each timed repetition,
the implementations alternate, and each model's final cost and accuracy are computed on
the host in float64 from its predicted probabilities (or, for ``GridSearchCV``, by its own
log-loss and accuracy scorers on the same examples)."""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from _bench_common import score
from _bench_many import ManyRunner, ManyWorkload
from _bench_report import Emit
from _bench_targets import Target

#: Largest |cost difference| between a model trained in a sweep and its own single run,
#: per dtype (the same computation, to rounding: the stack's tests hold float64
#: parameters to 1e-12; float32 rounding, which PyTorch's kernels may do differently in a
#: batched product, grows to about 1e-9 in 1000 steps).
SAME_RUN = {"float64": 1e-9, "float32": 1e-5}


@dataclass
class ManyMeasurement:
    """One runner's times (s) and its models' final costs and accuracies (grid order)."""

    key: str
    label: str
    models: int
    steps: int
    times: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    stacks: list[int] | None = None

    @property
    def median(self) -> float:
        """Median of the timed repetitions."""
        return float(np.median(self.times))

    @property
    def per_model_step(self) -> float:
        """Median seconds per model and step."""
        return self.median / (self.models * self.steps)


def timed(runner: ManyRunner) -> float:
    """Seconds of one ``fit`` of every model, synchronised on both ends."""
    runner.setup()
    gc.collect()
    runner.sync()
    start = time.perf_counter()
    runner.fit()
    runner.sync()
    return time.perf_counter() - start


def measure_many(work: ManyWorkload, runners: list[ManyRunner],
                 progress: Emit) -> list[ManyMeasurement]:
    """A warm-up run of each, then ``work.repeats`` alternating timed repetitions (the
    starting runner rotates); the scores of each runner's last run."""
    rows = [ManyMeasurement(r.key, r.label, r.models, r.steps) for r in runners]
    for runner in runners:
        progress(f"[{work.name} {work.dtype}] warm-up: {runner.key}")
        runner.setup()
        runner.fit()
        runner.sync()
    n = len(runners)
    for rep in range(work.repeats):
        order = [(rep + i) % n for i in range(n)]
        for i in order:
            rows[i].times.append(timed(runners[i]))
        progress(f"[{work.name} {work.dtype}] repetition {rep + 1}/{work.repeats}: "
                 + ", ".join(f"{rows[i].key} {rows[i].times[-1]:.3f}s" for i in order))
    for runner, row in zip(runners, rows, strict=True):
        own = getattr(runner, "scores", None)
        pairs = own() if own is not None else [score(p, work.y) for p in runner.probas()]
        row.costs = [c for c, _ in pairs]
        row.accuracies = [a for _, a in pairs]
        stacks = getattr(runner, "stacks", None)
        row.stacks = stacks() if stacks is not None else None
    return rows


def _spread(values: list[float], pct: bool) -> str:
    """``best/median/worst`` (lowest cost, highest accuracy first), or one value."""
    def fmt(x: float) -> str:
        return f"{100 * x:.2f}%" if pct else f"{x:.6f}"

    if len(values) == 1:
        return fmt(values[0])
    data = np.asarray(values, dtype=np.float64)
    best, worst = (np.nanmax(data), np.nanmin(data)) if pct else (np.nanmin(data),
                                                                  np.nanmax(data))
    return "/".join(fmt(x) for x in (best, float(np.nanmedian(data)), worst))


def ratio(ours: ManyMeasurement, theirs: ManyMeasurement) -> float:
    """nnbackend's time per model and step over the row's."""
    return ours.per_model_step / theirs.per_model_step


def print_many_table(rows: list[ManyMeasurement], emit: Emit) -> None:
    """One row per implementation; nnbackend's sweep first, then each with its ratio."""
    nnb = rows[0]
    width = max(48, *(len(row.label) for row in rows))
    emit(f"  {'implementation':<{width}} {'median s':>9} {'min-max s':>13} "
         f"{'us/model/step':>13} {'nnb/row':>7}  final cost and train accuracy "
         "(best/median/worst)")
    for row in rows:
        rel = "-" if row is nnb else f"{ratio(nnb, row):.2f}"
        spread = f"{min(row.times):.3f}-{max(row.times):.3f}"
        emit(f"  {row.label:<{width}} {row.median:>9.3f} {spread:>13} "
             f"{1e6 * row.per_model_step:>13.2f} {rel:>7}  {_spread(row.costs, False)}  "
             f"{_spread(row.accuracies, True)}")
    if nnb.stacks is not None:
        emit(f"  nnbackend's sweep trained {nnb.models} models in {len(nnb.stacks)} "
             f"stack(s) of {', '.join(str(k) for k in nnb.stacks)} (its grouping's choice)")


def agreement(work: ManyWorkload, rows: list[ManyMeasurement]) -> dict[str, float]:
    """Max |final cost difference| between nnbackend's sweep and each row that trained
    the same models from the same initial weights: the single runs and vmap (every
    model), and the one model (its row of the sweep on the same backend)."""
    by, out = {r.key: r for r in rows}, {}
    for row in rows[1:]:
        if row.key in ("single runs", "vmap"):
            out[row.key] = float(np.nanmax(np.abs(np.subtract(rows[0].costs, row.costs))))
        elif row.key.startswith("one model") and work.one is not None:
            ours = by.get("nnbackend" + row.key[len("one model"):])
            if ours is None:
                continue
            i = next(j for j, s in enumerate(work.models())
                     if all(s.get(k) == v for k, v in work.one.items()))
            out[row.key] = abs(ours.costs[i] - row.costs[0])
    return out


def many_targets(work: ManyWorkload, rows: list[ManyMeasurement],
                 agree: dict[str, float], on_gpu: bool) -> list[Target]:
    """The workload's targets, from this run's medians and costs."""
    by = {r.key: r for r in rows}
    nnb, name, out = rows[0], f"{work.name} {work.dtype}", []
    same = SAME_RUN[work.dtype]
    if work.name == "study" and "single runs" in by:
        against = ratio(nnb, by["single runs"])
        out.append(Target(name, "one sweep <= 0.8x the single runs one after the other",
                          against, 0.8, "x"))
        out.append(Target(name, "one sweep never slower than the single runs (<= 1.0x)",
                          against, 1.0, "x"))
        out.append(Target(name, f"each model's cost equals its single run's (max |diff| "
                                f"<= {same:g})", agree.get("single runs"), same, "abs"))
    if work.name != "sweep256":
        return out
    limit = 1.5 if on_gpu else 0.65
    for row in rows:
        ours = by.get("nnbackend" + row.key[len("one model"):])
        if not row.key.startswith("one model") or ours is None:
            continue
        if on_gpu:  # the whole stack's step against one model's step
            measured = ours.per_model_step * ours.models / row.per_model_step
            text = f"{ours.models:,} models per step <= {limit}x one model's step ({row.key})"
        else:
            measured = ratio(ours, row)
            text = f"per model per step <= {limit}x one model's step ({row.key})"
        out.append(Target(name, text, measured, limit, "x"))
        out.append(Target(name, f"the stack's seed-1 lr-1.2 model costs what its own run "
                                f"does (|diff| <= {same:g}, {row.key})",
                          agree.get(row.key), same, "abs"))
    if not on_gpu:
        for peer in ("vmap", "gridsearch"):
            if peer in by:
                out.append(Target(name, f"nnbackend no slower than {peer} (<= 1.0x)",
                                  ratio(nnb, by[peer]), 1.0, "x"))
    return out


def many_dict(row: ManyMeasurement, nnb: ManyMeasurement) -> dict[str, Any]:
    """A table row as JSON, with its median, time per model-step and ratio."""
    out = asdict(row)
    out["median_s"] = row.median
    out["us_per_model_step"] = 1e6 * row.per_model_step
    out["nnbackend_over_row"] = None if row is nnb else ratio(nnb, row)
    return out
