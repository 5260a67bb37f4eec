"""What ``nnbackend train`` does when it is told to stop: keep the run, say how to resume it,
exit with the signal's code; and its output, which survives a reader that went away.

A stop signal (SIGTERM, SIGUSR1, SIGHUP, SIGINT: :mod:`nnbackend.training.stops`) ends the
run after the current step, on every rank at the same step. The run is then kept in a
checkpoint: ``--checkpoint``'s, or, without one, :data:`DEFAULT_CHECKPOINT` in the working
directory (``-2``, ``-3``, ... when that name holds another file; where that directory
takes no file, the ``--save`` file's folder or the temporary directory), so that the work
is never lost. One line names it with the command that resumes it, and the process exits
with ``128 + signal number`` (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import NNBackendError
from ..training.callbacks import StopOnInterrupt
from ..training.stops import BROKEN_PIPE, signal_name

#: Where a stopped run without ``--checkpoint`` is kept (in the working directory).
DEFAULT_CHECKPOINT = "nnbackend-checkpoint.npz"


def default_checkpoint(resume_path: str | None, folder: str = "") -> str:
    """The checkpoint a stopped run without ``--checkpoint`` is written to.

    A resumed run continues in the checkpoint it was resumed from. Otherwise
    :data:`DEFAULT_CHECKPOINT` in ``folder`` (default the working directory), or the first
    of ``nnbackend-checkpoint-2.npz``, ``-3``, ... that does not exist: another run's
    checkpoint is never replaced.
    """
    if resume_path:
        return resume_path
    stem, suffix = os.path.splitext(DEFAULT_CHECKPOINT)
    name, number = os.path.join(folder, DEFAULT_CHECKPOINT), 1
    while os.path.lexists(name):
        number += 1
        name = os.path.join(folder, f"{stem}-{number}{suffix}")
    return name


def resume_command(checkpoint: str, ranks: int, command: str = "train") -> str:
    """The command that continues a run kept in ``checkpoint``, under as many ranks
    (``command``: ``train``, or ``sweep``)."""
    if ranks > 1:
        return (f"mpirun -n {ranks} nnbackend {command} --distributed mpi --resume "
                f"{checkpoint}")
    return f"nnbackend {command} --resume {checkpoint}"


def stop_note(stops: StopOnInterrupt) -> str:
    """``SIGTERM`` (or ``closed output``) for the line that says why the run stopped."""
    signum = stops.signum
    if signum is None:
        return "SIGINT"
    return "its output was closed" if signum == BROKEN_PIPE else signal_name(signum)


class Output:
    """The command's printed lines: on stdout (stderr with ``--json``), and on stderr once
    stdout's reader has gone (``nnbackend train | head``), which also stops the run after
    the current step (as SIGPIPE would, but keeping the run).

    Parameters
    ----------
    to_stderr : bool
        Print the lines on stderr (``--json`` keeps stdout for its one object).
    stops : StopOnInterrupt
        Told when stdout closes.
    silent : bool
        Print nothing (the ranks of a data-parallel run other than rank 0).
    """

    def __init__(self, to_stderr: bool, stops: StopOnInterrupt, silent: bool = False) -> None:
        self.to_stderr, self.stops, self.silent = to_stderr, stops, silent
        self.stdout_closed = False

    def say(self, text: str) -> None:
        """Print one line for the user."""
        self._write(text, self.to_stderr)

    def result(self, text: str) -> None:
        """Print the command's result (``--json``'s object) on stdout."""
        self._write(text, False)

    def _write(self, text: str, err: bool) -> None:
        if self.silent:
            return
        if not err and not self.stdout_closed:
            try:
                click.echo(text)
                return
            except BrokenPipeError:
                self._stdout_gone()
        try:
            click.echo(text, err=True)
        except BrokenPipeError:  # stderr has gone too: nobody is reading
            pass

    def _stdout_gone(self) -> None:
        """Stop writing to the closed pipe (Python's own flush at exit included), say so on
        stderr, and stop the run after the current step."""
        self.stdout_closed = True
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (a test's)
            pass
        then = ("the run stops after the current step and is kept; the rest of the output "
                "goes to stderr" if self.stops.running else "the rest of the report goes to "
                "stderr")
        self.stops.request(BROKEN_PIPE)
        try:
            click.echo(f"Note: standard output was closed (its reader ended): {then}",
                       err=True)
        except BrokenPipeError:
            pass


def keep_stopped_run(params: dict[str, Any], save: Callable[[str], Any],
                     say: Callable[[str], None]) -> str | None:
    """Write a stopped run's checkpoint to :func:`default_checkpoint` when the command was
    given no ``--checkpoint``; the path written, or None (saying why it failed).

    Where that cannot be written (a read-only working directory, a full disk), the run is
    kept in the next place that takes it: the ``--save`` file's folder (checked writable
    before the run), then the temporary directory.
    """
    failed: dict[str, str] = {}  # resolved path: why not
    folders = ["", os.path.dirname(params["save_path"] or ""), tempfile.gettempdir()]
    for folder in folders:
        path = default_checkpoint(None if failed else params["resume_path"], folder)
        if str(Path(path).resolve()) in failed:
            continue  # (the --save folder may be the working directory)
        try:
            save(path)
        except (OSError, NNBackendError) as error:
            failed[str(Path(path).resolve())] = str(error)
            continue
        for where, why in failed.items():
            say(f"Note: the stopped run could not be kept in {where} ({why}); it is kept "
                f"in {path} instead")
        return path
    for where, why in failed.items():
        say(f"Error: the stopped run could not be kept in {where}: {why}")
    return None
