"""The scikit-learn style regressor: real targets in, real predictions out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.encoding import Targets, encode_targets
from ..errors import NNBackendError
from ..model.scores import r2_score
from ..training.settings import REGRESSOR_LEARNING_RATE
from .arrays import host_targets
from .base import Array, NNEstimator
from .checks import estimator_wording


# A dataclass so that re-declaring learning_rate below gives NNRegressor an __init__
# (and so a get_params signature) of its own; eq=False, repr=False as in the base.
@dataclass(eq=False, repr=False)
class NNRegressor(NNEstimator):
    """A fully-connected network regressor with the notes' math (scikit-learn style).

    The output layer is the identity with the mean squared error
    ``J = 1/(2m) * sum((A - Y)**2)``, so ``dZ[L] = A[L] - Y`` as in the notes.
    Scale the targets (and the features) to about unit size: the default learning rate
    assumes it.

    Parameters
    ----------
    hidden_layer_sizes, activation, init, iterations, epochs, batch_size, optimizer, \
beta1, beta2, epsilon, l2, keep_prob, lr_decay, lr_decay_every, validation_fraction, \
patience, record_every, random_state, device, backend, dtype
        As in :class:`NNClassifier`.
    learning_rate : float, default=0.1
        Step size; smaller than the classifier's because the identity output does not
        saturate.

    Attributes
    ----------
    n_features_in_, n_outputs_, network_, backend_, history_, loss_curve_, n_iter_, \
stop_reason_
        As in :class:`NNClassifier`; ``n_outputs_`` is the number of targets.

    Notes
    -----
    ``y`` of shape ``(n_samples,)`` gives predictions of shape ``(n_samples,)``; a 2-D
    ``y`` gives 2-D predictions. Predictions are in X's library and on its device.
    """

    _estimator_type = "regressor"  # for scikit-learn < 1.6

    # The one parameter whose default differs from the classifier's (see the docstring).
    learning_rate: float = REGRESSOR_LEARNING_RATE
    # Fitted (the ndim of fit's y, so predict returns the same shape); not a parameter.
    _target_ndim: int = field(init=False)

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        """Check the targets and encode them as float64 rows, shape (n_outputs, n_samples)."""
        values = host_targets(y, n_samples, type(self).__name__)
        if values.ndim not in (1, 2):
            raise NNBackendError(f"y must be 1-D or 2-D, got shape {values.shape}")
        # encode_targets converts and checks them; its hint for text targets is the
        # command line's (--task), reworded for estimator users.
        with estimator_wording():
            targets = encode_targets(values.reshape(n_samples, -1), "regression")
        return targets, {"_target_ndim": values.ndim}

    def predict(self, X: Any) -> Array:
        """Predicted targets.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples,) or (n_samples, n_outputs)
            1-D when ``fit`` was given a 1-D ``y``; in X's library and on its device.
        """
        out, origin = self._output_layer(X)
        if self._target_ndim == 1:
            out = out[:, 0]
        return self._to_caller(out, origin)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination ``R^2`` of ``predict(X)`` (averaged over outputs).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like, shape (n_samples,), optional
        """
        predicted, truth, weights = self._scoring_arrays(X, y, sample_weight)
        return r2_score(truth, predicted, weights)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=True),
                    regressor_tags=RegressorTags(), array_api_support=True)
