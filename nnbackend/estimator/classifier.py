"""The scikit-learn style classifier: labels in, class probabilities and labels out."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.encoding import Targets, encode_targets
from ..errors import NNBackendError
from .arrays import from_numpy, host_targets
from .base import Array, NNEstimator
from .exceptions import DataConversionWarning, sklearn_compatible


# A dataclass (eq=False, repr=False as in the base) so that its __init__ is its own: an
# unknown keyword's TypeError names NNClassifier, not the base class of the parameters.
@dataclass(eq=False, repr=False)
class NNClassifier(NNEstimator):
    """A fully-connected network classifier with the notes' math (scikit-learn style).

    Two classes train the notes' sigmoid output with binary cross-entropy; more train a
    softmax output with categorical cross-entropy. Labels may be numbers or strings.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or int, default=(4,)
        ``n[1], ..., n[L-1]``; ``()`` gives logistic regression.
    activation : str, default="tanh"
        Hidden activation: ``tanh``, ``relu``, ``leaky_relu``, ``sigmoid``, ``identity``,
        ``gelu`` (tanh approximation), ``silu``.
    init : str, default="small"
        ``small`` (the notes' ``randn * 0.01``), ``xavier``, ``he`` or ``zeros``.
    learning_rate : float, default=1.2
        The notes' step size for full-batch gradient descent.
    iterations, epochs : int or None, default=None
        Run length, in update steps or passes over the data (not both). Neither: 10000
        iterations, as in the notes.
    batch_size : int or None, default=None
        Examples per step; None is full-batch gradient descent.
    optimizer : str, default="gd"
        ``gd``, ``momentum``, ``rmsprop`` or ``adam``, with ``beta1``, ``beta2``,
        ``epsilon``.
    l2 : float, default=0.0
        L2 regularisation strength ``lambda``.
    keep_prob : float, default=1.0
        Inverted-dropout keep probability of hidden units (1 = off).
    lr_decay, lr_decay_every : float, int, default=0.0, 1
        ``lr = lr0 / (1 + lr_decay * floor(epoch / lr_decay_every))``.
    validation_fraction : float or None, default=None
        Hold out this seeded fraction of ``(X, y)``; its cost is in ``history_``.
    patience : int or None, default=None
        Early stopping: stop after this many records without a better validation cost,
        and keep the best parameters. Needs ``validation_fraction``.
    record_every : int or None, default=None
        Add a record to ``history_`` every N iterations (every N epochs with ``epochs``);
        None: every 1000 iterations, or every epoch. Each record reads the cost from the
        device.
    random_state : int, None or numpy.random.RandomState, default=3
        Seeds initial weights, shuffles, dropout and the validation split.
    device, backend, dtype : str, default="auto", "auto", None
        As in :func:`nnbackend.resolve_backend`. With both ``auto``, a CuPy, PyTorch or
        array-api-strict ``X`` trains on its own library and device; NumPy data uses
        ``auto`` (CUDA when CuPy or PyTorch sees a GPU, else NumPy). ``dtype=None`` follows a
        float32/float64 ``X`` computed in its own library, else the backend's default.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Sorted class labels (NumPy).
    n_features_in_ : int
    n_outputs_ : int
        ``n[L]``: 1 for two classes, else the number of classes.
    network_ : Network
        The trained network; ``backend_`` is the :class:`Backend` it lives on.
    history_ : list of dict
        The training records (cost, accuracy, validation cost, time).
    loss_curve_ : list of float
        The training cost of each record: on all data before that step's update, as the
        notes print it; with ``epochs``, the mean of the epoch's batch costs.
    n_iter_ : int
        Update steps taken.
    stop_reason_ : str
        Why training ended.

    Notes
    -----
    ``predict`` returns labels in the input's library and device when they are numbers;
    string (or other non-numeric) labels are returned as a NumPy array for any input.
    ``predict_proba`` returns shape ``(n_samples, n_classes)`` (``[1 - p, p]`` for two
    classes) in the input's library and device.
    """

    _estimator_type = "classifier"  # how scikit-learn < 1.6 tells classifiers apart
    classes_: np.ndarray = field(init=False)  # fitted; not a parameter

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        """Check the labels and encode them (0/1 for two classes, else one-hot)."""
        labels = host_targets(y, n_samples, type(self).__name__)
        if labels.ndim == 2 and labels.shape[1] == 1:
            warnings.warn(
                sklearn_compatible(DataConversionWarning)(
                    "A column-vector y was passed when a 1d array was expected; pass y "
                    "of shape (n_samples,), e.g. y.ravel()"),
                stacklevel=3,
            )
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise NNBackendError(
                f"{type(self).__name__} needs 1-D labels, got shape {labels.shape}; "
                "multi-output classification is not supported"
            )
        if labels.dtype.kind == "f":
            if not np.isfinite(labels).all():
                raise NNBackendError("labels contain NaN or inf; drop or fix those rows first")
            if not np.all(labels == np.round(labels)):
                raise NNBackendError(
                    "Unknown label type: continuous (non-integer float labels); use "
                    "NNRegressor for real-valued targets"
                )
        try:
            classes = np.unique(labels)
        except TypeError:
            raise NNBackendError(
                "Unknown label type: mixed (e.g. numbers and strings); use labels of one type"
            ) from None
        if classes.size < 2:
            raise NNBackendError(
                f"{type(self).__name__} needs at least two classes, but y has 1 class "
                f"({classes[0]!r})"
            )
        targets = encode_targets(labels, "binary" if classes.size == 2 else "multiclass")
        return targets, {"classes_": targets.classes}

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples, n_classes)
            Columns in the order of ``classes_`` (``[1 - p, p]`` for two classes), in
            X's library and on its device.
        """
        out, origin = self._output_layer(X)
        if self.n_outputs_ == 1:
            out = self.backend_.xp.concat([1.0 - out, out], axis=1)
        return self._to_caller(out, origin)

    def predict(self, X: Any) -> Array:
        """Predicted class labels.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples,)
            Labels from ``classes_``: in X's library and device when they are numbers,
            NumPy otherwise.
        """
        out, origin = self._output_layer(X)
        host = self.backend_.to_host(out)
        index = (host[:, 0] > 0.5).astype(np.int64) if self.n_outputs_ == 1 else (
            np.argmax(host, axis=1))
        return from_numpy(self.classes_[index], origin)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        sample_weight : array_like, shape (n_samples,), optional
        """
        predicted, truth, weights = self._scoring_arrays(X, y, sample_weight)
        truth = truth.reshape(-1)
        return float(np.average(predicted == truth, weights=weights))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(), array_api_support=True)

