"""The one seam that knows array libraries by name.

``resolve_backend(device, backend, dtype)`` turns the user's strings into a
:class:`Backend`: the standard namespace ``xp`` (through array-api-compat), the device
object, the floating dtype, and the two explicit bridges to the host
(:meth:`Backend.asarray` and :meth:`Backend.to_host`). Everything else in nnbackend takes a
``Backend`` (or just its ``xp``) and never imports numpy, cupy, torch, jax or
array_api_strict.

Rules kept here (docs/ARCHITECTURE.md maps the rest): the namespace and device are
resolved once; CuPy counts as available only when it imports AND reports a CUDA device
(``import cupy`` succeeds on a machine without a GPU), PyTorch only when its build and
the driver see one; ``--backend auto`` on CUDA takes the fastest path installed, by the
measured order of :mod:`.cuda_order`; asking for a device that is not there is an error,
never a silent CPU run; random numbers come from one seeded host generator.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import importlib
import importlib.util
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import NNBackendError, SettingError, literal
from .cuda_order import CudaPath, cuda_order, order_text

BACKENDS = ("auto", "numpy", "cupy", "torch", "array-api-strict", "jax")
DTYPES = ("float32", "float64")
#: The largest seed NumPy's generators take (seeds are 0 to 2**32 - 1).
SEED_HIGH = 2**32 - 1
#: How to install each optional array library, by the names the package index knows
#: (nnbackend's own extras, '.[torch]', install only from its checkout).
INSTALL_HINTS = {"cupy": "pip install cupy-cuda12x (or cupy-cuda13x for CUDA 13)",
                 "torch": "pip install torch",
                 "array-api-strict": "pip install array-api-strict",
                 "jax": "pip install 'jax[cpu]' (NVIDIA GPUs: 'jax[cuda13]'; from "
                        "nnbackend's checkout, its extras '.[jax]' and '.[jax-cuda13]')"}
CUDA_INSTALL_HINT = INSTALL_HINTS["cupy"]
JAX_CUDA_HINT = "'jax[cuda13]' (from nnbackend's checkout, its extra '.[jax-cuda13]')"


@dataclass(frozen=True)
class CudaStatus:
    """Whether CuPy can run here, and if not, why (one line)."""

    available: bool
    device_count: int
    reason: str


#: NumPy's optimizer-update block (see ``Backend.update_block_bytes``). Adam's step on the
#: deep benchmark's 567k float32 parameters, medians of 7 on this project's 2-core machine
#: (2 MiB of L2 per core): 3.34 ms on whole arrays and 2.56 ms in 256 KiB blocks with a
#: cache-evicting pass between steps, as training has; without it, 4.07 ms whole and
#: 3.38, 3.07, 2.99, 3.24 ms in 64, 128, 256, 512 KiB blocks.
NUMPY_UPDATE_BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class GraphCapture:
    """How a backend records a function's device work as a CUDA graph and replays it.

    Attributes
    ----------
    warm_up : callable
        ``warm_up(fn)`` runs ``fn()`` eagerly on a side stream and returns its result: the
        libraries' lazy set-up (kernel loading, BLAS workspaces) must happen before a
        capture, not inside it.
    capture : callable
        ``capture(fn) -> replay`` records ``fn()``'s kernels without running them;
        ``replay()`` runs them, reading and writing the very same memory each time (so
        ``fn`` must leave its results in arrays that outlive it).
    """

    warm_up: Callable[[Callable[[], Any]], Any]
    capture: Callable[[Callable[[], Any]], Callable[[], None]]


@dataclass(frozen=True)
class Staging:
    """Page-locked host buffers and a copy stream: batches uploaded while the GPU computes.

    A CUDA device copies from page-locked ("pinned") host memory asynchronously, on a
    stream of its own, so the next batch travels while the current step runs. Events
    order the two streams. Provided by PyTorch on CUDA; None elsewhere.

    Attributes
    ----------
    pinned : callable
        ``pinned(shape, dtype_name) -> numpy.ndarray`` backed by page-locked memory.
    upload : callable
        ``upload(host, device_array, after) -> event``: copy ``host`` into
        ``device_array`` on the copy stream, once the compute stream's event ``after``
        (or None) has passed; the returned event marks the copy's end.
    compute_waits : callable
        ``compute_waits(event)``: later work on the compute stream waits for it.
    compute_event : callable
        ``compute_event() -> event`` recorded on the compute stream now.
    host_waits : callable
        ``host_waits(event)``: block this (worker) thread until the event has passed.
    """

    pinned: Callable[[tuple[int, ...], str], np.ndarray]
    upload: Callable[[np.ndarray, Any, Any], Any]
    compute_waits: Callable[[Any], None]
    compute_event: Callable[[], Any]
    host_waits: Callable[[Any], None]


#: Why CuPy steps are not captured (``Backend.graph_unavailable``): CuPy 14's cuBLAS
#: bindings raise NotImplementedError ("calling cuBLAS API during stream capture is
#: currently unsupported") for every matrix product inside a capture, seen on an H200.
CUPY_GRAPH_UNAVAILABLE = ("CuPy refuses to record matrix products (cuBLAS calls) in a CUDA "
                          "graph; use --backend torch --device cuda for CUDA graphs")


def _setitem_fill(x: Any, value: float) -> None:
    """``x[...] = value``: the standard's way to fill an array in place."""
    x[...] = value


