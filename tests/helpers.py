"""Assertions shared by the test modules."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from nnbackend.core.backend import Backend


def assert_on_backend(x: Any, backend: Backend, dtype: Any = None) -> None:
    """``x`` is in the backend's namespace, on its device, with its (or the given) dtype."""
    # By name: the torch backend's namespace is array-api-compat's with two functions
    # replaced (see nnbackend.core.backend._torch_namespace), a different module object.
    found = array_namespace(x).__name__
    assert found == backend.xp.__name__, f"namespace {found} != {backend.xp.__name__}"
    assert device(x) == backend.device, f"device {device(x)} != {backend.device}"
    expected = backend.dtype if dtype is None else dtype
    assert x.dtype == expected, f"dtype {x.dtype} != {expected}"


def skip_unless_mutable(backend: Backend) -> None:
    """Skip a test of writing into arrays in place (donation, static arrays) where arrays
    cannot be written (JAX): the loop never asks for it there."""
    import pytest

    if not backend.mutable_arrays:
        pytest.skip(f"{backend.name}'s arrays are immutable: nothing is written in place")


def central_difference(f: Any, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Element-wise central difference of an element-wise function ``f`` at ``z``."""
    return (f(z + eps) - f(z - eps)) / (2 * eps)


def tolerance(backend: Backend) -> float:
    """A relative tolerance that fits the backend's dtype."""
    return 1e-10 if backend.dtype_name == "float64" else 2e-4


def stop_runs_after_two_steps(monkeypatch: Any) -> None:
    """Make every training run stop cleanly after its second step (the loop is unchanged),
    so that tests may pass a run length of any size."""
    from nnbackend.training.callbacks import Callback
    from nnbackend.training.trainer import Trainer

    class StopSoon(Callback):
        def on_step(self, trainer: Trainer) -> None:
            if trainer.state.step >= 2:
                trainer.request_stop("test", "stopped after two steps by the test")

    real_run = Trainer.run

    def short_run(self: Trainer) -> Any:
        self.callbacks.append(StopSoon())
        return real_run(self)

    monkeypatch.setattr(Trainer, "run", short_run)


def without_torch_cuda(monkeypatch: Any) -> None:
    """PyTorch cannot use CUDA here, whatever this machine has.

    For tests of what ``--backend auto`` does with CuPy alone: on a GPU machine with a CUDA
    build of PyTorch, the measured order would otherwise pick PyTorch.
    """
    from nnbackend.core import backend as backends
    from nnbackend.core.backend import CudaStatus

    monkeypatch.setattr(backends, "torch_cuda_status",
                        lambda: CudaStatus(False, 0, "PyTorch found no NVIDIA driver"))
