"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Every file nnbackend writes (model files, plots, prediction CSVs) goes through
:func:`atomic_write`: the bytes go to a temporary file in the target's own directory (so
the final rename never crosses file systems), are flushed and fsync'ed, and only then
``os.replace`` puts the file in place in one step. On any failure the temporary file is
removed and an existing target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import NNBackendError


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically through a callback.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace.
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
        The directory does not exist, the target is a directory, or the OS refuses the
        write (permissions, full disk): one line naming the path. Exceptions raised by
        ``write`` itself pass through unchanged (after the clean-up).
    """
    target = check_writable(path)
    directory = target.parent
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as for a plain
        # open(); tempfile.mkstemp would leave every model file readable by its owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise NNBackendError(
            f"cannot write {target}: {exc.strerror or exc}; check the path and free space"
        ) from None
    except BaseException:
        _remove(tmp)
        raise
    _fsync_directory(directory)
    return target


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Refuse a path in a missing directory, or a directory; call it before long work.

    Raises
    ------
    NNBackendError
        One line naming the path and the fix.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise NNBackendError(
            f"cannot write {target}: the directory {target.parent} does not exist; "
            "create it first"
        )
    if target.is_dir():
        raise NNBackendError(f"cannot write {target}: it is a directory; give a file name")
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, encoded as ``encoding``; newlines as given."""
    return atomic_write_bytes(path, text.encode(encoding))


def _remove(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; not possible (nor needed) on every platform."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
