"""``nnbackend train``: train a network and report its cost and accuracy."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from ..backend import host_rng, resolve_backend
from ..data import check_features, encode_targets, split_validation
from ..datasets import load_dataset
from ..network import Network
from ..optimizers import OPTIMIZERS
from ..training import Trainer, TrainingOptions, evaluate
from . import cli
from .options import architecture_options, data_options, device_options, stack
from .progress import ProgressBar

training_options = stack(
    click.option("--lr", default=1.2, show_default=True,
                 type=click.FloatRange(min=0, min_open=True), help="Learning rate (> 0)."),
    click.option("--iterations", type=click.IntRange(min=1), default=None,
                 help="Update steps (default 10000 when --epochs is not given)."),
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help="Passes over the data, instead of --iterations."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Examples per step; default: all (the notes' full-batch descent). "
                      "Data is reshuffled every epoch from --seed."),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="gd", show_default=True,
                 help="gd (the notes'), momentum, rmsprop or adam."),
    click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), default=0.9,
                 show_default=True, help="Momentum / Adam first-moment decay."),
    click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), default=0.999,
                 show_default=True, help="RMSprop / Adam second-moment decay."),
    click.option("--lr-decay", type=click.FloatRange(min=0), default=0.0, show_default=True,
                 help="lr = lr0 / (1 + DECAY * floor(epoch / EVERY)); 0 = constant."),
    click.option("--lr-decay-every", type=click.IntRange(min=1), default=1, show_default=True,
                 help="1 = inverse-time decay each epoch; N = step decay every N epochs."),
    click.option("--l2", type=click.FloatRange(min=0), default=0.0, show_default=True,
                 help="L2 strength lambda: cost + lambda/(2m) sum W^2."),
    click.option("--keep-prob", type=click.FloatRange(0, 1, min_open=True), default=1.0,
                 show_default=True, help="Inverted-dropout keep probability of hidden "
                                         "units (1 = no dropout)."),
    click.option("--validation-fraction", type=click.FloatRange(0, 1, min_open=True,
                                                               max_open=True),
                 default=None, help="Hold out this fraction (seeded by --seed) and "
                                    "report its cost and accuracy."),
    click.option("--patience", type=click.IntRange(min=1), default=None,
                 help="Stop when the validation cost has not improved for N evaluations "
                      "and restore the best parameters (needs --validation-fraction)."),
    click.option("--print-every", type=click.IntRange(min=1), default=None,
                 help="Print (and record) every N iterations (default 1000), or every N "
                      "epochs with --epochs (default 1)."),
)


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


@cli.command()
@data_options
@architecture_options
@training_options
@device_options
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (backend, device, dtype, history, "
                   "train_accuracy, ...) as the last line of stdout; the rest goes to stderr.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar and no per-record cost lines; only the summary.")
def train(data: str, task: str | None, layers: tuple[int, ...], hidden_activation: str,
          init: str, seed: int, device: str, backend: str, dtype: str | None,
          as_json: bool, quiet: bool, validation_fraction: float | None,
          **training: Any) -> None:
    """Train a network and report its cost and training accuracy.

    \b
    Examples:
      nnbackend train                              # the notes' flower run
      nnbackend train --layers 20,7,5 --hidden-activation relu --init he --lr 0.3
      nnbackend train --optimizer adam --lr 0.01 --batch-size 64 --epochs 50
      nnbackend train --validation-fraction 0.2 --patience 5 --epochs 500
      nnbackend train --device cuda --json         # on a GPU, machine-readable
    """
    say = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    options = TrainingOptions(
        learning_rate=training["lr"], iterations=training["iterations"],
        epochs=training["epochs"], batch_size=training["batch_size"],
        optimizer=training["optimizer"], beta1=training["beta1"], beta2=training["beta2"],
        lr_decay=training["lr_decay"], lr_decay_every=training["lr_decay_every"],
        l2=training["l2"], keep_prob=training["keep_prob"],
        print_every=training["print_every"], patience=training["patience"],
    ).checked(has_validation=validation_fraction is not None)
    chosen = resolve_backend(device=device, backend=backend, dtype=dtype)
    X_host, y_host = load_dataset(data)
    features = check_features(X_host)
    targets = encode_targets(y_host, task)
    X_train, Y_train = features, targets.Y
    validation = None
    if validation_fraction is not None:
        X_train, Y_train, X_val, Y_val = split_validation(features, targets.Y,
                                                          validation_fraction, seed)
        validation = (chosen.asarray(X_val), chosen.asarray(Y_val))
    sizes = (features.shape[1], *layers, targets.n_outputs)
    rng = host_rng(seed)
    network = Network.create(sizes, chosen, hidden_activation, targets.task, init, rng=rng)
    say(f"Backend: {chosen.describe()}")
    say(f"Data: {data}, {X_train.shape[0]} training examples"
        + (f" + {validation[0].shape[0]} validation" if validation else "")
        + f", {features.shape[1]} features, task {targets.task}; layers "
        f"{'-'.join(map(str, sizes))}, {hidden_activation} hidden, "
        f"{network.output.activation.name} output")
    X, Y = chosen.asarray(X_train), chosen.asarray(Y_train)
    trainer = Trainer(network, X, Y, options, rng, validation)
    bar = (ProgressBar(trainer.total_steps, "steps" if trainer.by_epoch else "iterations")
           if ProgressBar.wanted(quiet) else None)

    def on_record(entry: dict[str, Any]) -> None:
        if bar is not None:
            bar.on_record(entry)
            bar.clear()
        if not quiet:
            say(format_record(entry))

    trainer.on_record = on_record
    trainer.on_step = None if bar is None else bar.on_step
    result = trainer.run()
    if bar is not None:
        bar.clear()
    say(f"Stopped: {result.stop_reason}")
    summary: dict[str, Any] = {
        **chosen.as_dict(), "layers": list(sizes), "task": targets.task,
        "options": asdict(options), "steps": result.steps, "epochs": result.epochs,
        "stop_reason": result.stop_reason, "history": result.history,
    }
    cost, acc = evaluate(network, network.params, X, Y, options.l2)
    summary["train_cost"] = cost
    if acc is not None:
        summary["train_accuracy"] = acc
        say(f"Train accuracy: {100 * acc:.2f}%")
    if validation is not None:
        summary["val_cost"], val_acc = evaluate(network, network.params, *validation,
                                                options.l2)
        if val_acc is not None:
            summary["val_accuracy"] = val_acc
            say(f"Validation accuracy: {100 * val_acc:.2f}%")
    if as_json:
        click.echo(json.dumps(summary))
