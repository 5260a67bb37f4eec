"""What :class:`NNClassifier` and :class:`NNRegressor` share: fit, predict, pickling.

A subclass encodes its targets (``_encode``) and turns the output layer into its
predictions; everything else, from the input's library to the trained network, is here.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np

from ..core.backend import Backend, resolve_backend
from ..core.network import Network
from ..data.encoding import Targets
from ..data.pipeline import split_and_scale
from ..errors import NNBackendError
from ..model import Model
from ..training.divergence import DivergedError
from ..training.settings import check
from .arrays import (
    Origin,
    device_label,
    from_numpy,
    host_array,
    host_features,
    host_targets,
    origin_of,
)
from .checks import check_hidden_sizes, check_random_state, estimator_wording, training_options
from .exceptions import NotFittedError, sklearn_compatible
from .parameters import EstimatorParameters
from .persistence import model_state, restore_model

Array = Any
E = TypeVar("E", bound="NNEstimator")


class NNEstimator(EstimatorParameters):
    """The fit, predict and pickling machinery of both estimators."""

    _estimator_type: ClassVar[str]
    # Fitted attributes (set by fit; absent before).
    n_features_in_: int
    n_outputs_: int
    model_: Model
    backend_: Backend
    network_: Network
    history_: list[dict[str, Any]]
    loss_curve_: list[float]
    n_iter_: int
    stop_reason_: str

    # -- what a subclass provides --------------------------------------------------------

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        """Encode ``y``; also return the fitted attributes that depend on it."""
        raise NotImplementedError

    def predict(self, X: Any) -> Array:
        """Predictions for ``X``, shape (n_samples, ...), in X's library and device."""
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------------

    def _compute_backend(self, origin: Origin) -> Backend:
        """The backend to train on: the input's library and device unless ``backend`` or
        ``device`` says otherwise; the input's float dtype unless ``dtype`` does."""
        device, backend = check("device", self.device), check("backend", self.backend)
        dtype = check("dtype", self.dtype)
        if (device, backend) == ("auto", "auto") and origin.library in (
                "cupy", "torch", "array-api-strict", "jax"):
            device, backend = device_label(origin), origin.library
        chosen = resolve_backend(device, backend, dtype)
        wanted = origin.dtype_name
        if dtype is None and wanted and chosen.name == origin.library and (
                wanted != chosen.dtype_name):
            chosen = resolve_backend(device, backend, wanted)
        return chosen

    def fit(self: E, X: Any, y: Any) -> E:
        """Train a fresh network on ``(X, y)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Examples as rows: a NumPy, CuPy, PyTorch, JAX or array-api-strict array, or
            anything NumPy can convert.
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or real targets (regressor).

        Returns
        -------
        self
        """
        origin = origin_of(X)
        features = host_features(X, origin)
        targets, fitted = self._encode(y, features.shape[0])
        hidden = check_hidden_sizes(self.hidden_layer_sizes)
        generator, seed = check_random_state(self.random_state)
        with estimator_wording():
            options = training_options(self)
            backend = self._compute_backend(origin)
            model = Model(hidden, hidden_activation=self.activation, init=self.init,
                          init_scale=self.init_scale, seed=generator, backend=backend)
            data = split_and_scale(
                features, targets, standardize=check("standardize", self.standardize),
                validation_fraction=check("validation_fraction", self.validation_fraction),
                split_seed=seed)
            try:
                result = model.fit_prepared(data, options)
            except DivergedError as exc:
                # No NaN model is kept: an earlier fit (if any) stays as it was.
                cause = exc.result.stop_reason.removeprefix("diverged: ").split(";")[0]
                raise DivergedError(
                    f"{type(self).__name__} training diverged ({cause}); lower "
                    "learning_rate, or scale X and y (e.g. with StandardScaler)",
                    exc.result) from None
        network = model._fitted()
        self.n_features_in_ = features.shape[1]
        self.n_outputs_ = targets.n_outputs
        self.model_ = model
        self.backend_ = backend
        self.network_ = network
        self.history_ = result.history
        self.loss_curve_ = [record["cost"] for record in result.history]
        self.n_iter_ = result.steps
        self.stop_reason_ = result.stop_reason
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    # -- predicting ----------------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def _output_layer(self, X: Any) -> tuple[Array, Origin]:
        """``A[L]`` for ``X`` on the backend, shape (n_samples, n[L]), and X's origin."""
        if not hasattr(self, "network_"):
            raise sklearn_compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) "
                "before using it"
            )
        origin = origin_of(X)
        features = host_features(X, origin)
        if features.shape[1] != self.n_features_in_:
            raise NNBackendError(
                f"X has {features.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input; pass the columns "
                "it was fitted on"
            )
        return self.model_.output(features), origin

    def _to_caller(self, out: Array, origin: Origin) -> Array:
        """Return a backend array in the caller's library, on its device.

        Moved across libraries or devices, a float result takes the dtype of a
        float32/float64 input (e.g. NumPy float64 in, float32 CuPy run, float64 out).
        """
        backend = self.backend_
        if backend.name == origin.library and backend.device == origin.device:
            return out
        host = backend.to_host(out)
        if origin.dtype_name is not None and host.dtype.kind == "f":
            host = host.astype(origin.dtype_name, copy=False)
        return from_numpy(host, origin)

    def _scoring_arrays(self, X: Any, y: Any, sample_weight: Any = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``predict(X)``, ``y`` and ``sample_weight`` (or None) as host arrays.

        Returns
        -------
        predicted : ndarray, shape (n_samples,) or (n_samples, n_outputs)
        truth : ndarray, shape (n_samples,) or (n_samples, n_outputs)
            ``y`` in its own dtype.
        weights : ndarray, shape (n_samples,), or None
        """
        predicted = host_array(self.predict(X))
        n = predicted.shape[0]
        truth = host_targets(y, n, type(self).__name__)
        weights = None if sample_weight is None else host_targets(sample_weight, n, "score")
        return predicted, truth, weights

    # -- pickling ------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        state.pop("network_", None), state.pop("backend_", None)
        if model is not None:
            state["_model_state"] = model_state(model)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_model_state", None)
        self.__dict__.update(state)
        if saved is not None:
            self.model_ = restore_model(saved, type(self).__name__)
            self.backend_, self.network_ = self.model_.backend, self.model_._fitted()
