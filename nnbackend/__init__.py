"""nnbackend: the shallow-network notes' trainer, written once on the Python Array API.

>>> import nnbackend
>>> backend = nnbackend.resolve_backend("cpu")            # or "cuda", "auto"
>>> X, y = nnbackend.load_dataset("flower")               # rows: (400, 2), (400,)
>>> net = nnbackend.Network.create((2, 4, 1), backend)    # tanh hidden, sigmoid output
"""

from ._version import __version__  # noqa: E402
from .core.backend import Backend, cuda_status, host_rng, resolve_backend  # noqa: E402
from .core.network import (  # noqa: E402
    Network,
    backward_propagation,
    compute_cost,
    forward_propagation,
    update_parameters,
)
from .data.datasets import load_dataset  # noqa: E402
from .data.encoding import encode_targets  # noqa: E402
from .errors import NNBackendError  # noqa: E402
from .estimator import NNClassifier, NNRegressor  # noqa: E402
from .model import Model  # noqa: E402
from .model.sweep import SweepResult, sweep  # noqa: E402
from .persistence.models import load_model, save_model  # noqa: E402
from .training.trainer import Trainer, TrainingOptions, accuracy, gradient_descent, train  # noqa: E402

__all__ = [
    "Backend",
    "NNBackendError",
    "NNClassifier",
    "NNRegressor",
    "Model",
    "Network",
    "SweepResult",
    "Trainer",
    "TrainingOptions",
    "__version__",
    "accuracy",
    "backward_propagation",
    "compute_cost",
    "cuda_status",
    "encode_targets",
    "forward_propagation",
    "gradient_descent",
    "host_rng",
    "load_dataset",
    "load_model",
    "resolve_backend",
    "save_model",
    "sweep",
    "train",
    "update_parameters",
]