@dataclass(frozen=True)
class Backend:
    """An array library, a device on it and a floating dtype, resolved once.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"cupy"``, ``"torch"`` or ``"array-api-strict"``.
    xp : module
        The Array API standard namespace (array-api-compat's wrapper, or the library
        itself where it is already compliant).
    device : object
        The library's own device object; arrays are created with ``device=device``.
    dtype : object
        The floating dtype of parameters and data, e.g. ``xp.float64``.
    device_label : str
        The device as the user would write it: ``"cpu"``, ``"cuda:0"``, ``"device1"``.
    update_block_bytes : int or None
        Row-block size for multi-pass optimizer updates (``Optimizer.step``'s
        ``block_bytes``), or None to update whole arrays. Set for NumPy only: its basic
        slices are views, and its element-wise operations run on one core, where a block
        that stays in the L2 cache for all of Adam's passes is faster than whole arrays
        streamed from memory on every pass. CuPy and PyTorch keep whole arrays (one large
        kernel, or one multi-threaded loop, per operation).
    graph_capture : GraphCapture or None
        How to capture a training step as a CUDA graph, where the library can (PyTorch
        on CUDA); None elsewhere.
    graph_unavailable : str
        Why ``graph_capture`` is None, in words a user can act on.
    staging : Staging or None
        Asynchronous uploads from pinned host memory (CUDA backends), for training data
        kept on the host (:mod:`nnbackend.training.streaming`); None where copies are plain.
    auto_reason : str
        Why ``--backend auto`` picked this backend on CUDA (the measured order, see
        :func:`cuda_pick`); empty when the backend was named or the run is on the CPU.
    compute_mode : callable
        A context manager the training loop runs in: ``torch.inference_mode`` for
        PyTorch, whose autograd would otherwise record every operation of the
        hand-written backward pass for nothing (41-98 us per step of the wide benchmark
        on a 2-core CPU); a no-op elsewhere.
    mutable_arrays : bool
        Whether arrays can be written in place (``x[...] = v``, and ``+=`` changing the
        array rather than rebinding the name). False for JAX, whose arrays are immutable:
        the loop then never donates arrays to an update (every update is
        :data:`~nnbackend.core.optimizers.FUNCTIONAL`) and never keeps static arrays.
    setup_note : str
        What nnbackend changed in the library's own configuration to run this backend
        (JAX's ``jax_enable_x64`` for float64), said where the backend is announced;
        empty when nothing was changed.
    """

    name: str
    xp: ModuleType
    device: Any
    dtype: Any
    device_label: str
    dtype_name: str
    _to_host: Callable[[Any], np.ndarray] = field(repr=False, compare=False)
    _synchronize: Callable[[], None] = field(repr=False, compare=False, default=lambda: None)
    update_block_bytes: int | None = field(default=None, compare=False)
    graph_capture: GraphCapture | None = field(default=None, repr=False, compare=False)
    graph_unavailable: str = field(default="CUDA graphs need a CUDA device", compare=False)
    staging: Staging | None = field(default=None, repr=False, compare=False)
    _free_memory: Callable[[], int] | None = field(default=None, repr=False, compare=False)
    compute_mode: Callable[[], Any] = field(default=contextlib.nullcontext, repr=False,
                                            compare=False)
    _fill: Callable[[Any, float], None] = field(default=_setitem_fill, repr=False,
                                                compare=False)
    auto_reason: str = field(default="", compare=False)
    mutable_arrays: bool = field(default=True, compare=False)
    setup_note: str = field(default="", compare=False)
    _compile: Callable[..., Callable[..., Any]] | None = field(default=None, repr=False,
                                                               compare=False)

    @property
    def on_host(self) -> bool:
        """True when the arrays live in host memory (every backend but CUDA devices)."""
        return not self.device_label.startswith("cuda")

    def describe(self) -> str:
        """One line naming backend, device and dtype, e.g. ``numpy on cpu, float64``."""
        return f"{self.name} on {self.device_label}, {self.dtype_name}"

    def as_dict(self) -> dict[str, str]:
        """The backend as JSON-ready strings (``backend``, ``device``, ``dtype``)."""
        return {"backend": self.name, "device": self.device_label, "dtype": self.dtype_name}

    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        """Copy host data onto the device, cast on the host first (one transfer).

        Parameters
        ----------
        host : array_like
            Host data (NumPy array, list, scalar).
        dtype : str, optional
            Name of the target dtype (``"float32"``, ``"int64"``, ...); defaults to the
            backend's floating dtype. The cast happens on the host, so a device without
            float64 never sees a float64 array.
        """
        cast = np.asarray(host, dtype=dtype or self.dtype_name)
        return self.xp.asarray(cast, device=self.device)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        """A zero array of the backend's dtype on its device (made on the host, moved once).

        Going through :meth:`asarray` matters on CuPy, where ``zeros(device=)`` ignores the
        device and uses the current GPU.
        """
        return self.asarray(np.zeros(shape))

    def to_host(self, x: Any) -> np.ndarray:
        """Copy a device array to a NumPy array. Call it only at I/O boundaries.

        Always a copy, never a view of the device array's memory (which NumPy, PyTorch CPU
        and array-api-strict would otherwise share): the training loop updates its own
        arrays in place (donated optimizer steps), and a snapshot must not change.
        """
        return self._to_host(x)

    def to_float(self, x: Any) -> float:
        """Read a 0-d device array as a Python float (a device sync on GPUs)."""
        return float(self._to_host(x))

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings); a no-op on the CPU."""
        self._synchronize()

    def fill(self, x: Any, value: float) -> None:
        """Set every element of the device array ``x`` to the Python float ``value``.

        Without a host-to-device copy: PyTorch's ``x[...] = value`` copies a CPU scalar
        and waits for the device (two waits per Adam step in a graphed run, measured).
        """
        self._fill(x, value)

    @property
    def compiles(self) -> bool:
        """Whether :meth:`compile` can compile a whole function (JAX, under ``jax.jit``)."""
        return self._compile is not None

    def compile(self, fn: Callable[..., Any], *, static: tuple[str, ...] = (),
                donate: tuple[str, ...] = ()) -> Callable[..., Any]:
        """``fn`` compiled whole by the library's compiler: traced once per distinct
        shape of its array arguments and value of its ``static`` ones, then run as one
        compiled program (XLA under ``jax.jit``).

        Parameters
        ----------
        fn : callable
            A pure function of arrays (dicts and tuples of arrays are fine) and hashable
            settings; it must not read values back to the host.
        static : tuple of str
            Names of keyword arguments that are settings, not arrays (hashable; a new
            value means a new compilation).
        donate : tuple of str
            Names of arguments whose arrays the caller will never read again: the
            compiled program may write its results into their memory.

        Raises
        ------
        NNBackendError
            Where the backend has no compiler (see :attr:`compiles`).
        """
        if self._compile is None:
            raise NNBackendError(f"{self.describe()} cannot compile a whole step; use the "
                                 "jax backend, or run the step eagerly")
        return self._compile(fn, static, donate)

    def free_memory(self) -> int | None:
        """Free bytes on the device (GPUs), or None where memory is the host's."""
        return None if self._free_memory is None else int(self._free_memory())


