"""``nnbackend train``: train a network, report it, save it, checkpoint and resume it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import click
import numpy as np

from ..core.backend import Backend, resolve_backend
from ..core.network import Network
from ..data.pipeline import DataSpec, PreparedData, prepare
from ..errors import NNBackendError
from ..model import Model
from ..model.scores import r2_score
from ..persistence.atomic import check_writable
from ..persistence.checkpoints import load_checkpoint, save_checkpoint
from ..threads import limit_threads
from ..training.callbacks import Callback, Checkpoints, RecordLog, StopOnInterrupt, json_safe
from ..training.settings import TRAINING_SETTINGS, flag
from ..training.trainer import Trainer, TrainingOptions, TrainingResult, evaluate
from . import cli
from .options import (
    architecture_options,
    data_options,
    device_options,
    setting_option,
    source_options,
    stack,
)
from .progress import ProgressBar

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
                      "--checkpoint-every steps, at the end and on Ctrl-C."),
    click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                 help="Steps between checkpoints (default: the print interval)."),
    click.option("--resume", "resume_path", default=None, metavar="PATH",
                 help="Continue the run saved in this checkpoint (same data and options; "
                      "--device/--backend may change)."),
    setting_option("cuda_graph"),
    click.option("--data-on", type=click.Choice(["auto", "device", "host"]), default="auto",
                 show_default=True,
                 help="Where the training data lives: device copies it to the GPU once; "
                      "host keeps it in host memory and copies each batch to the device "
                      "while the previous step runs (for data larger than the GPU's "
                      "memory; same results; needs --batch-size). auto = host only for "
                      "mini-batch runs whose data would fill more than half of the "
                      "device's free memory."),
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
RESUME_OPTIONS = {"resume_path", "device", "backend", "save_path", "checkpoint_path",
                  "checkpoint_every", "as_json", "quiet", "cuda_graph", "data_on",
                  "threads", "log_file"}
#: Printed records per run when --print-every is not given (epoch runs record every
#: epoch, for the history and the loss curve, but print about this many).
PRINTED_RECORDS = 10


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
      nnbackend train                              # the notes' flower run
      nnbackend train --layers 20,7,5 --hidden-activation relu --init he --lr 0.3
      nnbackend train --data spiral --layers 50 --hidden-activation relu --init he \\
          --optimizer adam --lr 0.01 --epochs 300 --batch-size 32
      nnbackend train --data data.csv --target label --standardize --save model.npz
      nnbackend train --validation-fraction 0.2 --patience 5 --epochs 500
      nnbackend train --checkpoint run.npz --checkpoint-every 500
      nnbackend train --resume run.npz             # after a crash or Ctrl-C
      nnbackend train --device cuda --json         # on a GPU, machine-readable
      nnbackend train --backend torch --device cuda  # steps replayed as CUDA graphs
    """
    limit_threads(params["threads"])
    say = (lambda text: click.echo(text, err=True)) if params["as_json"] else click.echo
    for output in (params["save_path"], params["checkpoint_path"]):
        if output:
            check_writable(output)  # fail now, not after the training
    if params["resume_path"]:
        fixed = sorted(name for name in params if name not in RESUME_OPTIONS
                       and ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT)
        if fixed:
            flags = ", ".join(map(flag, fixed))
            raise NNBackendError(f"{flags} cannot change when resuming; the checkpoint fixes "
                                 "the data, model and training options (drop them)")
        network, header, state, rng = load_checkpoint(
            params["resume_path"],
            resolve_backend(params["device"], params["backend"],
                            _checkpoint_dtype(params["resume_path"])))
        model = Model.from_network(network, classes=header["classes"],
                                   standardization=header["standardization"],
                                   extra=header["extra"])
        run = model.run
        say(f"Resuming {params['resume_path']} at step {state.step}")
    else:
        run = describe_run(params)
        model = Model(run["layers"], hidden_activation=run["hidden_activation"],
                      init=run["init"], init_scale=run["init_scale"], seed=run["seed"],
                      device=params["device"], backend=params["backend"],
                      dtype=params["dtype"])
        model.run = run
        state = rng = None
    chosen = model.backend
    data = prepare(DataSpec(**run["data"]))
    options = TrainingOptions(**run["options"])
    data_on = choose_data_place(params["data_on"], chosen, data, options.batch_size)
    trainer = model.trainer(data, options, state=state, rng=rng,
                            cuda_graph=params["cuda_graph"], data_on=data_on)
    network = model.network
    assert network is not None
    notes = (["each step replayed as a CUDA graph"] if trainer.use_graphs else []) + (
        ["training data streamed from host memory"] if data_on == "host" else [])
    say(f"Backend: {chosen.describe()}" + (f" ({'; '.join(notes)})" if notes else ""))
    say(_describe_data(run, data, network))
    result = _run_with_progress(trainer, params, model, say)
    _report(trainer, result, model, params, say)


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


def _checkpoint_dtype(path: str) -> str:
    """The dtype a checkpoint was trained in (resuming keeps it, for exact continuation)."""
    from ..persistence.models import load_state

    header, _ = load_state(path)
    return str(header["dtype"])


