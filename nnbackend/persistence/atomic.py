"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Every file nnbackend writes (model files, plots, prediction CSVs) goes through
:func:`atomic_write`: the bytes go to a temporary file in the target's own directory (so
the final rename never crosses file systems), are flushed and fsync'ed, and only then
``os.replace`` puts the file in place in one step. On any failure the temporary file is
removed and an existing target is left exactly as it was.

A process killed outright (SIGKILL, power loss) cannot remove its temporary file. So the
temporary file's name carries its writer's process id (``.NAME.PID.HEX.tmp``) and, on
POSIX, the writer holds an advisory ``flock`` on it while writing: the next write of the
same target removes the temporary files of that target which no live process holds
(:func:`remove_stale_temporaries`). Names without a process id, written by earlier
versions, are removed once they are an hour old.

:func:`exclusive` is the lock for a whole run: two runs that would write one checkpoint
path at the same time are refused, the second in one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import filelock

from ..errors import NNBackendError

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects it
    fcntl = None  # type: ignore[assignment]

#: Age after which a temporary file of an earlier version (no process id) is stale.
LEGACY_TEMP_AGE_S = 3600.0


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
    remove_stale_temporaries(target)
    tmp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as for a plain
        # open(); tempfile.mkstemp would leave every model file readable by its owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # "a live process writes this": see the notes
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


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``target`` that killed writers left behind.

    Only names of this module's pattern for this very target are considered, and of
    those only the ones no live process holds: on POSIX, no ``flock`` on the file and no
    live process with the id in its name; elsewhere, a file the OS lets us delete (an
    open one cannot be). Errors are ignored: cleaning up must never fail a write.

    Returns
    -------
    list of Path
        The files removed.
    """
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)\.)?[0-9a-f]{{12}}\.tmp")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and _remove_if_stale(Path(entry.path), match.group(1)):
            removed.append(Path(entry.path))
    return removed


def _remove_if_stale(tmp: Path, pid: str | None) -> bool:
    try:
        if pid is None and time.time() - tmp.stat().st_mtime < LEGACY_TEMP_AGE_S:
            return False  # an earlier version's writer may still be at work
        if fcntl is None:
            os.unlink(tmp)  # refused while its writer has it open
            return True
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return False
    try:
        # Holding the lock while checking the process id closes the window between a
        # writer's creating the file and locking it: that writer is alive.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if pid is not None and _alive(int(pid)):
            return False
        os.unlink(tmp)
        return True
    except OSError:
        return False  # locked: a live writer
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (POSIX; a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: it exists, under another user
    return True


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the advisory write lock of ``path`` for a block; refuse when another holds it.

    For a run that writes ``path`` repeatedly (checkpoints): a second run on the same
    path, in another process or this one, gets a one-line error instead of silently
    interleaving its writes. The lock is ``filelock``'s (``flock`` on POSIX, an
    exclusive open on Windows) on a file ``.NAME.lock`` beside ``path``; the kernel drops
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
    target = check_writable(path)
    lock_path = target.parent / f".{target.name}.lock"
    lock = filelock.FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise NNBackendError(
            f"{target} is being written by another nnbackend run (lock {lock_path}); wait "
            "for it to finish, or give another path"
        ) from None
    except OSError as exc:
        raise NNBackendError(f"cannot lock {target}: {exc.strerror or exc}; check the "
                             "directory's permissions") from None
    try:
        yield target
    finally:
        lock.release()


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
