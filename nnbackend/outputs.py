"""Where an output really goes, and how it is replaced whole.

Every file nnbackend writes (models, checkpoints, predictions, ONNX graphs, plots,
converted ``.npy`` data) goes through :func:`replacing` (a file object) or
:func:`replacing_by_name` (a name, for memory maps), which share these rules:

- **A new regular file** (or an existing one) is written under a temporary name in the
  target's own directory, flushed and fsync'ed, then renamed over the target with
  ``os.replace``: a reader sees the old file or the complete new one, never half. On any
  failure the temporary file is removed and the old target is left as it was. The file
  gets the mode a plain ``open()`` gives (``0666`` less the umask), never ``mkstemp``'s
  ``0600``.
- **A symbolic link** is resolved: its final target is the file replaced (the link stays a
  link).
- **A character device or a FIFO** (``/dev/null``, ``/dev/stdout`` on a terminal or pipe,
  ``mkfifo``) is opened and written through, never renamed over; other special files
  (block devices, sockets) and directories are refused.

:func:`check_writable` applies the same resolution before any long work: the directory
must exist and really accept a new file (a probe creates and removes one, which also
catches what permission bits do not show, such as read-only mounts), and the name must fit
the file system's limit (``NAME_MAX``, 255 bytes on most).

A process killed outright (SIGKILL, power loss) cannot remove its temporary file. So the
temporary name carries its writer's process id (``.NAME.PID.HEX.tmp``, with ``NAME``
shortened and hashed where the whole would pass ``NAME_MAX``) and, on POSIX, the writer
holds an advisory ``flock`` on it while writing: the next write of the same target removes
the temporary files of that target which no live process holds
(:func:`remove_stale_temporaries`). Names without a process id, written by earlier
versions, are removed once they are an hour old.

This module sits below every layer (it needs only :mod:`nnbackend.errors`), so that the
data layer's converter and the persistence layer share it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import NNBackendError

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects it
    fcntl = None  # type: ignore[assignment]

#: Age after which a temporary file of an earlier version (no process id) is stale.
LEGACY_TEMP_AGE_S = 3600.0

#: A file name's limit in bytes where the file system does not say (``NAME_MAX``).
NAME_MAX = 255

#: What a temporary name adds to its stem: ``.`` + ``.PID`` (up to 10 digits) + ``.HEX``
#: (12) + ``.tmp``.
TEMP_OVERHEAD = 1 + 11 + 13 + 4

#: Hex digits of the hash that keeps a shortened stem unique.
STEM_HASH = 16


@dataclass(frozen=True)
class Output:
    """An output path as given, and what writing it means.

    Attributes
    ----------
    path : Path
        The path as the user gave it (messages use it).
    target : Path
        The file written: symbolic links resolved. For a device or FIFO, the path as given
        (opening it follows the links, ``/proc/self/fd/1`` included).
    through : bool
        Written through (a character device, a FIFO), not replaced by a rename.
    """

    path: Path
    target: Path
    through: bool


def resolve_output(path: str | os.PathLike[str]) -> Output:
    """Resolve an output path: follow its links, and say whether it is written through.

    Raises
    ------
    NNBackendError
        An empty path, a directory, a special file other than a character device or FIFO,
        a name too long for the file system, a missing directory (one line each).
    """
    raw = os.fspath(path)
    if not str(raw).strip():
        raise NNBackendError("an output path is empty; give a file name")
    given = Path(raw)
    try:
        mode: int | None = os.stat(given).st_mode  # follows links, as open() does
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _path_error(given, exc) from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise NNBackendError(f"cannot write {given}: it is a directory; give a file name")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return Output(given, given, True)
        raise NNBackendError(f"cannot write {given}: it is a {_kind(mode)}; give a regular "
                             "file")
    target = Path(os.path.realpath(given))
    if mode is not None and not _same_file(given, target):
        # A link that names no reachable path, such as /proc/self/fd/N of a deleted file:
        # only the link itself reaches the file, so write into it.
        return Output(given, given, True)
    limit = name_limit(target.parent)
    if len(os.fsencode(target.name)) > limit:
        raise _long_name(given, target.name, limit)
    if not given.parent.is_dir():
        raise NNBackendError(f"cannot write {given}: the directory {given.parent} does not "
                             "exist; create it first")
    if not target.parent.is_dir():
        raise NNBackendError(f"cannot write {given}: it links to {target}, whose directory "
                             "does not exist; fix the link or create the directory")
    return Output(given, target, False)


def check_writable(path: str | os.PathLike[str], *, by_name: bool = False) -> Path:
    """Refuse, before any long work, an output that could not be written.

    The checks of :func:`resolve_output`, then a real probe: a temporary file of the
    target's temporary-name pattern is created in the directory and removed (permission
    bits do not tell what root may write, nor show a read-only mount). A device or FIFO
    must be writable by this process.

    Parameters
    ----------
    path : path-like
        The output.
    by_name : bool
        The writer needs a regular file it can name (a memory map): refuse devices and
        FIFOs too.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NNBackendError
        One line naming the path, the problem and the fix.
    """
    out = resolve_output(path)
    if out.through:
        if by_name:
            raise _needs_a_file(out)
        if not os.access(out.path, os.W_OK):
            raise NNBackendError(f"cannot write {out.path}: permission denied; give a path "
                                 "you may write")
        return out.path
    probe = out.target.parent / temporary_name(out.target)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise NNBackendError(
            f"cannot write {out.path}: {exc.strerror or exc} in {out.target.parent}; give a "
            "directory you may write, with free space") from None
    _remove(probe)
    return out.path


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` when the block succeeds.

    A device or FIFO is opened and written through instead (what has been written
    stays written). Errors of the OS (permissions, full disk) become one line naming the
    path; other exceptions of the block pass through unchanged, after the clean-up.

    Examples
    --------
    >>> with replacing("model.npz") as fh:  # doctest: +SKIP
    ...     fh.write(data)
    """
    out = resolve_output(path)
    if out.through:
        with _os_errors(out.path):
            # No O_CREAT: should the device have gone since, nothing is created in its
            # place. O_TRUNC only matters for a regular file reached by a /proc link.
            fd = os.open(out.path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0))
            with os.fdopen(fd, "wb") as fh:
                yield _Stream(fh)  # type: ignore[misc]
                fh.flush()
        return
    with _temporary(out) as (_, fd), os.fdopen(os.dup(fd), "wb") as fh:
        yield fh
        fh.flush()


