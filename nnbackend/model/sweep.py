"""Many networks at once: a grid of settings trained as stacks, one row per model.

:func:`sweep` trains the cartesian product of a grid (``{"layers": [(1,), (2,)],
"learning_rate": [0.5, 1.2], "seed": [1, 2, 3]}``) beside fixed settings. Models that can
share a stack (one depth, hidden activation, update rule, batch size, run length, record
interval, patience, and the same data: with a validation split, the seed draws the
split, so each seed's models are stacked apart) are grouped, and hidden sizes are padded
only where the cost model says it pays (:mod:`nnbackend.training.grouping`). Each stack
runs through the one training loop (:class:`~nnbackend.training.stacked.StackedModels`),
so every model equals its own single run (``Model(...).fit``, ``nnbackend train``) with
the same settings, to rounding (see docs/math.md for what padding may change).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .._text import count
from ..core.activations import get_hidden_activation
from ..core.backend import Backend
from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..data.pipeline import PreparedData, fingerprint
from ..distributed.agreement import FINGERPRINT, check_same_run
from ..errors import NNBackendError, SettingError
from ..outputs import check_writable
from ..training.callbacks import Callback
from ..training.divergence import FIX
from ..training.grouping import CPU, GPU, group_sizes, padded
from ..training.memory import check_network_fits, models_that_fit
from ..training.settings import TRAINING_SETTINGS, check, check_all, check_known, default
from ..training.stack import ModelStack
from ..training.stacked import SHARED, StackedModels
from ..training.trainer import Trainer, TrainingOptions, TrainingResult
from .model import ARCHITECTURE, Model, _backend
from .ranks import (
    gathered,
    planned_by_rank_0,
    ranks_per_machine,
    share_model,
    share_note,
    share_out,
)
from .schedule import InOrder, StopWhenSet, check_workers, choose_workers, estimate, run_stacks
from .scores import final_scores
from .sweep_state import SweepCheckpoint, SweepInterrupted

#: What a grid may vary, and what may be fixed beside it (library names).
SWEEP_SETTINGS = (*ARCHITECTURE, *TRAINING_SETTINGS)
#: ``on_record(stack, record)``: a record of one stack, with one figure per model.
OnRecord = Callable[["StackInfo", dict[str, Any]], None]
#: What the models of one stack must share besides their depth, hidden activation and
#: data (the options that shape the loop itself, and the update rule).
#: The options every model of one stack shares (the loop runs them once for all).
STACK_OPTIONS = SHARED


@dataclass(frozen=True)
class StackInfo:
    """Which stack a record belongs to.

    Attributes
    ----------
    index, count : int
        This stack's number (from 0) and how many stacks the sweep trains.
    rows : tuple of int
        The rows (models, in grid order) it trains.
    output : InOrder, optional
        Orders the output of stacks trained at once (:meth:`say`, :meth:`draw`).
    """

    index: int
    count: int
    rows: tuple[int, ...]
    output: InOrder | None = field(default=None, compare=False, repr=False)

    def say(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (which prints) in the order the stacks would run one after another:
        now, or once every stack before this one has finished."""
        if self.output is None:
            fn()
        else:
            self.output.say(self.index, fn)

    def draw(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (a progress bar's redraw) if this stack's output is shown now
        (with several stacks at once: the earliest unfinished one's); else skip it."""
        if self.output is None:
            fn()
        else:
            self.output.draw(self.index, fn)


class SweepResult(list[dict[str, Any]]):
    """The rows of a sweep, in grid order (a list of dicts), and the best model.

    Each row holds the varied settings (library names), ``train_cost``,
    ``train_accuracy`` (or ``train_r2`` for regression), ``val_cost`` and
    ``val_accuracy`` (or ``val_r2``) with a validation split, ``iterations`` (the steps
    the model took) and ``stopped_by`` (``completed``, ``early_stopping`` or
    ``diverged``; a diverged model's figures are None).

    Attributes
    ----------
    varied : tuple of str
        The grid's settings.
    score : str
        The row key that ranks the models (``val_accuracy``, ``train_r2``, ...).
    best_model : Model or None
        The model of the best row, as its own single run would have made it (None when
        every model diverged).
    best : int or None
        The index of the best row.
    stacks : list of tuple of int
        The rows trained together, stack by stack.
    notes : list of str
        What the sweep decided on its own (a stack split to fit the free memory, stacks
        trained at once on threads or shared out over ranks).
    workers : int
        How many stacks this process trained at once.
    """

    varied: tuple[str, ...] = ()
    workers: int = 1
    score: str = ""
    best_model: Model | None = None
    best: int | None = None
    stacks: list[tuple[int, ...]]
    notes: list[str]
    _trained: dict[int, tuple[Any, ...]]

    def model(self, i: int) -> Model:
        """Row ``i``'s model, as its own single run (``Model(...).fit``) makes it.

        Over several ranks (``comm``), each rank holds the models it trained and the
        best one."""
        if i not in self._trained and 0 <= i < len(self):
            raise NNBackendError(f"model {i} was trained on another rank; each rank holds "
                                 "the models it trained and best_model: ask the rank "
                                 "that trained it")
        return _model(*self._trained[i])

    def ranked(self) -> list[dict[str, Any]]:
        """The rows, best first (diverged ones last)."""
        return [self[i] for i in ranking(self, self.score)]


def ranking(rows: Sequence[Mapping[str, Any]], score: str) -> list[int]:
    """Row indices by ``score``, highest first; rows without one (diverged) last."""
    def key(i: int) -> tuple[bool, float]:
        value = rows[i].get(score)
        return (value is None, 0.0 if value is None else -value)

    return sorted(range(len(rows)), key=key)


@dataclass
class _Plan:
    """One model of the grid: its settings, architecture and options."""

    settings: dict[str, Any]
    arch: dict[str, Any]
    options: TrainingOptions


def _plans(grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]) -> list[_Plan]:
    """Each combination of the grid beside the fixed settings, checked as a single run
    checks its own."""
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise SettingError(f"the grid's {{{name}}} must be a non-empty list of values, "
                               f"got {values!r}")
    plans = []
    for values in itertools.product(*grid.values()):
        combo = dict(zip(grid, values, strict=True))
        settings = {**fixed, **combo}
        arch = {name: check(name, settings.get(name, default(name))) for name in ARCHITECTURE}
        options = TrainingOptions(**{name: settings[name] for name in TRAINING_SETTINGS
                                     if name in settings})
        check_all({**asdict(options), "layers": arch["layers"], "init": arch["init"],
                   "init_scale": arch["init_scale"]})
        plans.append(_Plan(combo, arch, options))
    return plans


def check_grid(grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any],
               split: bool) -> int:
    """Check every model's settings as its single run would (one-line
    :class:`SettingError`), before any work; ``split``: with validation data. Return the
    number of models."""
    check_known([*grid, *fixed], SWEEP_SETTINGS, "sweep")
    plans = _plans(grid, fixed)
    for plan in plans:
        plan.options.checked(split)
    return len(plans)


def sweep(X: Any, y: Any = None, grid: Mapping[str, Sequence[Any]] | None = None, *,
          task: str | None = None, standardize: bool = False,
          validation_fraction: float | None = None, target: str | None = None,
          device: str = "auto", backend: str | Backend = "auto", dtype: str | None = None,
          max_stack: int | None = None, on_record: OnRecord | None = None,
          workers: int | None = None, comm: Any = None,
          checkpoint: str | os.PathLike[str] | None = None,
          checkpoint_every: int | None = None, resume: str | os.PathLike[str] | None = None,
          **fixed: Any) -> SweepResult:
    """Train every combination of ``grid`` (beside the ``fixed`` settings) in stacks.

    Parameters
    ----------
    X, y, task, standardize, validation_fraction, target
        The data, as for :meth:`Model.fit` (a data set name or file as ``X`` too).
    grid : mapping of str to list
        Settings to vary (library names: ``layers``, ``learning_rate``, ``seed``, ``l2``,
        ``init_scale``, ``keep_prob``, ``optimizer``, ...), each a list of values.
    device, backend, dtype
        Where to train (:func:`nnbackend.resolve_backend`).
    max_stack : int, optional
        At most this many models in one stack.
    on_record : callable, optional
        ``on_record(stack, record)`` with each record of each stack (per-model lists),
        stack after stack, even when several train at once.
    workers : int, optional
        Stacks trained at once on worker threads (CPU backends; 1: one after another).
        Default: decided by the cost model (docs/cli.md, "sweep").
    comm : Communicator, optional
        Share the stacks out over the ranks of ``comm``
        (:class:`~nnbackend.distributed.MPICommunicator` under ``mpirun``): each rank
        trains its share and returns every row and the best model; the results are one
        process's.
    checkpoint : path-like, optional
        Keep the sweep in this file (atomically): after each stack, and every
        ``checkpoint_every`` steps of a stack under way. Over ranks, rank 0 writes it:
        its own stacks as they go, every rank's once the ranks meet at the end.
    checkpoint_every : int, optional
        Steps between checkpoints of a stack under way (default: after each stack only).
    resume : path-like, optional
        Continue the sweep kept in this checkpoint: finished stacks are not trained
        again, the stack under way continues from its step, and the result equals an
        uninterrupted sweep's, whatever ``workers`` or ranks (the checkpoint keeps its
        stacks). Give the same data, grid and settings (another sweep's checkpoint is
        refused); ``checkpoint`` may be the same file.
    **fixed
        Every other setting, the same for all models (``iterations=5000``).

    Returns
    -------
    SweepResult
        The rows (grid order) and ``best_model``.

    Examples
    --------
    >>> result = nnbackend.sweep("flower", grid={"layers": [(1,), (4,), (20,)]},
    ...                          iterations=1000)  # doctest: +SKIP
    >>> result.ranked()[0], result.best_model  # doctest: +SKIP
    """
    chosen = _backend(device, backend, dtype)

    def prepare_for(split_seed: int | None) -> PreparedData:
        return Model(seed=split_seed, backend=chosen).prepare(
            X, y, task=task, standardize=standardize,
            validation_fraction=validation_fraction, target=target)

    if checkpoint is None and checkpoint_every is not None:
        raise SettingError("checkpoint_every only applies with checkpoint (where to write "
                           "them); add it, or drop checkpoint_every")
    if checkpoint is not None:
        check_writable(checkpoint)  # now, not after the first stack
    kept = (None if checkpoint is None and resume is None
            else SweepCheckpoint(checkpoint, checkpoint_every, resume))
    return sweep_prepared(prepare_for, grid, chosen, validation_fraction is not None,
                          max_stack=max_stack, on_record=on_record, workers=workers,
                          comm=comm, checkpoint=kept, **fixed)


def sweep_prepared(prepare_for: Callable[[int | None], PreparedData],
                   grid: Mapping[str, Sequence[Any]] | None, backend: Backend,
                   split: bool, *, max_stack: int | None = None,
                   on_record: OnRecord | None = None,
                   callbacks: Callable[[StackInfo], Sequence[Callback]] | None = None,
                   say: Callable[[str], None] | None = None, workers: int | None = None,
                   comm: Any = None, checkpoint: SweepCheckpoint | None = None,
                   stop: threading.Event | None = None, **fixed: Any) -> SweepResult:
    """:func:`sweep` on data prepared by ``prepare_for(split_seed)`` (called once per
    seed with a validation split, ``split``, else once with None); ``callbacks(stack)``
    gives each stack's loop its callbacks (a progress bar: with several stacks at once,
    draw through :meth:`StackInfo.draw`); ``say`` is told, in one line each, what the
    sweep decided on its own (a stack split to fit the free memory, stacks on threads or
    ranks; :attr:`SweepResult.notes` keeps them). ``checkpoint`` keeps the sweep and
    resumes it (:mod:`nnbackend.model.sweep_state`). ``stop``, once set (by a signal
    handler on the main thread), stops every stack under way after its current step,
    whichever thread trains it, and starts no other; the sweep then ends with
    :class:`~nnbackend.model.sweep_state.SweepInterrupted`, whose checkpoint holds every
    finished stack and every stack that was under way (in memory without ``checkpoint``)."""
    grid = dict(grid or {})
    check_known([*grid, *fixed], SWEEP_SETTINGS, "sweep")
    if max_stack is not None and (isinstance(max_stack, bool) or not isinstance(max_stack, int)
                                  or max_stack < 1):
        raise SettingError(f"{{max_stack}} must be an integer >= 1, got {max_stack!r}")
    check_workers(workers, backend)
    if stop is not None and checkpoint is None:
        checkpoint = SweepCheckpoint()  # where a stop keeps the stacks under way
    if comm is not None and checkpoint is not None and not comm.is_root:
        checkpoint.keep_in(None)  # rank 0 alone writes: the others hand it their stacks
    share = 1 if comm is None else ranks_per_machine(comm)
    plans, datas, stacks, notes = _planned(prepare_for, grid, fixed, split, backend,
                                           max_stack, share, comm)
    if checkpoint is not None:  # another sweep's checkpoint is refused before any work
        checkpoint.check(grid, fixed, split, datas, backend)
        # A resumed sweep trains the stacks it kept (whatever the memory or ranks now).
        stacks = [(plans[rows[0]].arch["seed"] if split else None, rows) for rows in
                  checkpoint.stacks([rows for _, rows in stacks], len(plans))]
    figures = [estimate([_sizes(plans[i], datas[seed]) for i in rows],
                        plans[rows[0]].options, datas[seed].X_train.shape[0], backend)
               for seed, rows in stacks]
    # The longest first: threads start them first, and the output, stack after stack, is
    # then the same however many run at once (the first one's lines come out live).
    longest = sorted(range(len(stacks)), key=lambda i: -figures[i][0])
    stacks, figures = [stacks[i] for i in longest], [figures[i] for i in longest]
    costs = [cost for cost, _, _ in figures]
    result = SweepResult([{} for _ in plans])
    result.varied, result.stacks = tuple(grid), [tuple(rows) for _, rows in stacks]
    result.notes = notes
    result._trained = {}
    shares = [list(range(len(stacks)))] if comm is None else share_out(costs, comm.size)
    mine = shares[0 if comm is None else comm.rank]
    result.workers = choose_workers(workers, backend, [costs[i] for i in mine],
                                    [figures[i][1] for i in mine],
                                    [figures[i][2] for i in mine], share)
    if comm is not None:
        notes.append(share_note(comm, len(stacks), mine))
    if result.workers > 1:
        notes.append(f"{count(len(mine), 'stack')}, {result.workers} at a time on worker "
                     "threads")
    if say is not None:
        for note in notes:
            say(note)
    output = InOrder(mine)
    reported = None if on_record is None else _in_order(on_record)
    stopped: dict[int, str] = {}  # the stacks a stop ended: where each stopped

    def train(index: int, stop: threading.Event | None) -> None:
        key_seed, rows = stacks[index]
        info = StackInfo(index, len(stacks), tuple(rows), output)
        data = datas[key_seed]
        extra = [*(() if callbacks is None else callbacks(info)),
                 *(() if stop is None else (StopWhenSet(stop),))]
        if checkpoint is not None and checkpoint.finished(rows):  # kept by a resumed sweep
            trained = checkpoint.restored(rows, [_sizes(plans[i], data) for i in rows],
                                          [plans[i].arch["hidden_activation"] for i in rows],
                                          data.targets.task, backend, result)
        else:
            try:
                trained = _train_stack([plans[i] for i in rows], rows, data, backend, info,
                                       reported, extra, result, checkpoint)
            except SweepInterrupted as interrupted:  # kept; the others stop too
                stopped[index] = interrupted.where
                return
            if checkpoint is not None:
                checkpoint.stack_done(rows, result, trained)
        for row, (network, run) in trained.items():
            result._trained[row] = (plans[row], network, run, data, backend)

    def train_mine() -> tuple[dict[int, dict[str, Any]], str | None, Any]:
        """This rank's rows, where a stop ended its stacks (None: it did not), and what
        its checkpoint holds of them (for rank 0's)."""
        run_stacks(mine, result.workers, train, output, stop=stop)
        left = [i for i in mine if not all(result[row] for row in stacks[i][1])]
        where = None
        if stopped or (left and stop is not None and stop.is_set()):
            where = (", ".join(stopped[i] for i in sorted(stopped)) if stopped
                     else f"before stack {left[0] + 1}/{len(stacks)}")
        if comm is None and where is not None:
            assert checkpoint is not None  # (a stop only ends a stack that has one)
            raise SweepInterrupted(checkpoint, where)
        part = (None if comm is None or checkpoint is None
                else checkpoint.part([stacks[i][1] for i in mine]))
        return {row: result[row] for index in mine for row in stacks[index][1]}, where, part

    if comm is None:
        train_mine()
    else:  # every rank's rows, in grid order, on every rank; one checkpoint, by rank 0
        wheres = []
        for rank, (rows, where, part) in enumerate(gathered(comm, train_mine)):
            for row, values in rows.items():
                result[row] = values
            wheres += [] if where is None else [where]
            if checkpoint is not None and comm.is_root and rank != comm.rank:
                checkpoint.take(part)
        if checkpoint is not None and comm.is_root:
            checkpoint.save()
        if wheres:  # on every rank alike
            assert checkpoint is not None
            raise SweepInterrupted(checkpoint, ", ".join(wheres))
    task_name = next(iter(datas.values())).targets.task
    figure = "r2" if task_name == "regression" else "accuracy"
    result.score = f"{'val' if split else 'train'}_{figure}"
    order = ranking(result, result.score)
    if order and result[order[0]].get(result.score) is not None:
        result.best = order[0]
        if comm is not None:
            _share_best(comm, result, plans, datas, stacks, shares, backend)
        result.best_model = result.model(order[0])
    return result


def _in_order(on_record: OnRecord) -> OnRecord:
    """``on_record``, called in the order the stacks would run one after another."""
    def reported(info: StackInfo, record: dict[str, Any]) -> None:
        info.say(lambda: on_record(info, record))

    return reported


def _planned(prepare_for: Callable[[int | None], PreparedData],
             grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any], split: bool,
             backend: Backend, max_stack: int | None, share: int, comm: Any
             ) -> tuple[list[_Plan], dict[Any, PreparedData], list[tuple[Any, list[int]]],
                        list[str]]:
    """The models, their data and the stacks (with the notes of any split); with ranks,
    rank 0's stacks on every rank (each rank's free memory may differ), once every rank
    has the same data and settings."""
    def plan() -> tuple[list[_Plan], dict[Any, PreparedData], list[tuple[Any, list[int]]],
                        list[str]]:
        return _stacks(prepare_for, grid, fixed, split, backend, max_stack, share)

    if comm is None:
        return plan()
    plans, datas, stacks, notes = planned_by_rank_0(comm, plan, 2)
    check_same_run(comm, {FINGERPRINT: fingerprint(next(iter(datas.values()))),
                          "grid": grid, **fixed, "max_stack": max_stack})
    return plans, datas, stacks, notes


