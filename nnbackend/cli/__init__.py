"""The ``nnbackend`` command line (click).

Errors the user can fix are printed as one line, ``Error: <problem>; <fix>``, with exit
code 2 and no traceback; that holds for click's own usage errors too. Each command lives
in its own module; importing them here registers them on the group.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .._version import __version__
from ..core.backend import is_out_of_memory
from ..errors import NNBackendError, SettingError
from ..training.settings import flag

EXIT_USAGE = 2


class OneLineErrors(click.Group):
    """A click group whose user errors are one line on stderr and exit code 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            code = 0
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "nnbackend"
            click.echo(f"Error: {exc.format_message()} (see '{command} --help')", err=True)
            code = EXIT_USAGE
        except NNBackendError as exc:
            # Library errors name settings; on the command line they are flags.
            message = exc.spelled(flag) if isinstance(exc, SettingError) else str(exc)
            click.echo(f"Error: {message}", err=True)
            code = EXIT_USAGE
        except click.Abort:  # Ctrl-C (before the RuntimeErrors: Abort is one)
            click.echo("Aborted.", err=True)
            code = 130
        except (MemoryError, RuntimeError) as exc:
            # What no estimate foresaw (another process took the memory meanwhile): one
            # line, as for the sizes refused before allocating. PyTorch's is a RuntimeError;
            # any other RuntimeError is a bug and keeps its traceback.
            if not is_out_of_memory(exc):
                raise
            click.echo(f"Error: out of memory ({exc or 'an allocation failed'}); use smaller "
                       "layers, fewer examples or a smaller --batch-size, or free memory",
                       err=True)
            code = EXIT_USAGE
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnbackend")
def cli() -> None:
    """nnbackend: a neural-network trainer written once on the Python Array API.

    The same forward, backward and update code runs on NumPy (CPU), CuPy (CUDA),
    PyTorch and array-api-strict. Its starting point is the shallow-network study notes
    of the Deep Learning Specialization (course 1, week 3, "planar data classification
    with one hidden layer"). Start with:

        nnbackend train

    which trains that 2-layer network (4 tanh units, sigmoid output) on the flower data
    set on the default device. nnbackend --version prints the installed version.
    """


def main() -> None:
    """Console-script entry point."""
    cli()


# Register the commands (imported for their side effect on ``cli``).
from . import convert, devices, evaluate, export, gradcheck, listing, plot, predict, sweep, train  # noqa: E402, F401
