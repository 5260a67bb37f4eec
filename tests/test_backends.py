"""The backend selector: names, defaults, and clear errors instead of silent fallbacks."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest

from nnbackend.core.backend import cuda_pick, cuda_status, resolve_backend
from nnbackend.errors import NNBackendError

from .helpers import without_torch_cuda


@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail, as on a machine without it (nor PyTorch CUDA)."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    without_torch_cuda(monkeypatch)


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    """A CuPy that imports but has no driver: getDeviceCount raises CUDARuntimeError."""

    class CUDARuntimeError(RuntimeError):
        pass

    def get_device_count() -> int:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=get_device_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    without_torch_cuda(monkeypatch)


def test_cpu_defaults_to_numpy_float64():
    backend = resolve_backend("cpu")
    assert (backend.name, backend.device_label, backend.dtype_name) == ("numpy", "cpu", "float64")
    assert backend.describe() == "numpy on cpu, float64"
    assert backend.as_dict() == {"backend": "numpy", "device": "cpu", "dtype": "float64"}


def test_auto_picks_cpu_when_cupy_is_missing(no_cupy):
    assert resolve_backend("auto").name == "numpy"


def test_auto_picks_cpu_when_cupy_has_no_device(cupy_without_gpu):
    status = cuda_status()
    assert not status.available
    assert "cudaErrorNoDevice" in status.reason
    assert resolve_backend("auto").name == "numpy"


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cupy_is_an_error_naming_the_fix(no_cupy, device):
    with pytest.raises(NNBackendError) as info:
        resolve_backend(device)
    message = str(info.value)
    assert "CuPy is not installed" in message
    assert "pip install cupy-cuda12x" in message
    assert "or use device cpu" in message  # --device cpu on the command line
    assert "\n" not in message


def test_cuda_with_cupy_but_no_device_is_an_error(cupy_without_gpu):
    with pytest.raises(NNBackendError, match="no usable CUDA driver or device.*or use device cpu"):
        resolve_backend("cuda", "cupy")


@pytest.mark.parametrize(("device", "backend", "match"), [
    ("tpu", "auto", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
    ("cuda:x", "auto", "unknown device"),
    ("cpu", "mxnet", "unknown backend 'mxnet'"),
    ("cuda", "numpy", "numpy backend runs on the CPU only"),
    ("cpu", "cupy", "cupy backend runs on CUDA only"),
    ("device9", "array-api-strict", "array-api-strict has no device 'device9'"),
])
def test_bad_names_are_explained(device, backend, match):
    with pytest.raises(NNBackendError, match=match):
        resolve_backend(device, backend)


def test_unknown_dtype():
    with pytest.raises(NNBackendError, match="unknown dtype 'float16'"):
        resolve_backend("cpu", dtype="float16")


def test_strict_device_without_float64():
    assert resolve_backend("no_float64", "array-api-strict").dtype_name == "float32"
    with pytest.raises(NNBackendError, match="does not support float64; use dtype float32"):
        resolve_backend("no_float64", "array-api-strict", "float64")


@pytest.mark.parametrize(("device", "backend", "python", "command_line"), [
    ("cuda", "numpy", "use backend cupy (or torch) for device cuda, or device cpu",
     "use --backend cupy (or torch) for --device cuda, or --device cpu"),
    ("cpu", "cupy", "use device cuda, or backend numpy", "use --device cuda, or --backend numpy"),
])
def test_backend_refusals_name_each_interfaces_setting(device, backend, python, command_line):
    # Shared by Model, the estimators and the command line: a Python user is not told
    # about --backend, a command-line user is.
    from nnbackend.errors import SettingError
    from nnbackend.training.settings import flag

    with pytest.raises(SettingError) as caught:
        resolve_backend(device, backend)
    assert python in str(caught.value) and "--" not in str(caught.value)
    assert command_line in caught.value.spelled(flag)


def test_strict_devices_and_dtypes():
    backend = resolve_backend("device1", "array-api-strict", "float32")
    assert backend.describe() == "array-api-strict on device1, float32"
    assert resolve_backend("cpu", "array-api-strict").device_label == "cpu"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_cpu_and_missing_cuda():
    import torch

    backend = resolve_backend("cpu", "torch")
    assert backend.describe() == "torch on cpu, float64"
    if not torch.cuda.is_available():
        with pytest.raises(NNBackendError, match="PyTorch can use, but it sees 0"):
            resolve_backend("cuda", "torch")


def test_asarray_casts_on_the_host_and_round_trips(backend):
    x = backend.asarray([[1.5, 2.5]])
    assert x.dtype == backend.dtype
    assert backend.to_host(x).tolist() == [[1.5, 2.5]]
    assert backend.to_float(backend.xp.sum(x)) == 4.0
    assert backend.to_host(backend.zeros((2, 1))).tolist() == [[0.0], [0.0]]


@pytest.mark.gpu
def test_cuda_default_dtype_is_float32():
    status = cuda_status()
    if not status.available:
        pytest.skip(f"no CUDA device: {status.reason}")
    backend = resolve_backend("cuda", "cupy")
    assert (backend.name, backend.device_label, backend.dtype_name) == ("cupy", "cuda:0", "float32")
    picked = cuda_pick()
    assert picked.path is not None and resolve_backend("cuda").name == picked.path.backend


@pytest.fixture
def cupy_with_one_gpu(monkeypatch):
    """A CuPy that reports exactly one CUDA device."""
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    without_torch_cuda(monkeypatch)


@pytest.mark.parametrize("backend", ["auto", "cupy"])
def test_a_gpu_index_past_the_last_is_an_error_naming_the_valid_ones(cupy_with_one_gpu,
                                                                      backend):
    with pytest.raises(NNBackendError) as info:
        resolve_backend("cuda:1", backend)
    assert str(info.value) == ("there is no cuda:1; this machine has 1 CUDA device(s): "
                               "use cuda:0 .. cuda:0")


@pytest.mark.gpu
def test_cuda_n_puts_arrays_and_the_memory_pool_on_gpu_n():
    """``cuda:N`` is the current device, so results and the pool's blocks land there too."""
    status = cuda_status()
    if not status.available:
        pytest.skip(f"no CUDA device: {status.reason}")
    import cupy

    last = status.device_count - 1
    backend = resolve_backend(f"cuda:{last}", "cupy", "float64")
    x = backend.asarray([[1.0, 2.0]])
    y = backend.xp.tanh(x @ x.T)  # a result made by a kernel, not by asarray
    assert x.device.id == y.device.id == last == cupy.cuda.runtime.getDevice()
    assert backend.device_label == f"cuda:{last}"
    with pytest.raises(NNBackendError, match=f"there is no cuda:{status.device_count}"):
        resolve_backend(f"cuda:{status.device_count}", "cupy")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_maximum_with_a_python_scalar_makes_no_tensor(monkeypatch):
    """relu's ``maximum(Z, 0.0)`` must not copy a scalar to the device on every call.

    On CUDA that copy waits for the GPU and cannot be recorded in a CUDA graph.
    """
    import torch

    backend = resolve_backend("cpu", "torch", "float64")
    xp = backend.xp
    Z = torch.tensor([[-1.0, 0.0, 2.0, float("nan")]], dtype=torch.float64)

    def no_new_tensors(*args, **kwargs):
        raise AssertionError("a tensor was made from a Python scalar")

    monkeypatch.setattr(torch, "asarray", no_new_tensors)
    monkeypatch.setattr(torch, "as_tensor", no_new_tensors)
    for got in (xp.maximum(Z, 0.0), xp.maximum(0.0, Z)):
        np.testing.assert_array_equal(got.numpy(), [[0.0, 0.0, 2.0, np.nan]])
    np.testing.assert_array_equal(xp.minimum(Z, 0.0).numpy(), [[-1.0, 0.0, 0.0, np.nan]])
    assert xp.maximum(Z, Z * 0.5).dtype == torch.float64  # two arrays: compat's own


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_names_the_valid_gpus_for_an_index_past_the_last(monkeypatch):
    """As CuPy does: ``cuda:1`` on a one-GPU machine is no reason to install anything."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(NNBackendError) as info:
        resolve_backend("cuda:1", "torch")
    assert str(info.value) == ("there is no cuda:1; this machine has 1 CUDA device(s): "
                               "use cuda:0 .. cuda:0")