def _stacks(prepare_for: Callable[[int | None], PreparedData],
            grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any], split: bool,
            backend: Backend, max_stack: int | None, share: int
            ) -> tuple[list[_Plan], dict[Any, PreparedData], list[tuple[Any, list[int]]],
                       list[str]]:
    """Each model's plan, the data of each split seed, the stacks (split seed and rows)
    and the notes of stacks split to fit the free memory (``share``d by the ranks of one
    machine)."""
    plans = _plans(grid, fixed)
    datas: dict[Any, PreparedData] = {}
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, plan in enumerate(plans):
        key_seed = plan.arch["seed"] if split else None
        if key_seed not in datas:
            datas[key_seed] = prepare_for(key_seed)
        data = datas[key_seed]
        # Each model as its own run refuses it: one that would not fit the memory.
        check_network_fits(_sizes(plan, data), plan.arch["layers"], data.X_train.shape[0],
                           plan.options, backend)
        key = (key_seed, len(plan.arch["layers"]), plan.arch["hidden_activation"],
               *(getattr(plan.options, name) for name in STACK_OPTIONS))
        groups.setdefault(key, []).append(i)
    stacks: list[tuple[Any, list[int]]] = []
    notes: list[str] = []
    for key, members in groups.items():
        stacks += [(key[0], rows) for rows in _cut(plans, members, datas[key[0]], backend,
                                                   max_stack, notes, share)]
    return plans, datas, stacks, notes


