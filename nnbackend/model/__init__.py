"""The library's model: a network with its target encoding, standardisation and history.

:class:`Model` (``fit``, ``predict``, ``predict_proba``, ``evaluate``, ``save``, ``load``)
is what the command line and the scikit-learn estimators are built on; ``scores`` holds
the host-side metrics (confusion matrix, R^2) they share.
"""

from .model import Model

__all__ = ["Model"]