def host_rng(seed: int | None) -> np.random.RandomState:
    """The seeded host generator every random number is drawn from.

    It is NumPy's legacy ``RandomState`` on purpose: ``host_rng(S).randn(n1, n0)`` draws
    exactly what the notes' ``np.random.seed(S); np.random.randn(n1, n0)`` draws, so a run
    can be checked against the notes' own code.

    Raises
    ------
    NNBackendError
        When ``seed`` is not None or an integer from 0 to 2**32 - 1 (NumPy's own error
        would be a bare ValueError).
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= int(seed) <= SEED_HIGH):
        raise NNBackendError(f"seed must be an integer from 0 to {SEED_HIGH} (2**32 - 1) or "
                             f"None, got {seed!r}")
    return np.random.RandomState(seed)



def cuda_status() -> CudaStatus:
    """Ask CuPy whether a CUDA device exists, without ever raising.

    ``import cupy`` succeeds on machines with no GPU; the device count then raises
    ``CUDARuntimeError`` (a ``RuntimeError``). Available means both steps succeed.
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        return CudaStatus(False, 0, f"CuPy is not installed ({exc.msg})")
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError, missing driver library, ...
        return CudaStatus(False, 0, f"CuPy found no usable CUDA driver or device ({exc})")
    if count == 0:
        return CudaStatus(False, 0, "CuPy reports 0 CUDA devices")
    return CudaStatus(True, count, f"CuPy sees {count} CUDA device(s)")