def _share_best(comm: Any, result: SweepResult, plans: list[_Plan],
                datas: dict[Any, PreparedData], stacks: list[tuple[Any, list[int]]],
                shares: list[list[int]], backend: Backend) -> None:
    """The best row's model, sent by the rank that trained it (``shares``: each rank's
    stacks), on every rank."""
    assert result.best is not None
    stack = next(i for i, (_, rows) in enumerate(stacks) if result.best in rows)
    plan, data = plans[result.best], datas[stacks[stack][0]]
    here = result._trained.get(result.best)
    owner = next(rank for rank, share in enumerate(shares) if stack in share)
    params, run = share_model(comm, owner, None if here is None else here[1].params,
                              None if here is None else here[2], backend)
    if here is None:
        network = Network(_sizes(plan, data),
                          get_hidden_activation(plan.arch["hidden_activation"]),
                          OUTPUT_LAYERS[data.targets.task], backend, params)
        result._trained[result.best] = (plan, network, run, data, backend)


def _cut(plans: list[_Plan], members: list[int], data: PreparedData, backend: Backend,
         max_stack: int | None, notes: list[str], share: int = 1) -> list[list[int]]:
    """The stacks of models that may share one (``members``): by the cost model of their
    sizes (none padded under RMSprop or Adam), at most ``max_stack``, and no more than
    the free memory holds (``share``d by the ranks of one machine; noted in ``notes``)."""
    sizes = [_sizes(plans[i], data) for i in members]
    options = plans[members[0]].options
    m = data.X_train.shape[0]
    batch = min(options.batch_size or m, m)
    exact_padding = options.optimizer not in ("rmsprop", "adam")
    stacks: list[list[int]] = []
    for part in group_sizes(sizes, batch, CPU if backend.on_host else GPU, max_stack,
                            exact_padding):
        rows = [members[j] for j in part]
        fit = models_that_fit(padded([sizes[j] for j in part]), m, options, backend, share)
        if fit is not None and fit < len(rows):
            notes.append(f"a stack of {len(rows)} models would not fit the free memory: "
                         f"trained in stacks of {fit}")
        step = len(rows) if fit is None else fit
        stacks += [rows[start:start + step] for start in range(0, len(rows), step)]
    return stacks


