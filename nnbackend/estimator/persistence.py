"""A fitted network as plain host data for pickling, and back.

A :class:`Backend` holds a module and closures, which do not pickle: the state names
the backend and keeps the parameters as NumPy arrays, and loading rebuilds both.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..core.activations import get_hidden_activation
from ..core.backend import resolve_backend
from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..errors import NNBackendError
from ..model import Model


def model_state(model: Model) -> dict[str, Any]:
    """What :func:`restore_model` needs: the backend by name, host parameters, the
    classes and the standardisation."""
    network, backend = model._fitted(), model.backend
    return {
        "backend": backend.as_dict(),
        "classes": None if model.classes is None else model.classes.tolist(),
        "standardization": model.standardization,
        "layer_sizes": network.layer_sizes,
        "activation": network.hidden.name,
        "task": network.output.task,
        "params": {k: backend.to_host(v) for k, v in network.params.items()},
    }


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
    params = {k: backend.asarray(v) for k, v in saved["params"].items()}
    network = Network(tuple(saved["layer_sizes"]), get_hidden_activation(saved["activation"]),
                      OUTPUT_LAYERS[saved["task"]], backend, params)
    return Model.from_network(network, classes=saved.get("classes"),
                              standardization=saved.get("standardization"))
