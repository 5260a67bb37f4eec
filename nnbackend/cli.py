"""The ``nnbackend`` command line (click).

Errors the user can fix are printed as one line, ``Error: <problem>; <fix>``, with exit
code 2 and no traceback; that holds for click's own usage errors too.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import numpy as np

from . import __version__
from .activations import HIDDEN_ACTIVATIONS
from .backend import BACKENDS, DTYPES, resolve_backend
from .data import TASKS, check_features, encode_targets
from .datasets import DATASETS, load_dataset
from .errors import NNBackendError
from .initializers import WEIGHT_SCALES
from .network import Network
from .training import accuracy, gradient_descent

EXIT_USAGE = 2


class OneLineErrors(click.Group):
    """A click group whose user errors are one line on stderr and exit code 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            code = 0
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "nnbackend"
            click.echo(f"Error: {exc.format_message()} (see '{command} --help')", err=True)
            code = EXIT_USAGE
        except NNBackendError as exc:
            click.echo(f"Error: {exc}", err=True)
            code = EXIT_USAGE
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.Abort:
            click.echo("Aborted.", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


def parse_layers(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``"4"`` or ``"20,7,5"`` -> hidden layer sizes; anything else is a usage error."""
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of positive integers (e.g. 4 or 20,7,5)"
        )
    return tuple(int(p) for p in parts)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnbackend")
def cli() -> None:
    """nnbackend: the shallow-network notes' trainer, written once on the Array API.

    The same forward, backward and update code runs on NumPy (CPU), CuPy (CUDA),
    PyTorch and array-api-strict. Start with:

        nnbackend train

    which trains the notes' 2-layer network (4 tanh units, sigmoid output) on the flower
    data set on the default device.
    """


@cli.command()
@click.option("--data", default="flower", show_default=True,
              help=f"Built-in data set: {', '.join(DATASETS)}.")
@click.option("--layers", default="4", show_default=True, callback=parse_layers,
              help="Hidden layer sizes, comma-separated: 4 is the notes' shallow network, "
                   "20,7,5 a deep one.")
@click.option("--hidden-activation", default="tanh", show_default=True,
              type=click.Choice(list(HIDDEN_ACTIVATIONS)), help="g of the hidden layers.")
@click.option("--task", type=click.Choice(TASKS), default=None,
              help="Output layer and loss; inferred from the labels when omitted.")
@click.option("--init", "init", default="small", show_default=True,
              type=click.Choice(list(WEIGHT_SCALES)),
              help="small = randn*0.01 (the notes'), zeros shows the symmetry problem.")
@click.option("--lr", default=1.2, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Learning rate (> 0).")
@click.option("--iterations", default=10000, show_default=True,
              type=click.IntRange(min=1), help="Full-batch gradient-descent steps.")
@click.option("--seed", default=3, show_default=True, type=int,
              help="Seed of the host generator: --init small draws what the notes' "
                   "np.random.seed(SEED); np.random.randn(n1, n0) * 0.01 draws.")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda or cuda:N. auto = CUDA when CuPy sees a GPU, else CPU.")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(BACKENDS),
              help="Array library; auto = numpy on cpu, cupy on cuda.")
@click.option("--dtype", default=None, type=click.Choice(DTYPES),
              help="Default: float64 on CPU, float32 on CUDA.")
@click.option("--print-every", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Print (and record) the cost every N iterations.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (backend, device, dtype, history, "
                   "train_accuracy) as the last line of stdout; the rest goes to stderr.")
def train(data: str, layers: tuple[int, ...], hidden_activation: str, task: str | None,
          init: str, lr: float, iterations: int, seed: int, device: str, backend: str,
          dtype: str | None, print_every: int, as_json: bool) -> None:
    """Train a network and report its cost and training accuracy.

    \b
    Examples:
      nnbackend train                              # the notes' flower run
      nnbackend train --layers 20,7,5 --hidden-activation relu --init he --lr 0.3
      nnbackend train --device cuda --json         # on a GPU, machine-readable
    """
    say = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    chosen = resolve_backend(device=device, backend=backend, dtype=dtype)
    X_host, y_host = load_dataset(data)
    features = check_features(X_host)
    targets = encode_targets(y_host, task)
    sizes = (features.shape[1], *layers, targets.n_outputs)
    network = Network.create(sizes, chosen, hidden_activation, targets.task, init, seed)
    say(f"Backend: {chosen.describe()}")
    say(f"Data: {data}, {features.shape[0]} examples, {features.shape[1]} features, "
        f"task {targets.task}; layers {'-'.join(map(str, sizes))}, {hidden_activation} "
        f"hidden, {network.output.activation.name} output")
    X = chosen.asarray(features)
    Y = chosen.asarray(targets.Y)
    history = gradient_descent(
        network, X, Y, lr, iterations, print_every,
        on_record=lambda i, cost: say(f"Cost after iteration {i}: {cost:.6f}"),
    )
    result: dict[str, Any] = {**chosen.as_dict(), "layers": list(sizes),
                              "task": targets.task, "history": history}
    if targets.classes is not None:
        truth = chosen.asarray(np.argmax(targets.Y, axis=0) if targets.task == "multiclass"
                               else targets.Y[0], dtype="int64")
        result["train_accuracy"] = accuracy(network, X, truth)
        say(f"Train accuracy: {100 * result['train_accuracy']:.2f}%")
    if as_json:
        click.echo(json.dumps(result))


def main() -> None:
    """Console-script entry point."""
    cli()