def _describe_data(run: dict[str, Any], data: PreparedData, network: Network) -> str:
    sizes = network.layer_sizes
    val = "" if data.X_val is None else f" + {data.X_val.shape[0]} validation"
    scaled = ", standardized" if data.standardizer is not None else ""
    return (f"Data: {run['data']['data']}, {data.X_train.shape[0]} training examples{val}, "
            f"{sizes[0]} feature{'' if sizes[0] == 1 else 's'}{scaled}, "
            f"task {data.targets.task}; layers "
            f"{'-'.join(map(str, sizes))}, {network.hidden.name} hidden, "
            f"{network.output.activation.name} output")


def _run_with_progress(trainer: Trainer, params: dict[str, Any], model: Model,
                       say: Any) -> TrainingResult:
    """Run the loop with the progress bar, printed records, checkpoints and a clean Ctrl-C
    (each a callback of :mod:`nnbackend.training.callbacks`)."""
    quiet, checkpoint = params["quiet"], params["checkpoint_path"]
    bar = (ProgressBar(trainer.total_steps, "steps" if trainer.by_epoch else "iterations")
           if ProgressBar.wanted(quiet) else None)
    callbacks: list[Callback] = [StopOnInterrupt()]
    if bar is not None:
        callbacks.append(bar)
    if not quiet:
        callbacks.append(PrintRecords(say, bar, _print_interval(trainer, model)))
    if params["log_file"]:
        callbacks.append(RecordLog(params["log_file"]))
    if checkpoint:
        def save(t: Trainer) -> None:
            save_checkpoint(checkpoint, t, model.run, model.classes, model.standardization)

        every = params["checkpoint_every"] or _record_interval_in_steps(trainer)
        callbacks.append(Checkpoints(every, save))
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
    """Print every record, except in epoch runs without --print-every: about
    :data:`PRINTED_RECORDS` of them (every ``ceil(epochs / 10)`` epochs, and the last)."""
    given = model.run.get("print_every") is not None
    epochs = trainer.options.epochs
    if given or not trainer.by_epoch or epochs is None:
        return 1
    return max(1, math.ceil(epochs / PRINTED_RECORDS))


def final_scores(network: Network, X: Any, Y: Any, l2: float, host: bool) -> dict[str, float]:
    """The run's final figures on one split: ``cost`` (with the L2 term) and ``accuracy``
    for classifiers, ``r2`` and ``rmse`` (over examples and targets) for regression."""
    cost, accuracy = evaluate(network, network.params, X, Y, l2, host=host)
    if accuracy is not None:
        return {"accuracy": accuracy, "cost": cost}
    backend, m = network.backend, X.shape[0]
    predicted = np.concatenate([  # in slices: host-resident data may exceed the device
        backend.to_host(network.predict_proba(backend.asarray(X[start:start + 65536])))
        for start in range(0, m, 65536)])
    truth = np.asarray(backend.to_host(Y) if not host else Y, dtype=np.float64).T
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    return {"r2": r2_score(truth, predicted), "rmse": rmse, "cost": cost}


def _scores_text(scores: dict[str, float]) -> str:
    """``accuracy: 90.50% (cost 0.261831)`` or ``R^2: 0.9512, RMSE 0.1503 (cost ...)``."""
    cost = f"(cost {scores['cost']:.6f})"
    if "accuracy" in scores:
        return f"accuracy: {100 * scores['accuracy']:.2f}% {cost}"
    return f"R^2: {scores['r2']:.4f}, RMSE {scores['rmse']:.4g} {cost}"


def _record_interval_in_steps(trainer: Trainer) -> int:
    every = trainer.options.print_every or 1
    return every * -(-trainer.m // trainer.batch) if trainer.by_epoch else every


def _report(trainer: Trainer, result: TrainingResult, model: Model, params: dict[str, Any],
            say: Any) -> None:
    """Print the summary, save the model, emit JSON; exit 130 after a Ctrl-C."""
    network, options, chosen = trainer.network, trainer.options, model.backend
    interrupted = result.stop_reason.startswith("interrupted")
    say(f"Stopped: {result.stop_reason}")
    summary: dict[str, Any] = {
        **chosen.as_dict(), "layers": list(network.layer_sizes), "task": model.task,
        "options": model.run["options"], "steps": result.steps, "epochs": result.epochs,
        "stop_reason": result.stop_reason, "history": result.history,
        "cuda_graph": trainer.use_graphs,
    }
    splits = [("train", "Train", trainer.X, trainer.Y, trainer.host_data)]
    if trainer.validation is not None:
        splits.append(("val", "Validation", *trainer.validation, False))
    for key, label, X, Y, host in splits:
        scores = final_scores(network, X, Y, options.l2, host)
        summary.update({f"{key}_{name}": value for name, value in scores.items()})
        say(f"{label} {_scores_text(scores)}")
    if params["checkpoint_path"]:
        summary["checkpoint"] = params["checkpoint_path"]
        say(f"Checkpoint: {params['checkpoint_path']}"
            + (f" (resume with: nnbackend train --resume {params['checkpoint_path']})"
               if interrupted else ""))
    if params["save_path"] and not interrupted:
        model.save(params["save_path"], train_accuracy=summary.get("train_accuracy"))
        summary["model"] = params["save_path"]
        say(f"Model saved to {params['save_path']}")
    elif params["save_path"]:
        say(f"Model not saved to {params['save_path']}: the run was interrupted")
    if params["as_json"]:
        click.echo(json.dumps(json_safe(summary), allow_nan=False))
    if interrupted:
        click.get_current_context().exit(130)