def _sizes(plan: _Plan, data: PreparedData) -> tuple[int, ...]:
    return (data.X_train.shape[1], *plan.arch["layers"], data.targets.n_outputs)


def _train_stack(plans: list[_Plan], rows: list[int], data: PreparedData, backend: Backend,
                 info: StackInfo, on_record: OnRecord | None,
                 callbacks: Sequence[Callback], table: SweepResult,
                 checkpoint: SweepCheckpoint | None = None
                 ) -> dict[int, tuple[Network, TrainingResult]]:
    """Train one stack (from ``checkpoint``'s state of it, if any, kept there as it
    trains); fill its rows of ``table``; return each model's own network and result (as
    its single run's)."""
    first = plans[0]
    stack = ModelStack([_sizes(p, data) for p in plans], backend,
                       get_hidden_activation(first.arch["hidden_activation"]),
                       [p.arch["seed"] for p in plans])
    has_validation = data.X_val is not None
    models = StackedModels(stack, [p.options for p in plans], data.targets.task,
                           [p.arch["init"] for p in plans],
                           [p.arch["init_scale"] for p in plans], has_validation)
    validation = (None if data.X_val is None
                  else (backend.asarray(data.X_val), backend.asarray(data.Y_val)))
    X, Y = backend.asarray(data.X_train), backend.asarray(data.Y_train)
    state = None
    if checkpoint is not None:
        state = checkpoint.resumed_state(rows, models)
        callbacks = [*callbacks, checkpoint.callback(rows, models)]
    trainer = Trainer(models.network, X, Y, models.options[0], validation=validation,
                      on_record=None if on_record is None else
                      (lambda record: on_record(info, record)),
                      callbacks=callbacks, stack=models, state=state)
    run = trainer.run()
    if checkpoint is not None and run.stopped_by == "interrupted":
        raise SweepInterrupted(checkpoint, f"stack {info.index + 1}/{info.count} at step "
                                           f"{run.steps} of {trainer.total_steps}")
    xp, output = backend.xp, models.network.output
    out: dict[int, tuple[Network, TrainingResult]] = {}
    for i, (plan, row) in enumerate(zip(plans, rows, strict=True)):
        own = {name: xp.asarray(value, copy=True)
               for name, value in models.model(trainer.state.params, i).items()}
        network = Network(stack.sizes[i], stack.hidden, output, backend, own)
        result = _own_result(models, run, i, trainer)
        out[row] = (network, result)
        figures: dict[str, Any] = {}
        splits = [("train", X, Y)] + ([("val", *validation)] if validation else [])
        for name, Xs, Ys in splits:
            scores = (None if result.stopped_by == "diverged" else
                      final_scores(network, Xs, Ys, models.options[i].l2, False))
            for figure in ("cost", "r2" if output.task == "regression" else "accuracy"):
                figures[f"{name}_{figure}"] = None if scores is None else scores[figure]
        table[row] = {**{name: _plain(value) for name, value in plan.settings.items()},
                      **figures, "iterations": result.steps, "stopped_by": result.stopped_by}
    return out


