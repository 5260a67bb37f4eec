"""``nnbackend gradcheck``: backpropagation against central differences."""

from __future__ import annotations

import click

from ..core.backend import host_rng, resolve_backend
from ..core.gradcheck import gradient_check
from ..core.network import Network
from ..data.datasets import load_dataset
from ..data.encoding import check_features, encode_targets
from ..threads import limit_threads
from ..training.memory import check_network_fits
from ..training.settings import check_requirements
from ..training.trainer import TrainingOptions
from . import cli
from .options import FiniteFloatRange, architecture_options, data_options, device_options


@cli.command()
@data_options
# Xavier by default: with the course's randn * 0.01 the hidden gradients are so small that
# float64 central differences (eps 1e-7) are dominated by rounding, not by backprop errors.
@architecture_options(init="xavier")
@device_options
@click.option("--examples", type=click.IntRange(min=1), default=20, show_default=True,
              help="Check on this many examples drawn (seeded) from the data.")
@click.option("--l2", type=FiniteFloatRange(min=0), default=0.0, show_default=True,
              help="Include the L2 penalty lambda in cost and gradients.")
@click.option("--epsilon", type=FiniteFloatRange(min=0, min_open=True), default=1e-7,
              show_default=True, help="Central-difference step.")
@click.option("--threshold", type=FiniteFloatRange(min=0, min_open=True), default=1e-7,
              show_default=True, help="Relative differences below it pass.")
def gradcheck(data: str, task: str | None, layers: tuple[int, ...], hidden_activation: str,
              init: str, init_scale: float, seed: int, device: str, backend: str,
              dtype: str | None,
              threads: int | None, examples: int, l2: float, epsilon: float,
              threshold: float) -> None:
    """Check the analytic backward pass against central differences in float64.

    Prints ||g - g_approx|| / (||g|| + ||g_approx||) over all parameters and per
    parameter, and the verdict. Exit code 0 when it passes, 1 when it fails (naming the
    parameter that disagrees most).

    \b
    Examples:
      nnbackend gradcheck
      nnbackend gradcheck --layers 5,3 --hidden-activation relu --init he --l2 0.7
      nnbackend gradcheck --backend array-api-strict --device device1
    """
    limit_threads(threads)
    check_requirements({"init": init, "init_scale": init_scale})
    chosen = resolve_backend(device=device, backend=backend, dtype=dtype)
    X_host, y_host = load_dataset(data)
    features = check_features(X_host)
    targets = encode_targets(y_host, task)
    rows = host_rng(seed).permutation(features.shape[0])[:examples]
    sizes = (features.shape[1], *layers, targets.n_outputs)
    # The check's float64 network, gradients and central differences, refused before
    # anything is allocated when they cannot fit.
    check_network_fits(sizes, layers, len(rows), TrainingOptions(optimizer="gd"), chosen)
    network = Network.create(sizes, chosen, hidden_activation, targets.task, init, seed,
                             init_scale=init_scale)
    X, Y = chosen.asarray(features[rows]), chosen.asarray(targets.Y[:, rows])
    click.echo(f"Backend: {chosen.describe()}; layers {'-'.join(map(str, sizes))}, "
               f"{hidden_activation} hidden, {network.output.activation.name} output, "
               f"l2 {l2}, {X.shape[0]} examples")
    result = gradient_check(network, X, Y, epsilon, threshold, l2)
    for name, difference in result.per_parameter.items():
        click.echo(f"  d{name:<4} relative difference {difference:.3e}")
    if result.passed:
        click.echo(f"Passed: relative difference {result.difference:.3e} < {threshold:g}: "
                   "backward propagation agrees with central differences.")
        return
    worst = result.worst
    click.echo(f"FAILED: relative difference {result.difference:.3e} >= {threshold:g}: "
               f"backward propagation disagrees; worst is d{worst} "
               f"({result.per_parameter[worst]:.3e}).")
    click.get_current_context().exit(1)
