"""Scores computed on the host from predictions: confusion matrix and R^2; a run's
final figures.

Plain NumPy on small host arrays (one value per example), shared by ``Model.evaluate``,
the estimators' ``score``, ``nnbackend evaluate``, and (:func:`final_scores`) the end of
``nnbackend train`` and of each model of a sweep.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.network import Network
from ..training.evaluation import evaluate

#: What ``mse`` means in every report.
MSE_DEFINITION = "mean over examples and targets of (prediction - target)^2"

#: The training loss of each task, as reports name it.
COST_NAMES = {
    "binary": "binary cross-entropy",
    "multiclass": "categorical cross-entropy",
    "regression": "1/(2m) * sum of squared errors",
}


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    true, predicted : ndarray of int, shape (m,)
        Class indices in ``0 .. n_classes - 1``.
    n_classes : int

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
        Rows are true classes, columns predicted ones.
    """
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def r2_score(truth: np.ndarray, predicted: np.ndarray,
             weights: np.ndarray | None = None) -> float:
    """The coefficient of determination, averaged over targets.

    A target that is constant in ``truth`` scores 1 when it is predicted exactly, else 0
    (scikit-learn's convention), instead of dividing by zero.

    Parameters
    ----------
    truth, predicted : ndarray, shape (m,) or (m, k)
    weights : ndarray, shape (m,), optional
        Example weights (all 1 when None).
    """
    m = truth.shape[0]
    truth = np.asarray(truth, dtype=np.float64).reshape(m, -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(m, -1)
    w = np.ones((m, 1)) if weights is None else np.asarray(weights, np.float64).reshape(m, 1)
    residual = np.sum(w * (truth - predicted) ** 2, axis=0)
    mean = np.sum(w * truth, axis=0) / np.sum(w)
    total = np.sum(w * (truth - mean) ** 2, axis=0)
    safe = np.where(total > 0, total, 1.0)
    r2 = np.where(total > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(r2))


def final_scores(network: Network, X: Any, Y: Any, l2: float, host: bool) -> dict[str, float]:
    """The run's final figures on one split: ``cost`` (with the L2 term) and ``accuracy``
    for classifiers, ``r2`` and ``rmse`` (over examples and targets) for regression."""
    cost, accuracy = evaluate(network, network.params, X, Y, l2, host=host)
    if accuracy is not None:
        return {"accuracy": accuracy, "cost": cost}
    backend, m = network.backend, X.shape[0]
    predicted = np.concatenate([  # in slices: host-resident data may exceed the device
        backend.to_host(network.predict_proba(backend.asarray(X[start:start + 65536])))
        for start in range(0, m, 65536)])
    truth = np.asarray(backend.to_host(Y) if not host else Y, dtype=np.float64).T
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    return {"r2": r2_score(truth, predicted), "rmse": rmse, "cost": cost}