def installed_version(module: str) -> str | None:
    """The version of an importable array library, or None when it does not import."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # ImportError, or a broken install raising something else
        return None


def torch_cuda_status() -> CudaStatus:
    """Ask PyTorch whether it can use a CUDA device, without ever raising.

    ``import torch`` takes seconds, so it is skipped where it cannot help: when PyTorch
    is not installed, or when no NVIDIA driver library loads (a CUDA build of PyTorch
    needs one, and every CPU-only machine lacks it).
    """
    if importlib.util.find_spec("torch") is None:
        return CudaStatus(False, 0, "PyTorch is not installed")
    if not _nvidia_driver_loads():
        return CudaStatus(False, 0, "PyTorch found no NVIDIA driver")
    try:
        import torch

        if torch.version.cuda is None:
            return CudaStatus(False, 0, f"PyTorch {torch.__version__} is a CPU-only build")
        count = int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception as exc:  # a broken install, a driver too old for the build, ...
        return CudaStatus(False, 0, f"PyTorch cannot use CUDA ({exc})")
    if count == 0:
        return CudaStatus(False, 0, "PyTorch sees 0 CUDA devices")
    return CudaStatus(True, count, f"PyTorch sees {count} CUDA device(s)")


def _nvidia_driver_loads() -> bool:
    """True when the CUDA driver library loads (no CUDA call is made)."""
    names = {"linux": ("libcuda.so.1",), "win32": ("nvcuda.dll",)}.get(sys.platform, ())
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


#: What says whether each CUDA path is installed here, by ``--backend`` name. Looked up
#: by name at call time, so tests can stand in for either function.
_CUDA_STATUS = {"cupy": "cuda_status", "torch": "torch_cuda_status"}
#: What to install for each CUDA path.
CUDA_PATH_HINTS = {"cupy": "CuPy (pip install cupy-cuda12x, or cupy-cuda13x for CUDA 13)",
                   "torch": "a CUDA build of PyTorch (pip install torch)"}


def cuda_path_status(path: CudaPath) -> CudaStatus:
    """Whether ``path``'s library can use a CUDA device here."""
    check: Callable[[], CudaStatus] = globals()[_CUDA_STATUS[path.backend]]
    return check()


@dataclass(frozen=True)
class CudaPick:
    """The CUDA backend ``--backend auto`` takes here, and why (see :func:`cuda_pick`)."""

    path: CudaPath | None
    reason: str
    statuses: dict[str, CudaStatus]


def cuda_pick(*, every: bool = False) -> CudaPick:
    """The fastest CUDA path installed here, by the measured order.

    Parameters
    ----------
    every : bool
        Ask every library (for ``nnbackend devices``); otherwise stop at the first that
        can run, so a faster path found first spares importing the others.

    Returns
    -------
    CudaPick
        ``path`` is None when no library can use a CUDA device; ``reason`` then says why
        for each one (:func:`no_cuda_message` adds what to install).
    """
    order = cuda_order()
    statuses: dict[str, CudaStatus] = {}
    chosen: CudaPath | None = None
    for path in order:
        statuses[path.backend] = cuda_path_status(path)
        if statuses[path.backend].available and chosen is None:
            chosen = path
            if not every:
                break
    if chosen is None:
        return CudaPick(None, " and ".join(statuses[p.backend].reason for p in order),
                        statuses)
    reason = f"fastest CUDA path installed, by the order {order_text()}"
    slower = order[:order.index(chosen)]
    reason += "".join(f"; {p.label} would be faster, but {statuses[p.backend].reason}: "
                      f"install {CUDA_PATH_HINTS[p.backend]}" for p in slower)
    return CudaPick(chosen, reason, statuses)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an array library's out-of-memory error: a ``MemoryError``
    (NumPy's; CuPy's ``OutOfMemoryError`` is one) or PyTorch's ``torch.OutOfMemoryError``
    (a ``RuntimeError``). PyTorch is looked up only where it is already imported."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")
    torch_oom = getattr(torch, "OutOfMemoryError", None)
    return isinstance(torch_oom, type) and isinstance(error, torch_oom)


def no_cuda_message(pick: CudaPick) -> str:
    """The one-line error of ``--device cuda --backend auto`` where no CUDA path runs, as a
    :class:`~nnbackend.errors.SettingError` template (``{device}``: ``--device`` on the
    command line, ``device`` in Python)."""
    fixes = " or ".join(CUDA_PATH_HINTS[p.backend] for p in cuda_order())
    return (f"{{device}} cuda needs a CUDA GPU, but {literal(pick.reason)}; install "
            f"{literal(fixes)} on a machine with an NVIDIA driver, or use {{device}} cpu")


def cuda_devices() -> list[dict[str, Any]]:
    """Name and memory of each CUDA device CuPy (or else PyTorch) sees; empty without."""
    status = cuda_status()
    if not status.available:
        return _torch_cuda_devices()
    import cupy

    devices = []
    for index in range(status.device_count):
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        devices.append({"device": f"cuda:{index}", "name": name,
                        "memory_gib": round(props["totalGlobalMem"] / 2**30, 1)})
    return devices


