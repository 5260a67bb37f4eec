"""Reading ``.npy`` and ``.npz`` files without trusting them: headers first, bounded memory.

A 128-byte ``.npy`` can declare a shape of ``(10**11, 2)``, and a 14 MB ``.npz`` member can
inflate to gigabytes. ``numpy.load`` allocates whatever the header declares before it
reads a byte of data, and lets zipfile's and zlib's exceptions through. Here every array
is read in two steps: the ``.npy`` header (shape, dtype, order) first, then, only if the
declared size is plausible, the data:

* data stored as is (a ``.npy`` file, an uncompressed ``.npz`` member) must actually be
  in the file: a declared size beyond the file's size is refused;
* a compressed ``.npz`` member may not inflate beyond :data:`MAX_INFLATION` times its
  compressed size (past :data:`INFLATION_FLOOR` bytes; deflate's own limit is about
  1032, real data stays far below 100), nor beyond the available memory;
* object arrays are refused (reading them would unpickle).

Every problem is an :class:`ArrayFileError` with a ``kind`` (see there) and a one-line
``detail``; the callers (data files, model files) word it and its fix for their users.
``MemoryError`` is caught here too, as kind ``memory``. A plain ``.npy`` can be
memory-mapped (:func:`load_npy` with ``mmap=True``), so features larger than memory can be
trained on.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

#: Compressed members may inflate at most this many times their stored size ...
MAX_INFLATION = 100
#: ... once they are larger than this (small arrays of zeros compress 1000-fold).
INFLATION_FLOOR = 64 * 2**20
#: Bytes copied per read: bounds the transient memory beside the array itself.
CHUNK = 16 * 2**20

#: What zipfile, zlib and numpy's header parser raise on corrupted or forged input:
#: NotImplementedError (compression method, zip version), RuntimeError ("is encrypted",
#: RecursionError), struct.error (short zip records), SyntaxError and ValueError (the
#: header's Python literal), tokenize.TokenError (NumPy re-tokenizes old headers),
#: KeyError (a member named in one directory but not the other).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError,
    RuntimeError, KeyError, TypeError, IndexError, struct.error, OverflowError, SyntaxError,
    tokenize.TokenError,
)
#: The same, and MemoryError: reading a member whose header asks for more than there is.
READ_OR_MEMORY_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, MemoryError)


class ArrayFileError(Exception):
    """An array that cannot be read; the caller turns it into its own one-line error.

    Attributes
    ----------
    kind : str
        ``corrupted`` (unreadable, forged), ``objects`` (a pickled object array),
        ``truncated`` (the declared data is not all in the file), ``inflates`` (a
        compressed member declares far more than it could hold) or ``memory`` (the
        declared size exceeds the available memory).
    detail : str
        One line saying what was found, without the file's name.
    key : str or None
        The ``.npz`` member, or None for the file as a whole.
    """

    def __init__(self, kind: str, detail: str, key: str | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.key = kind, detail, key


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header declares.

    Attributes
    ----------
    shape : tuple of int
    fortran_order : bool
    dtype : numpy.dtype
    offset : int
        Where the data starts, in bytes from the start of the ``.npy`` content.
    """

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares (Python ints: no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize


def human_bytes(n: int) -> str:
    """``1.6 TB``-style size for messages."""
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Bytes of memory this process may still allocate, or None when unknown.

    The smallest of the kernel's ``MemAvailable``, a cgroup (v2 or v1) limit's headroom
    and an address-space limit's (``ulimit -v``, which some clusters set per job).
    """
    candidates = [_meminfo_available(), _cgroup_headroom(), _address_space_headroom()]
    known = [n for n in candidates if n is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_headroom() -> int | None:
    """``RLIMIT_AS`` less the process's virtual size (``VmSize``), or None without one."""
    try:
        import resource  # (POSIX only)

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        status = Path("/proc/self/status").read_text(encoding="ascii")
        size = int(status.split("VmSize:", 1)[1].split()[0]) * 1024
    except (ImportError, OSError, ValueError, IndexError):
        return None
    return max(limit - size, 0)


def _cgroup_headroom() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        # "max" (v2) or a huge number (v1) mean no limit.
        if limit.isdigit() and int(limit) < 2**60:
            return max(int(limit) - usage, 0)
    return None


def read_npy_header(fh: IO[bytes], key: str | None = None) -> NpyHeader:
    """Read a ``.npy`` header from ``fh`` (left just after it), refusing object arrays.

    Raises
    ------
    ArrayFileError
        ``corrupted`` for a bad magic string, version or header literal; ``objects`` for
        a dtype that holds Python objects.
    """
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ArrayFileError("corrupted", f".npy format version {version} is not "
                                 "supported (1.0 and 2.0 are)", key)
        offset = fh.tell()
    except ArrayFileError:
        raise
    except READ_OR_MEMORY_ERRORS as exc:
        raise ArrayFileError("corrupted", _reason(exc), key) from None
    if dtype.hasobject:
        raise ArrayFileError("objects", "it holds Python objects", key)
    return NpyHeader(tuple(int(n) for n in shape), bool(fortran_order), dtype, offset)


def load_npy(path: str | os.PathLike[str], *, mmap: bool = False) -> np.ndarray:
    """Read a ``.npy`` file whose declared size the file really holds.

    Parameters
    ----------
    path : path-like
    mmap : bool
        Memory-map the data copy-on-write (``numpy.memmap``, mode ``c``) instead of
        reading it: pages are read on use, so data larger than memory works with row
        gathers (``take``); a write changes this process's copy, never the file (and
        PyTorch, which warns about read-only arrays, takes it as it is).

    Returns
    -------
    ndarray
        With the header's shape and dtype (a memmap with ``mmap``).

    Raises
    ------
    ArrayFileError
        As :func:`read_npy_header`; ``truncated`` when the declared data is not all in the
        file, ``memory`` when (read whole) it exceeds the available memory, ``corrupted``
        when reading fails.
    """
    try:
        with open(path, "rb") as fh:
            header = read_npy_header(fh)
            size = os.fstat(fh.fileno()).st_size
            _check_stored(header, size - header.offset, None)
            if mmap and header.nbytes > 0:
                return np.memmap(fh, dtype=header.dtype, mode="c", offset=header.offset,
                                 shape=header.shape,
                                 order="F" if header.fortran_order else "C")
            _check_memory(header, None)
            return _read_data(fh, header, None)
    except ArrayFileError:
        raise
    except MemoryError:
        raise ArrayFileError("memory", "NumPy could not allocate its memory") from None
    except READ_ERRORS as exc:
        raise ArrayFileError("corrupted", _reason(exc)) from None


class NpzArchive:
    """A ``.npz`` archive read member by member, each header before its data.

    Use as a context manager. ``source`` is a path or the archive's bytes.

    Attributes
    ----------
    files : list of str
        Member names without their ``.npy`` suffix, as ``numpy.load`` shows them.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes) -> None:
        try:
            if isinstance(source, bytes):
                self._size = len(source)
                self._zip = zipfile.ZipFile(io.BytesIO(source))
            else:
                self._size = os.path.getsize(source)
                self._zip = zipfile.ZipFile(source)
            self._names = {(name[:-4] if name.endswith(".npy") else name): name
                           for name in self._zip.namelist()}
        except READ_OR_MEMORY_ERRORS as exc:
            raise ArrayFileError("corrupted", _reason(exc)) from None
        self.files = list(self._names)

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()

    def header(self, key: str) -> NpyHeader:
        """The ``.npy`` header of member ``key``, without reading its data."""
        try:
            with self._zip.open(self._names[key]) as fh:
                return read_npy_header(fh, key)
        except ArrayFileError:
            raise
        except READ_OR_MEMORY_ERRORS as exc:
            raise ArrayFileError("corrupted", _reason(exc), key) from None

    def read(self, key: str) -> np.ndarray:
        """Read member ``key`` after checking its declared size (see the module notes).

        Raises
        ------
        ArrayFileError
            Any kind, naming ``key``.
        """
        try:
            info = self._zip.getinfo(self._names[key])
            with self._zip.open(info) as fh:
                header = read_npy_header(fh, key)
                self._check_member(info, header, key)
                array = _read_data(fh, header, key)
                if fh.read(1):  # also runs the zip CRC check, at the member's end
                    raise ArrayFileError("corrupted", "data continues after the array", key)
                return array
        except ArrayFileError:
            raise
        except MemoryError:
            raise ArrayFileError("memory", "NumPy could not allocate its memory", key) from None
        except READ_ERRORS as exc:
            raise ArrayFileError("corrupted", _reason(exc), key) from None

    def _check_member(self, info: zipfile.ZipInfo, header: NpyHeader, key: str) -> None:
        if info.compress_type == zipfile.ZIP_STORED:
            _check_stored(header, min(info.file_size, self._size) - header.offset, key)
        else:
            stored = min(info.compress_size, self._size)
            if header.nbytes > max(MAX_INFLATION * stored, INFLATION_FLOOR):
                raise ArrayFileError(
                    "inflates", f"it declares {_declared(header)}, more than "
                    f"{MAX_INFLATION} times its compressed {human_bytes(stored)}", key)
        _check_memory(header, key)


def _check_stored(header: NpyHeader, room: int, key: str | None) -> None:
    if header.nbytes > max(room, 0):
        raise ArrayFileError(
            "truncated", f"it declares {_declared(header)} but holds only "
            f"{human_bytes(max(room, 0))} of data", key)


def _check_memory(header: NpyHeader, key: str | None) -> None:
    free = available_memory()
    if free is not None and header.nbytes > free:
        raise ArrayFileError(
            "memory", f"it declares {_declared(header)}, more than the "
            f"{human_bytes(free)} of memory available", key)


def _declared(header: NpyHeader) -> str:
    return f"{header.dtype.name} {header.shape} ({human_bytes(header.nbytes)})"


def _read_data(fh: IO[bytes], header: NpyHeader, key: str | None) -> np.ndarray:
    """The header's array from the bytes that follow it, in bounded chunks."""
    buffer = bytearray(header.nbytes)
    view = memoryview(buffer)
    done = 0
    while done < header.nbytes:
        chunk = fh.read(min(CHUNK, header.nbytes - done))
        if not chunk:
            raise ArrayFileError("corrupted", f"the data ends after {done} of "
                                 f"{header.nbytes} bytes", key)
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    if header.dtype.itemsize == 0:
        return np.empty(header.shape, dtype=header.dtype)
    flat = np.frombuffer(buffer, dtype=header.dtype)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def _reason(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
