"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Every file nnbackend writes (model files, checkpoints, plots, prediction CSVs, ONNX
graphs) goes through :func:`atomic_write`, a callback over
:func:`nnbackend.outputs.replacing`, which holds the rules: the bytes go to a temporary
file in the final target's own directory (symbolic links resolved; the rename never
crosses file systems), are flushed and fsync'ed, and only then ``os.replace`` puts the file
in place in one step, with the mode a plain ``open()`` gives. A character device or FIFO
(``/dev/null``, a pipe) is written through, never replaced. On any failure the temporary
file is removed and an existing target is left exactly as it was; the temporary files of
killed writers are removed by the next write (:func:`remove_stale_temporaries`).

:func:`exclusive` is the lock for a whole run: two runs that would write one checkpoint
path at the same time are refused, the second in one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import filelock

from ..errors import NNBackendError
from ..outputs import (
    check_writable,
    remove_stale_temporaries,
    replacing,
    resolve_output,
    temporary_stem,
)

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_writable",
           "exclusive", "remove_stale_temporaries"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically through a callback.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace (a link: its final target; a device or FIFO: written
        through).
    write : callable
        ``write(fh)`` writes the whole content to the binary file object ``fh`` (its
        return value is ignored).

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    NNBackendError
        The path is empty, too long, a directory, or in a missing directory, or the OS
        refuses the write (permissions, full disk): one line naming the path. Exceptions raised by
        ``write`` itself pass through unchanged (after the clean-up).
    """
    with replacing(path) as fh:
        write(fh)
    return Path(path)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the advisory write lock of ``path`` for a block; refuse when another holds it.

    For a run that writes ``path`` repeatedly (checkpoints): a second run on the same
    path, in another process or this one, gets a one-line error instead of silently
    interleaving its writes. The lock is ``filelock``'s (``flock`` on POSIX, an
    exclusive open on Windows) on a file ``.NAME.lock`` beside ``path``'s final target
    (links resolved; none for a device or FIFO); the kernel drops
    it when the holder dies, even by SIGKILL. The empty lock file stays, as lock files
    must (deleting it would let two holders lock two different files).

    Parameters
    ----------
    path : path-like
        The file the block will write.

    Yields
    ------
    Path
        ``path``.

    Raises
    ------
    NNBackendError
        Another run holds the lock, or the lock file cannot be created.

    Examples
    --------
    >>> with exclusive("run.npz"):  # doctest: +SKIP
    ...     trainer.run()           # checkpoints written to run.npz
    """
    given = check_writable(path)
    out = resolve_output(given)
    if out.through:  # a device or pipe: written through, nothing to interleave
        yield given
        return
    # Beside the final target, so that two runs reaching one file by different links
    # meet at one lock; its stem is the temporary names' (within NAME_MAX).
    target = out.target
    lock_path = target.parent / f".{temporary_stem(target)}.lock"
    lock = filelock.FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise NNBackendError(
            f"{given} is being written by another nnbackend run (lock {lock_path}); wait "
            "for it to finish, or give another path"
        ) from None
    except OSError as exc:
        raise NNBackendError(f"cannot lock {given}: {exc.strerror or exc}; check the "
                             "directory's permissions") from None
    try:
        yield given
    finally:
        lock.release()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, encoded as ``encoding``; newlines as given."""
    return atomic_write_bytes(path, text.encode(encoding))