def _torch_cuda_devices() -> list[dict[str, Any]]:
    """The CUDA devices PyTorch sees (where CuPy is missing), as :func:`cuda_devices`."""
    status = torch_cuda_status()
    if not status.available:
        return []
    import torch

    return [{"device": f"cuda:{index}", "name": props.name,
             "memory_gib": round(props.total_memory / 2**30, 1)}
            for index in range(status.device_count)
            for props in [torch.cuda.get_device_properties(index)]]


def auto_choice(pick: CudaPick | None = None) -> tuple[str, str]:
    """What ``--device auto`` picks here and why: ``(backend description, reason)``.

    ``pick`` is :func:`cuda_pick`'s answer when the caller already has it.
    """
    pick = cuda_pick() if pick is None else pick
    if pick.path is not None:
        return f"{pick.path.backend} on cuda:0, float32", pick.reason
    return "numpy on cpu, float64", f"{pick.reason}, so the CPU"


def resolve_backend(
    device: str | None = "auto", backend: str | None = "auto", dtype: str | None = None
) -> Backend:
    """Turn the user's ``--device``, ``--backend`` and ``--dtype`` into a :class:`Backend`.

    Parameters
    ----------
    device : str or None
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; with ``array-api-strict`` also one of its
        test devices (``device1``, ``no_float64``, ...). ``auto`` (or None) means CUDA when
        a CUDA path is installed and sees a device (for ``torch``: when torch sees one),
        else CPU.
    backend : str or None
        ``auto`` (or None: cpu -> numpy; cuda -> the fastest CUDA path installed, by the
        measured order of :mod:`nnbackend.core.cuda_order`, with its reason in
        ``Backend.auto_reason``), ``numpy``, ``cupy``, ``torch``, ``array-api-strict`` or
        ``jax`` (float64 on JAX turns its ``jax_enable_x64`` on: see :func:`_jax_x64`).
    dtype : str or None
        ``float32`` or ``float64``; None picks float64 on CPUs and float32 on CUDA (or on a
        device without float64).

    Raises
    ------
    NNBackendError
        For unknown names (or values that are not strings), a device the library cannot
        use, or CUDA that is not there.
    """
    # None is "not chosen", as in scikit-learn's parameters: the same as "auto".
    device, backend = ("auto" if device is None else device,
                       "auto" if backend is None else backend)
    for name, value in (("device", device), ("backend", backend)):
        if not isinstance(value, str):
            raise NNBackendError(f"{name} must be a name such as 'auto' or 'cpu', not "
                                 f"{type(value).__name__} {value!r}")
    device = device.strip().lower()
    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise NNBackendError(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    if dtype is not None and dtype not in DTYPES:
        raise NNBackendError(f"unknown dtype {dtype!r}; choose float32 or float64")
    if backend == "array-api-strict":
        return _strict_backend(device, dtype)
    kind, index = _parse_device(device)
    if backend == "auto" and kind != "cpu":
        return _auto_cuda_backend(kind, index, dtype)
    if backend == "jax":
        return _jax_backend(kind, index, dtype)
    if backend == "auto":
        backend = "numpy"
    if backend == "numpy":
        if kind == "cuda":
            # Templates (SettingError): the command line says --backend, Python backend.
            raise SettingError(
                "the numpy backend runs on the CPU only; use {backend} cupy (or torch) "
                "for {device} cuda, or {device} cpu"
            )
        return _numpy_backend(dtype)
    if backend == "cupy":
        if kind == "cpu":
            raise SettingError(
                "the cupy backend runs on CUDA only; use {device} cuda, or {backend} numpy "
                "for the CPU"
            )
        return _cupy_backend(index, dtype)
    return _torch_backend(kind, index, dtype)


def _auto_cuda_backend(kind: str, index: int, dtype: str | None) -> Backend:
    """``--backend auto`` on ``cuda`` or ``auto``: the measured order's fastest path here.

    ``--device auto`` falls back to NumPy on the CPU when no path can use a GPU;
    ``--device cuda`` is then an error naming what to install, never a CPU run.
    """
    pick = cuda_pick()
    if pick.path is None:
        if kind == "auto":
            return _numpy_backend(dtype)
        raise SettingError(no_cuda_message(pick))
    make = _cupy_backend if pick.path.backend == "cupy" else functools.partial(
        _torch_backend, "cuda")
    return dataclasses.replace(make(index, dtype), auto_reason=pick.reason)


def _parse_device(device: str) -> tuple[str, int]:
    """Split ``cuda:N`` into ``("cuda", N)``; validate the other names."""
    if device in ("auto", "cpu", "cuda"):
        return device, 0
    # ASCII digits only: str.isdigit is also true for "²", which int() refuses.
    if device.startswith("cuda:") and device[5:].isascii() and device[5:].isdigit():
        return "cuda", int(device[5:])
    raise NNBackendError(
        f"unknown device {device!r}; use auto, cpu, cuda or cuda:N (N = GPU index)"
    )


def _check_dtype(device: Any, dtype: str | None, default: str, *, xp: ModuleType) -> str:
    """Pick the dtype and make sure the device supports it."""
    chosen = dtype or default
    supported = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    if chosen not in supported:
        raise SettingError(
            f"device does not support {chosen}; use {{dtype}} "
            f"{' or '.join(sorted(supported))}"
        )
    return chosen


def _numpy_backend(dtype: str | None) -> Backend:
    import array_api_compat.numpy as xp

    name = _check_dtype("cpu", dtype, "float64", xp=xp)
    return Backend("numpy", xp, "cpu", getattr(xp, name), "cpu", name,
                   lambda x: np.array(x, copy=True),
                   update_block_bytes=NUMPY_UPDATE_BLOCK_BYTES)


def _no_such_gpu(index: int, count: int) -> str:
    """The error for ``cuda:index`` on a machine with ``count`` (> 0) GPUs."""
    return (f"there is no cuda:{index}; this machine has {count} CUDA device(s): use "
            f"cuda:0 .. cuda:{count - 1}")


def _cupy_backend(index: int, dtype: str | None) -> Backend:
    status = cuda_status()
    if not status.available:
        raise SettingError(
            f"{{device}} cuda needs a CUDA GPU, but {literal(status.reason)}; install CuPy "
            f"with {literal(CUDA_INSTALL_HINT)} on a machine with an NVIDIA driver, or use "
            "{device} cpu"
        )
    if index >= status.device_count:
        raise NNBackendError(_no_such_gpu(index, status.device_count))
    import array_api_compat.cupy as xp
    import cupy

    gpu = cupy.cuda.Device(index)
    # CuPy creates arrays (zeros, ones, results) on the *current* GPU, whatever
    # device= says, so the chosen one is made current once, here.
    gpu.use()
    name = _check_dtype(gpu, dtype, "float32", xp=xp)
    return Backend(
        "cupy", xp, gpu, getattr(xp, name), f"cuda:{index}", name,
        cupy.asnumpy, lambda: gpu.synchronize(), graph_unavailable=CUPY_GRAPH_UNAVAILABLE,
        # No asynchronous staging on CuPy: in one GPU test run under load, CuPy steps fed
        # through pinned buffers and a copy stream saw other batches than the device-
        # resident run (not reproduced alone; PyTorch's same path matched). Host data is
        # copied synchronously instead. CuPy's eager steps are host-bound: the staged
        # copies gained nothing measurable there (0.99x the on-device speed with them,
        # wide workload, H200); the synchronous path's GPU speed is not measured yet.
        _free_memory=lambda: cupy.cuda.runtime.memGetInfo()[0]
        + cupy.get_default_memory_pool().free_bytes(),
    )


def _torch_namespace(compat: ModuleType, torch: Any) -> ModuleType:
    """array-api-compat's torch namespace, with ``maximum`` taking Python scalars natively.

    The compat wrapper turns a Python scalar argument of ``maximum``/``minimum`` into a new
    tensor on the other argument's device: on CUDA a host-to-device copy on every call
    (relu's ``maximum(Z, 0.0)``), which waits for the device and cannot be recorded in a
    CUDA graph. ``clamp_min``/``clamp_max`` take the scalar as a kernel argument and give
    the same results, NaN included (6.5 -> 1.9 us per call on a (4, 400) CPU tensor).
    """
    def with_scalars(clamp: Callable[[Any, Any], Any], both_arrays: Callable[[Any, Any], Any]
                     ) -> Callable[[Any, Any], Any]:
        def elementwise(x1: Any, x2: Any, /) -> Any:
            if isinstance(x2, float | int) and isinstance(x1, torch.Tensor):
                return clamp(x1, x2)
            if isinstance(x1, float | int) and isinstance(x2, torch.Tensor):
                return clamp(x2, x1)
            return both_arrays(x1, x2)
        return elementwise

    maximum = with_scalars(torch.clamp_min, compat.maximum)
    minimum = with_scalars(torch.clamp_max, compat.minimum)

    def take(x: Any, indices: Any, /, *, axis: int | None = None) -> Any:
        # compat's take handles negative indices with three extra operations per call;
        # one remainder does it (26 -> 17 us gathering a batch of 256 rows on a CPU).
        if axis is None:
            return compat.take(x, indices)
        return torch.index_select(x, axis, torch.remainder(indices, x.shape[axis]))

    namespace = ModuleType(compat.__name__, compat.__doc__)
    namespace.__dict__.update(vars(compat))
    namespace.__dict__.update(maximum=maximum, minimum=minimum, take=take)
    return namespace


def _torch_backend(kind: str, index: int, dtype: str | None) -> Backend:
    try:
        import array_api_compat.torch as compat
        import torch
    except ImportError as exc:
        raise SettingError(
            f"the torch backend needs PyTorch ({literal(exc.msg)}); install it with "
            f"{literal(INSTALL_HINTS['torch'])}, or use {{backend}} numpy"
        ) from None
    xp = _torch_namespace(compat, torch)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if 0 < count <= index:
            raise NNBackendError(_no_such_gpu(index, count))
        if index >= count:
            raise SettingError(
                f"{{device}} cuda:{index} needs a CUDA GPU that PyTorch can use, but it "
                f"sees {count}; install a CUDA build of PyTorch on a machine with an NVIDIA "
                "driver, or use {device} cpu"
            )
        dev = torch.device("cuda", index)
        label = f"cuda:{index}"

        def sync() -> None:
            torch.cuda.synchronize(dev)

        graphs: GraphCapture | None = _torch_graph_capture(torch, dev)
        staging: Staging | None = _torch_staging(torch, dev)

        def free() -> int:
            return int(torch.cuda.mem_get_info(dev)[0])
    else:
        dev, label, graphs, staging = torch.device("cpu"), "cpu", None, None
        free = None  # type: ignore[assignment]

        def sync() -> None:
            return None

    name = _check_dtype(dev, dtype, "float32" if kind == "cuda" else "float64", xp=xp)
    return Backend(
        "torch", xp, dev, getattr(xp, name), label, name,
        lambda x: np.array(x.detach().cpu().numpy(), copy=True), sync, graph_capture=graphs,
        staging=staging, _free_memory=free, compute_mode=torch.inference_mode,
        _fill=lambda x, value: x.fill_(value),
    )


def _torch_staging(torch: Any, dev: Any) -> Staging:
    """PyTorch's pinned tensors (seen as NumPy arrays), a copy stream and its events."""
    copy_stream = torch.cuda.Stream(dev)

    def pinned(shape: tuple[int, ...], dtype: str) -> np.ndarray:
        # The NumPy view keeps the pinned tensor alive through its base.
        return torch.empty(shape, dtype=getattr(torch, dtype), pin_memory=True).numpy()

    def upload(host: np.ndarray, device_array: Any, after: Any) -> Any:
        with torch.cuda.stream(copy_stream):
            if after is not None:
                copy_stream.wait_event(after)
            device_array.copy_(torch.from_numpy(host), non_blocking=True)
            event = torch.cuda.Event()
            event.record(copy_stream)
        return event

    def compute_event() -> Any:
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(dev))
        return event

    return Staging(
        pinned=pinned, upload=upload,
        compute_waits=lambda event: torch.cuda.current_stream(dev).wait_event(event),
        compute_event=compute_event, host_waits=lambda event: event.synchronize(),
    )