def _plain(value: Any) -> Any:
    """A setting as a row shows it (layer sizes as a list, for JSON)."""
    return list(value) if isinstance(value, tuple) else value


def _own_result(models: StackedModels, run: TrainingResult, i: int,
                trainer: Trainer) -> TrainingResult:
    """Model ``i``'s result as its single run reports it: its records up to its stop."""
    records = models.records[i] if models.records[i] is not None else len(run.history)
    history = [models.model_record(r, i) for r in run.history[:records]]
    stopped = models.steps[i]
    steps = run.steps if stopped is None else stopped
    kind = models.stopped_by[i]
    unit = "epochs" if trainer.by_epoch else "iterations"
    epochs = steps // -(-trainer.m // trainer.batch)
    done = epochs if trainer.by_epoch else steps
    reason = {"completed": f"completed {done} {unit}",
              "early_stopping": "early stopping: validation cost did not improve for "
                                f"{trainer.options.patience} evaluations",
              "diverged": "diverged: the cost or the parameters became NaN or infinite; "
                          + FIX}[kind]
    return TrainingResult(history, steps, epochs, reason, models.best[i], kind)


def _model(plan: _Plan, network: Network, result: TrainingResult, data: PreparedData,
           backend: Backend) -> Model:
    """The row's model, as ``Model(...).fit`` with its settings would have made it."""
    arch = plan.arch
    model = Model(arch["layers"], hidden_activation=arch["hidden_activation"],
                  init=arch["init"], init_scale=arch["init_scale"], seed=arch["seed"],
                  backend=backend)
    model.network, model.task = network, data.targets.task
    model.classes, model.standardizer = data.targets.classes, data.standardizer
    model.columns, model.history, model.result = data.columns, result.history, result
    model.run = {**{name: arch[name] for name in ARCHITECTURE},
                 "layers": list(arch["layers"]),
                 "options": asdict(plan.options.checked(data.X_val is not None))}
    return model
