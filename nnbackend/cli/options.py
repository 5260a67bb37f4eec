"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..core.activations import HIDDEN_ACTIVATIONS
from ..core.backend import BACKENDS, DTYPES
from ..core.initializers import WEIGHT_SCALES
from ..data.datasets import DATASETS
from ..data.encoding import TASKS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def parse_layers(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``"4"`` or ``"20,7,5"`` -> hidden layer sizes; anything else is a usage error."""
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of positive integers (e.g. 4 or 20,7,5)"
        )
    return tuple(int(p) for p in parts)


def stack(*decorators: Decorator) -> Decorator:
    """Apply several click decorators in the order they are listed."""
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


device_options = stack(
    click.option("--device", default="auto", show_default=True, envvar="NNBACKEND_DEVICE",
                 show_envvar=True,
                 help="auto, cpu, cuda or cuda:N. auto = CUDA when CuPy sees a GPU, else CPU. "
                      "The environment variable sets another default, e.g. "
                      "NNBACKEND_DEVICE=cpu on a GPU machine."),
    click.option("--backend", default="auto", show_default=True, type=click.Choice(BACKENDS),
                 help="Array library; auto = numpy on cpu, cupy on cuda."),
    click.option("--dtype", default=None, type=click.Choice(DTYPES),
                 help="Default: float64 on CPU, float32 on CUDA."),
    click.option("--threads", type=click.IntRange(min=1), default=None,
                 help="Limit BLAS/OpenMP and PyTorch CPU threads to N (default: one per "
                      "core). On a busy 2-core machine 1 thread can be much faster for "
                      "small networks. Needs threadpoolctl: pip install "
                      "'nnbackend[threads]'."),
)

data_options = stack(
    click.option("--data", default="flower", show_default=True,
                 help=f"A built-in set ({', '.join(DATASETS)}; see 'nnbackend datasets') "
                      "or a file: .csv with a header row, .npz with X and y, or .npy "
                      "features with their labels file."),
    click.option("--task", type=click.Choice(TASKS), default=None,
                 help="Output layer and loss: binary (sigmoid + cross-entropy), multiclass "
                      "(softmax + cross-entropy), regression (identity + MSE). Inferred "
                      "from the labels when omitted."),
)

def architecture_options(init: str = "small") -> Decorator:
    """``--layers``, ``--hidden-activation``, ``--init`` (default ``init``),
    ``--init-scale`` and ``--seed``."""
    return stack(
        click.option("--layers", default="4", show_default=True, callback=parse_layers,
                     help="Hidden layer sizes, comma-separated: 4 is the notes' shallow "
                          "network, 20,7,5 a deep one."),
        click.option("--hidden-activation", default="tanh", show_default=True,
                     type=click.Choice(list(HIDDEN_ACTIVATIONS)),
                     help="g of the hidden layers."),
        click.option("--init", "init", default=init, show_default=True,
                     type=click.Choice(list(WEIGHT_SCALES)),
                     help="small = randn*0.01 (the notes'), zeros shows the symmetry "
                          "problem, xavier for tanh, he for relu, random = randn (with "
                          "--init-scale)."),
        click.option("--init-scale", type=click.FloatRange(min=0), default=1.0,
                     show_default=True,
                     help="Multiplies the initializer's factor: --init random "
                          "--init-scale 10 is the course's too-large randn*10 example."),
        click.option("--seed", default=3, show_default=True, type=int,
                     help="Seed of the host generator: --init small draws what the notes' "
                          "np.random.seed(SEED); np.random.randn(n1, n0) * 0.01 draws."),
    )


#: Generator options of built-in sets, shared by every command that reads data: draw a
#: fresh test set (another --data-seed) or the one a model was trained on.
generator_options = stack(
    click.option("--n-samples", type=click.IntRange(min=1), default=None,
                 help="Built-in generators: number of examples."),
    click.option("--noise", type=click.FloatRange(min=0), default=None,
                 help="Built-in generators: noise level."),
    click.option("--n-classes", type=click.IntRange(min=2), default=None,
                 help="Built-in blobs, spiral, gaussian-quantiles: number of classes."),
    click.option("--data-seed", type=int, default=None,
                 help="Built-in generators: seed of the data (default: the set's own)."),
)

#: Options of built-in generators and files, for the commands that train.
source_options = stack(
    click.option("--target", default=None,
                 help="CSV label column (default: the last column)."),
    generator_options,
    click.option("--standardize", is_flag=True,
                 help="Scale features to mean 0, std 1 (fitted on the training split only, "
                      "stored with the model)."),
)
