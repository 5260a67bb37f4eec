"""The caller's arrays: where they live, checked copies on the host, and results back.

NumPy in gives NumPy out; a CuPy, PyTorch or array-api-strict array gives outputs in
that library, on that device. Inputs are validated once on the host in float64
(:func:`nnbackend.data.encoding.check_features`); the estimator then copies them to its backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import (
    array_namespace,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_cupy_array,
    is_jax_array,
    is_numpy_array,
    is_pydata_sparse_array,
    is_torch_array,
)
from array_api_compat import device as array_device

from ..data.encoding import check_features
from ..errors import NNBackendError


class _FeatureTypeError(NNBackendError, TypeError):
    """Features that are not numbers (e.g. a dict in an object array)."""


@dataclass(frozen=True)
class Origin:
    """Where the caller's array lives, so that outputs can be put back there.

    ``xp`` is None for NumPy arrays and for anything that is not an array-API array
    (lists, memmaps, data frames): their outputs are NumPy arrays.
    """

    library: str
    xp: Any
    device: Any
    dtype_name: str | None


def origin_of(x: Any) -> Origin:
    """Describe the library, device and floating dtype of ``x``."""
    if is_numpy_array(x) or not is_array_api_obj(x) or is_pydata_sparse_array(x):
        kind = getattr(x, "dtype", None) if is_numpy_array(x) else None
        name = str(kind) if kind in (np.float32, np.float64) else None
        return Origin("numpy", None, "cpu", name)
    xp = array_namespace(x)
    if is_cupy_array(x):
        library = "cupy"
    elif is_torch_array(x):
        library = "torch"
    elif is_jax_array(x):
        library = "jax"
    elif is_array_api_strict_namespace(xp):
        library = "array-api-strict"
    else:
        library = xp.__name__
    dtype_name = next((n for n in ("float32", "float64") if x.dtype == getattr(xp, n)), None)
    return Origin(library, xp, array_device(x), dtype_name)


def device_label(origin: Origin) -> str:
    """The ``device`` string that :func:`resolve_backend` understands for ``origin``."""
    dev = origin.device
    if origin.library == "cupy":
        return f"cuda:{dev.id}"
    if origin.library == "torch":
        return "cpu" if dev.type == "cpu" else f"{dev.type}:{dev.index or 0}"
    if origin.library == "jax":
        return "cpu" if dev.platform == "cpu" else f"cuda:{dev.id}"
    if dev == origin.xp.__array_namespace_info__().default_device():
        return "cpu"
    return repr(dev).split("'")[1]  # array_api_strict.Device('device1') -> device1


def to_numpy(x: Any, origin: Origin) -> Any:
    """A host copy of a device array (anything else is returned as it is)."""
    if origin.xp is None:
        return x
    if origin.library == "cupy":
        return x.get()
    if origin.library == "torch":
        return x.detach().cpu().numpy()
    if origin.library == "array-api-strict":
        return np.asarray(x.to_device(origin.xp.__array_namespace_info__().default_device()))
    return np.asarray(x)


def host_array(x: Any, dtype: Any = None) -> np.ndarray:
    """``x`` from any library or device as a NumPy array (of ``dtype`` when given)."""
    return np.asarray(to_numpy(x, origin_of(x)), dtype=dtype)


def from_numpy(host: np.ndarray, origin: Origin) -> Any:
    """Put a host result in the caller's library and device (labels that are not
    numbers, e.g. strings, stay NumPy)."""
    if origin.xp is None or host.dtype.kind not in "biuf":
        return host
    return origin.xp.asarray(host, device=origin.device)


def host_features(X: Any, origin: Origin) -> np.ndarray:
    """``X`` as a checked float64 host array.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Examples as rows, in any library; ``origin`` is :func:`origin_of` ``(X)``.

    Returns
    -------
    ndarray, shape (n_samples, n_features)

    Raises
    ------
    NNBackendError
        Sparse, complex, empty, ragged, non-numeric or non-finite data (a
        ``TypeError`` too for values that are not numbers at all).
    """
    if X is None:
        raise NNBackendError("X is None; pass the features as a 2-D array (examples as rows)")
    if hasattr(X, "tocsr") or is_pydata_sparse_array(X):
        raise NNBackendError("sparse input is not supported; pass a dense array (X.toarray())")
    try:
        raw = np.asarray(to_numpy(X, origin))
    except ValueError as exc:
        raise NNBackendError(f"features must be a 2-D array of numbers ({exc})") from None
    if raw.dtype.kind == "c":
        raise NNBackendError("Complex data not supported; pass real-valued features")
    if raw.ndim != 2:
        raise NNBackendError(
            f"features must be a 2-D array (examples as rows), got shape {raw.shape}. Reshape "
            "your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one example"
        )
    if 0 in raw.shape:
        what = "sample(s)" if raw.shape[0] == 0 else "feature(s)"
        raise NNBackendError(
            f"Found array with 0 {what} (shape={raw.shape}) while a minimum of 1 is required."
        )
    try:
        values = raw.astype(np.float64)
    except TypeError as exc:
        raise _FeatureTypeError(f"features must be numbers: {exc}") from None
    except ValueError as exc:
        raise NNBackendError(
            f"features must be numbers ({exc}); encode text or categories as numbers first"
        ) from None
    return check_features(values)


def host_targets(y: Any, n_samples: int, owner: str) -> np.ndarray:
    """``y`` as a host array with one entry (or row) per example.

    Parameters
    ----------
    y : array_like, shape (n_samples,) or (n_samples, ...)
        Labels, targets or sample weights, in any library.
    n_samples : int
        The number of examples ``y`` must have.
    owner : str
        Who needs ``y``, for the error when it is None.

    Returns
    -------
    ndarray, shape (n_samples,) or (n_samples, ...)
        In ``y``'s own dtype; the caller converts it.
    """
    if y is None:
        raise NNBackendError(f"{owner} requires y to be passed, but the target y is None")
    if hasattr(y, "tocsr") or is_pydata_sparse_array(y):
        raise NNBackendError("sparse targets are not supported; pass a dense array")
    try:
        values = host_array(y)
    except ValueError as exc:
        raise NNBackendError(f"y must be a 1-D array of targets ({exc})") from None
    if values.dtype.kind == "c":
        raise NNBackendError("Complex data not supported; pass real-valued targets")
    if values.ndim == 0 or values.shape[0] != n_samples:
        count = 1 if values.ndim == 0 else values.shape[0]
        raise NNBackendError(
            f"X has {n_samples} examples but y has {count}; pass one target per row of X"
        )
    return values