class _Stream(io.RawIOBase):
    """A file written front to back only. ``/dev/null`` claims positions it does not keep
    (``tell()`` is always 0), which breaks writers that seek back, such as ``zipfile``
    under ``np.savez``; without ``seek``/``tell`` they write as to a pipe."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._fh.write(data)


@contextlib.contextmanager
def replacing_by_name(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file's name, renamed onto ``path`` when the block succeeds.

    For writers that need a name (``numpy.lib.format.open_memmap``); the file exists, empty,
    with the normal mode. Devices and FIFOs are refused (see :func:`check_writable`).
    """
    out = resolve_output(path)
    if out.through:
        raise _needs_a_file(out)
    with _temporary(out) as (tmp, _):
        yield tmp


@contextlib.contextmanager
def _temporary(out: Output) -> Iterator[tuple[Path, int]]:
    """Create the temporary file beside ``out.target``, locked; yield its name and
    descriptor; fsync it and rename it onto the target when the block succeeds."""
    target = out.target
    remove_stale_temporaries(target)
    tmp = target.parent / temporary_name(target)
    with _os_errors(out.path):
        # Mode 0o666 lets the umask decide, as a plain open() does.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    open_fd: int | None = fd
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # "a live process writes this": see the notes
        with _os_errors(out.path):
            yield tmp, fd
            os.fsync(fd)  # the file's data, whichever descriptor wrote it
            os.close(fd)  # before the rename: Windows renames no open file
            open_fd = None
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        if open_fd is not None:
            os.close(open_fd)
    _fsync_directory(target.parent)


@contextlib.contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """OS errors inside the block become one line naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _long_name(path, path.name, name_limit(path.parent)) from None
        raise NNBackendError(
            f"cannot write {path}: {exc.strerror or exc}; check the path and free space"
        ) from None


def name_limit(directory: str | os.PathLike[str]) -> int:
    """The longest file name, in bytes, ``directory``'s file system allows."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def temporary_stem(target: Path) -> str:
    """The part of ``target``'s temporary names that names it: the name itself, or, where
    a temporary name would pass ``NAME_MAX``, its start and a hash of the whole."""
    room = name_limit(target.parent) - TEMP_OVERHEAD
    name = target.name
    if len(os.fsencode(name)) <= room:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:STEM_HASH]
    start = name
    while len(os.fsencode(start)) > room - STEM_HASH - 1:
        start = start[:-1]  # by characters, so a multi-byte character is never cut
    return f"{start}~{digest}"


def temporary_name(target: Path) -> str:
    """``.STEM.PID.HEX.tmp``: a fresh temporary name for ``target``, within NAME_MAX."""
    return f".{temporary_stem(target)}.{os.getpid()}.{secrets.token_hex(6)}.tmp"


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
    stem = re.escape(temporary_stem(target))
    pattern = re.compile(rf"\.{stem}\.(?:(\d+)\.)?[0-9a-f]{{12}}\.tmp")
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


def _same_file(given: Path, target: Path) -> bool:
    try:
        return os.path.samefile(given, target)
    except OSError:
        return False


def _kind(mode: int) -> str:
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _path_error(given: Path, exc: OSError) -> NNBackendError:
    """One line for a path ``stat`` refuses (other than a missing file)."""
    if exc.errno == errno.ENAMETOOLONG:
        return _long_name(given, given.name, name_limit(_existing_parent(given)))
    if exc.errno == errno.ENOTDIR:
        return NNBackendError(f"cannot write {given}: a part of it is a file, not a "
                              "directory; give a path in a directory")
    if exc.errno == errno.ELOOP:
        return NNBackendError(f"cannot write {given}: its symbolic links loop; fix the "
                              "links or give another path")
    return NNBackendError(f"cannot write {given}: {exc.strerror or exc}; give a path you may "
                          "write")


def _long_name(given: Path, name: str, limit: int) -> NNBackendError:
    size = len(os.fsencode(name))
    if size <= limit:  # a directory's name, or the whole path, is too long
        return NNBackendError(f"cannot write {_shown(given)}: a name in the path passes the "
                              f"file system's limit of {limit} bytes, or the whole path is "
                              "too long; give a shorter path")
    return NNBackendError(f"cannot write {_shown(given)}: its file name is {size} bytes "
                          f"long, and this file system allows {limit}; give a shorter name")


def _shown(path: Path, keep: int = 80) -> str:
    """A path for a message: long ones elided in the middle, so the line stays readable."""
    text = str(path)
    return text if len(text) <= keep else f"{text[:keep // 2]}...{text[-keep // 2:]}"


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        with contextlib.suppress(OSError):
            if parent.is_dir():
                return parent
    return Path(".")


def _needs_a_file(out: Output) -> NNBackendError:
    return NNBackendError(f"cannot write {out.path}: it is a device or pipe, and this file "
                          "is written by name (memory-mapped); give a regular file")


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
