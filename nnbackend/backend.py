"""The one seam that knows array libraries by name.

``resolve_backend(device, backend, dtype)`` turns the user's strings into a
:class:`Backend`: the standard namespace ``xp`` (through array-api-compat), the device
object, the floating dtype, and the two explicit bridges to the host
(:meth:`Backend.asarray` and :meth:`Backend.to_host`). Everything else in nnbackend takes a
``Backend`` (or just its ``xp``) and never imports numpy, cupy, torch or array_api_strict.

Rules kept here (see DESIGN.md): the namespace and device are resolved once; CuPy counts
as available only when it imports AND reports a CUDA device (``import cupy`` succeeds on a
machine without a GPU); asking for a device that is not there is an error, never a silent
CPU run; random numbers come from one seeded host generator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .errors import NNBackendError

BACKENDS = ("auto", "numpy", "cupy", "torch", "array-api-strict")
DTYPES = ("float32", "float64")
CUDA_INSTALL_HINT = "pip install 'nnbackend[cuda12]' (or 'nnbackend[cuda13]' for CUDA 13)"


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


def host_rng(seed: int | None) -> np.random.RandomState:
    """The seeded host generator every random number is drawn from.

    It is NumPy's legacy ``RandomState`` on purpose: ``host_rng(S).randn(n1, n0)`` draws
    exactly what the notes' ``np.random.seed(S); np.random.randn(n1, n0)`` draws, so a run
    can be checked against the notes' own code.
    """
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


def cuda_devices() -> list[dict[str, Any]]:
    """Name and memory of each CUDA device CuPy sees (empty without CuPy or a GPU)."""
    status = cuda_status()
    if not status.available:
        return []
    import cupy

    devices = []
    for index in range(status.device_count):
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        devices.append({"device": f"cuda:{index}", "name": name,
                        "memory_gib": round(props["totalGlobalMem"] / 2**30, 1)})
    return devices


def auto_choice() -> tuple[str, str]:
    """What ``--device auto`` picks here and why: ``(backend description, reason)``."""
    status = cuda_status()
    if status.available:
        return "cupy on cuda:0, float32", status.reason
    return "numpy on cpu, float64", f"{status.reason}, so the CPU"


def resolve_backend(
    device: str = "auto", backend: str = "auto", dtype: str | None = None
) -> Backend:
    """Turn the user's ``--device``, ``--backend`` and ``--dtype`` into a :class:`Backend`.

    Parameters
    ----------
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; with ``array-api-strict`` also one of its
        test devices (``device1``, ``no_float64``, ...). ``auto`` means CUDA when CuPy
        imports and a CUDA device exists (or, for torch, when torch sees one), else CPU.
    backend : str
        ``auto`` (cpu -> numpy, cuda -> cupy), ``numpy``, ``cupy``, ``torch`` or
        ``array-api-strict``.
    dtype : str or None
        ``float32`` or ``float64``; None picks float64 on CPUs and float32 on CUDA (or on a
        device without float64).

    Raises
    ------
    NNBackendError
        For unknown names, a device the library cannot use, or CUDA that is not there.
    """
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
    if backend == "auto":
        if kind == "auto":
            kind = "cuda" if cuda_status().available else "cpu"
        backend = "cupy" if kind == "cuda" else "numpy"
    if backend == "numpy":
        if kind == "cuda":
            raise NNBackendError(
                "the numpy backend runs on the CPU only; use --backend cupy (or torch) "
                "for --device cuda, or --device cpu"
            )
        return _numpy_backend(dtype)
    if backend == "cupy":
        if kind == "cpu":
            raise NNBackendError(
                "the cupy backend runs on CUDA only; use --device cuda, or --backend numpy "
                "for the CPU"
            )
        return _cupy_backend(index, dtype)
    return _torch_backend(kind, index, dtype)


def _parse_device(device: str) -> tuple[str, int]:
    """Split ``cuda:N`` into ``("cuda", N)``; validate the other names."""
    if device in ("auto", "cpu", "cuda"):
        return device, 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return "cuda", int(device[5:])
    raise NNBackendError(
        f"unknown device {device!r}; use auto, cpu, cuda or cuda:N (N = GPU index)"
    )


def _check_dtype(xp: ModuleType, device: Any, dtype: str | None, default: str) -> str:
    """Pick the dtype and make sure the device supports it."""
    chosen = dtype or default
    supported = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    if chosen not in supported:
        raise NNBackendError(
            f"device does not support {chosen}; use --dtype "
            f"{' or '.join(sorted(supported))}"
        )
    return chosen


def _numpy_backend(dtype: str | None) -> Backend:
    import array_api_compat.numpy as xp

    name = _check_dtype(xp, "cpu", dtype, "float64")
    return Backend("numpy", xp, "cpu", getattr(xp, name), "cpu", name,
                   lambda x: np.array(x, copy=True),
                   update_block_bytes=NUMPY_UPDATE_BLOCK_BYTES)


def _cupy_backend(index: int, dtype: str | None) -> Backend:
    status = cuda_status()
    if not status.available:
        raise NNBackendError(
            f"--device cuda needs a CUDA GPU, but {status.reason}; install CuPy with "
            f"{CUDA_INSTALL_HINT} on a machine with an NVIDIA driver, or use --device cpu"
        )
    if index >= status.device_count:
        raise NNBackendError(
            f"there is no cuda:{index}; this machine has {status.device_count} CUDA "
            f"device(s): use cuda:0 .. cuda:{status.device_count - 1}"
        )
    import array_api_compat.cupy as xp
    import cupy

    gpu = cupy.cuda.Device(index)
    # CuPy creates arrays (zeros, ones, results) on the *current* GPU, whatever
    # device= says, so the chosen one is made current once, here.
    gpu.use()
    name = _check_dtype(xp, gpu, dtype, "float32")
    return Backend(
        "cupy", xp, gpu, getattr(xp, name), f"cuda:{index}", name,
        cupy.asnumpy, lambda: gpu.synchronize(),
    )


def _torch_backend(kind: str, index: int, dtype: str | None) -> Backend:
    try:
        import array_api_compat.torch as xp
        import torch
    except ImportError as exc:
        raise NNBackendError(
            f"the torch backend needs PyTorch ({exc.msg}); install it with "
            "pip install 'nnbackend[torch]', or use --backend numpy"
        ) from None
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise NNBackendError(
                f"--device cuda:{index} needs a CUDA GPU that PyTorch can use, but it sees "
                f"{count}; install a CUDA build of PyTorch on a machine with an NVIDIA "
                "driver, or use --device cpu"
            )
        dev = torch.device("cuda", index)
        label = f"cuda:{index}"

        def sync() -> None:
            torch.cuda.synchronize(dev)
    else:
        dev, label = torch.device("cpu"), "cpu"

        def sync() -> None:
            return None

    name = _check_dtype(xp, dev, dtype, "float32" if kind == "cuda" else "float64")
    return Backend(
        "torch", xp, dev, getattr(xp, name), label, name,
        lambda x: np.array(x.detach().cpu().numpy(), copy=True), sync,
    )


def _strict_backend(device: str, dtype: str | None) -> Backend:
    try:
        import array_api_strict as xp
    except ImportError as exc:
        raise NNBackendError(
            f"the array-api-strict backend needs array-api-strict ({exc.msg}); install it "
            "with pip install 'nnbackend[strict]'"
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
    name = _check_dtype(xp, dev, dtype, "float64" if "float64" in supported else "float32")
    cpu = info.default_device()
    return Backend(
        "array-api-strict", xp, dev, getattr(xp, name), label, name,
        lambda x: np.array(x.to_device(cpu), copy=True),
    )