def _torch_graph_capture(torch: Any, dev: Any) -> GraphCapture:
    """PyTorch's CUDA graphs: a side-stream warm-up, then ``torch.cuda.graph`` capture.

    Each captured graph gets its own memory pool from PyTorch, so its intermediate arrays
    keep their addresses for every replay and no eager allocation ever reuses them.
    """

    def warm_up(fn: Callable[[], Any]) -> Any:
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            out = fn()
        torch.cuda.current_stream(dev).wait_stream(side)
        return out

    def capture(fn: Callable[[], Any]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads may go on using CUDA during the capture (the batch
        # stream's worker waits for its copies' events); in the default, global mode any
        # such call invalidates the capture (seen: CUBLAS_STATUS_EXECUTION_FAILED).
        with torch.cuda.device(dev), torch.cuda.graph(graph,
                                                      capture_error_mode="thread_local"):
            fn()
        return graph.replay

    return GraphCapture(warm_up, capture)


def _strict_backend(device: str, dtype: str | None) -> Backend:
    try:
        import array_api_strict as xp
    except ImportError as exc:
        raise NNBackendError(
            f"the array-api-strict backend needs array-api-strict ({exc.msg}); install it "
            f"with {INSTALL_HINTS['array-api-strict']}"
        ) from None
    info = xp.__array_namespace_info__()
    # Device objects only expose their name through repr: Device('device1').
    names = {repr(d).split("'")[1]: d for d in info.devices()}
    if device in ("auto", "cpu"):
        dev, label = info.default_device(), "cpu"
    elif device in names:
        dev, label = names[device], device
    else:
        raise NNBackendError(
            f"array-api-strict has no device {device!r}; use cpu or one of "
            f"{', '.join(n for n in names if n != 'CPU_DEVICE')}"
        )
    supported = info.dtypes(device=dev, kind="real floating")
    name = _check_dtype(dev, dtype, "float64" if "float64" in supported else "float32", xp=xp)
    cpu = info.default_device()
    return Backend(
        "array-api-strict", xp, dev, getattr(xp, name), label, name,
        lambda x: np.array(x.to_device(cpu), copy=True),
    )


#: Values of the ``JAX_ENABLE_X64`` environment variable that turn x64 off on purpose.
_X64_OFF = ("0", "false", "no", "off")


def _jax_x64(jax: Any, dtype: str) -> str:
    """Make ``dtype`` available on JAX; return what was changed (the backend's note).

    JAX computes in 32 bits unless its process-wide ``jax_enable_x64`` is on: a float64
    array would silently come back as float32. float64 (the CPU default, as on every
    backend) therefore turns it on, once, and the backend says so where it is announced.
    It is left alone for float32, and never turned on against a user who turned it off
    on purpose (``JAX_ENABLE_X64=0`` in the environment): that is an error naming both
    fixes. Once on, it stays on for the process (JAX's own rule: its effect on arrays
    already made cannot be undone), which other JAX code in the process sees as 64-bit
    default dtypes.
    """
    if dtype != "float64" or jax.config.jax_enable_x64:
        return ""
    import os

    if os.environ.get("JAX_ENABLE_X64", "").strip().lower() in _X64_OFF:
        raise SettingError(
            "float64 on jax needs jax_enable_x64, which JAX_ENABLE_X64="
            f"{literal(os.environ['JAX_ENABLE_X64'])} turns off; unset it, or use {{dtype}} "
            "float32")
    jax.config.update("jax_enable_x64", True)
    return "jax_enable_x64 turned on for float64"


def _jax_devices(jax: Any, kind: str) -> list[Any]:
    """JAX's devices of ``kind`` (``cpu`` or ``cuda``), empty where it has none."""
    try:
        return list(jax.devices("cpu" if kind == "cpu" else "cuda"))
    except RuntimeError:  # "Unknown backend: 'cuda' requested, but no platforms ..."
        return []


def _jax_backend(kind: str, index: int, dtype: str | None) -> Backend:
    """JAX (``jax.numpy``, itself an Array API namespace) on ``cpu``, ``cuda`` or ``cuda:N``.

    Its arrays are immutable (``mutable_arrays`` False: every update is functional) and
    whole functions compile under ``jax.jit`` (:meth:`Backend.compile`, which the
    training loop uses to run each step as one XLA program).
    """
    try:
        import jax
        import jax.numpy as xp
    except ImportError as exc:
        raise SettingError(
            f"the jax backend needs JAX ({literal(exc.msg)}); install it with "
            f"{literal(INSTALL_HINTS['jax'])}, or use {{backend}} numpy"
        ) from None
    if kind == "auto":
        kind = "cuda" if _jax_devices(jax, "cuda") else "cpu"
    devices = _jax_devices(jax, kind)
    if kind == "cuda" and 0 < len(devices) <= index:
        raise NNBackendError(_no_such_gpu(index, len(devices)))
    if not devices:
        raise SettingError(
            f"{{device}} cuda:{index} needs a CUDA GPU that JAX can use, but it sees none; "
            f"pip install {literal(JAX_CUDA_HINT)} on a "
            "machine with an NVIDIA driver, or use {device} cpu")
    dev = devices[index if kind == "cuda" else 0]
    label = "cpu" if kind == "cpu" else f"cuda:{index}"
    name = dtype or ("float64" if kind == "cpu" else "float32")
    note = _jax_x64(jax, name)
    name = _check_dtype(dev, name, name, xp=xp)

    def synchronize() -> None:
        # JAX runs each device's programs in order: once a trivial one has finished,
        # everything queued before it has too.
        jax.block_until_ready(xp.zeros((), device=dev) + 0)

    def compile_(fn: Callable[..., Any], static: tuple[str, ...], donate: tuple[str, ...]
                 ) -> Callable[..., Any]:
        return jax.jit(fn, static_argnames=static, donate_argnames=donate)

    def free() -> int:
        stats = dev.memory_stats() or {}
        return int(stats.get("bytes_limit", 0)) - int(stats.get("bytes_in_use", 0))

    return Backend(
        "jax", xp, dev, getattr(xp, name), label, name,
        lambda x: np.array(x, copy=True), synchronize, mutable_arrays=False,
        graph_unavailable="JAX arrays are immutable; the jax backend compiles each step "
                          "with XLA instead (jax.jit)",
        _free_memory=None if kind == "cpu" else free, _fill=_immutable_fill,
        setup_note=note, _compile=compile_,
    )


def _immutable_fill(x: Any, value: float) -> None:
    """:meth:`Backend.fill` where arrays cannot be written (JAX)."""
    raise NNBackendError("internal error: an array of an immutable backend (jax) cannot be "
                         "filled in place")
