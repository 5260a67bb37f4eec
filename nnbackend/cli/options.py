"""Options shared by several commands, defined once."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from ..core.backend import SEED_HIGH
from ..data.datasets import DATASETS
from ..errors import SettingError
from ..training.settings import SETTINGS, Setting, flag

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
#: The most threads --threads takes: more than any machine's cores, less than the C ints
#: the thread pools store the number in.
MAX_THREADS = 4096


def parse_layers(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``"4"`` or ``"20,7,5"`` -> hidden layer sizes; anything else is a usage error."""
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of positive integers (e.g. 4 or 20,7,5)"
        )
    return tuple(int(p) for p in parts)


class FiniteFloatRange(click.FloatRange):
    """click's ``FloatRange`` that also refuses ``nan`` and ``inf``: click lets ``nan``
    through every range (each comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class NonEmpty(click.ParamType):
    """A file name or word that must not be empty (an empty one would read as not given)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty value names nothing; give one, or drop the option", param, ctx)
        return value


#: The type of options whose value must not be empty.
NONEMPTY = NonEmpty()


def number_type(kind: type, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> click.ParamType:
    """The click type of an int or float option: a range where there are bounds (its
    help then shows them), plain ``INT`` where there are none (click would print
    ``x<=None``); floats are always finite."""
    if kind is float:
        return FiniteFloatRange(low, high, min_open=low_open, max_open=high_open)
    if low is None and high is None:
        return click.INT
    return click.IntRange(None if low is None else int(low), None if high is None else int(high),
                          min_open=low_open, max_open=high_open)


def setting_type(setting: Setting) -> click.ParamType:
    """The click type of a number setting: its range from the table."""
    return number_type(setting.kind, setting.low, setting.high, low_open=setting.low_open,
                       high_open=setting.high_open)


def stack(*decorators: Decorator) -> Decorator:
    """Apply several click decorators in the order they are listed."""
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


def setting_option(name: str, *, help_suffix: str = "", **overrides: Any) -> Decorator:
    """The click option of a setting of :mod:`nnbackend.training.settings`: its flag,
    type and range, default and help, all from the table.

    The parameter keeps the setting's library name (``--lr`` fills ``learning_rate``), so
    a command passes its values on without renaming them.
    """
    setting = SETTINGS[name]
    assert setting.flag is not None, f"{name} has no command-line flag"
    needs = ("" if setting.requires is None
             else f" Only with {SettingError(setting.requires.text).spelled(flag)}.")
    kwargs: dict[str, Any] = {"default": setting.default,
                              "help": setting.help + needs + help_suffix,
                              "show_default": setting.default is not None}
    if setting.kind is bool:
        kwargs.update(is_flag=True, show_default=False)
    elif setting.choices is not None:
        kwargs["type"] = click.Choice(setting.choices)
    elif setting.kind in (int, float):
        kwargs["type"] = setting_type(setting)
    elif setting.kind is tuple:  # layer sizes: "20,7,5"
        kwargs.update(default=",".join(map(str, setting.default)), callback=parse_layers)
    kwargs.update(overrides)
    return click.option(setting.flag, name, **kwargs)


device_options = stack(
    setting_option("device", envvar="NNBACKEND_DEVICE", show_envvar=True,
                   help_suffix=" The environment variable sets another default, e.g. "
                               "NNBACKEND_DEVICE=cpu on a GPU machine."),
    setting_option("backend"),
    setting_option("dtype"),
    click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=None,
                 help="Limit BLAS/OpenMP and PyTorch CPU threads to N (default: one per "
                      "core). On a busy 2-core machine 1 thread can be much faster for "
                      "small networks. Needs threadpoolctl: pip install "
                      "threadpoolctl."),
)

data_options = stack(
    click.option("--data", default="flower", show_default=True,
                 help=f"A built-in set ({', '.join(DATASETS)}; see 'nnbackend datasets') "
                      "or a file: .csv with a header row, .npz with X and y, or .npy "
                      "features with their labels file."),
    setting_option("task"),
)


def architecture_options(init: str | None = None) -> Decorator:
    """``--layers``, ``--hidden-activation``, ``--init`` (default: the table's, or
    ``init``), ``--init-scale`` and ``--seed``."""
    return stack(
        setting_option("layers"),
        setting_option("hidden_activation"),
        setting_option("init", **({} if init is None else {"default": init})),
        setting_option("init_scale"),
        setting_option("seed"),
    )


#: Generator options of built-in sets, shared by every command that reads data: draw a
#: fresh test set (another --data-seed) or the one a model was trained on.
generator_options = stack(
    click.option("--n-samples", type=click.IntRange(min=1), default=None,
                 help="Built-in generators: number of examples."),
    click.option("--noise", type=FiniteFloatRange(min=0), default=None,
                 help="Built-in generators: noise level."),
    click.option("--n-classes", type=click.IntRange(min=2), default=None,
                 help="Built-in blobs, spiral, gaussian-quantiles: number of classes."),
    click.option("--data-seed", type=click.IntRange(0, SEED_HIGH), default=None,
                 help="Built-in generators: seed of the data (default: the set's own)."),
)

#: Options of built-in generators and files, for the commands that train.
source_options = stack(
    click.option("--target", default=None,
                 help="CSV label column (default: the last column)."),
    generator_options,
    setting_option("standardize"),
)
