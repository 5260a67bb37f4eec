"""A fitted estimator's model as picklable bytes, and back.

A :class:`Backend` holds a module and closures, which do not pickle: the state keeps the
model as the bytes of its model file (:meth:`Model.to_bytes`, the one serialisation path:
checksummed, never unpickled) and names the backend, and loading rebuilds both.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..core.backend import resolve_backend
from ..errors import NNBackendError
from ..model import Model


def model_state(model: Model) -> dict[str, Any]:
    """What :func:`restore_model` needs: the model file's bytes and the backend by name."""
    return {"backend": model.backend.as_dict(), "model": model.to_bytes()}


def restore_model(saved: dict[str, Any], owner: str) -> Model:
    """Rebuild the model of :func:`model_state`.

    A backend that cannot be used here (a model fitted on a GPU, loaded on a machine
    without one) falls back to NumPy on the CPU, with a ``RuntimeWarning`` that names
    ``owner``.
    """
    try:
        backend = resolve_backend(**saved["backend"])
    except NNBackendError as exc:
        backend = resolve_backend("cpu", "numpy", saved["backend"]["dtype"])
        warnings.warn(f"{owner} was fitted on "
                      f"{saved['backend']['backend']} on {saved['backend']['device']}, "
                      f"which cannot be used here ({exc}); loaded on "
                      f"{backend.describe()}", RuntimeWarning,
                      stacklevel=3)  # past __setstate__: whoever unpickled the model
    return Model.from_bytes(saved["model"], backend=backend)
