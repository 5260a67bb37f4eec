"""scikit-learn style estimators: :class:`NNClassifier` and :class:`NNRegressor`.

    >>> from nnbackend import NNClassifier
    >>> from nnbackend.data.datasets import flower
    >>> X, y = flower()                                   # (400, 2), labels 0/1
    >>> clf = NNClassifier(iterations=2000).fit(X, y)     # the notes' 2-4-1 network
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)

They follow scikit-learn's conventions without importing it: constructor arguments are
stored unmodified and checked in ``fit``, ``fit`` returns ``self``, fitted attributes end
in ``_``, ``get_params``/``set_params`` work, and fitted estimators pickle. With
scikit-learn installed they pass its estimator checks and work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``. To compare many settings of the network itself
(sizes, seeds, learning rates, L2, dropout) on one split, :func:`nnbackend.sweep` trains
them together in stacks, much faster than one ``GridSearchCV`` fit per setting;
``GridSearchCV`` remains the way to cross-validate or tune a whole pipeline.

Arrays in, arrays out: NumPy in gives NumPy out; a CuPy, PyTorch or array-api-strict
array gives outputs in that library, on that device. Unless ``backend`` or ``device`` is
set, such an input also picks the computation backend (its library and device), and a
float32/float64 input picks the dtype. Inputs are validated once on the host in float64
(:func:`nnbackend.data.encoding.check_features`) and then copied to the backend.

Modules: ``parameters`` (the constructor parameters, ``get_params``/``set_params``),
``checks`` (checking them in ``fit``), ``arrays`` (the caller's arrays to the host and
back), ``base`` (fit, predict and pickling, shared), ``persistence`` (the pickled
network), ``exceptions``, ``classifier`` and ``regressor``.
"""

from .classifier import NNClassifier
from .exceptions import DataConversionWarning, NotFittedError
from .regressor import NNRegressor

__all__ = ["DataConversionWarning", "NNClassifier", "NNRegressor", "NotFittedError"]

# The public names live here: pickles and reprs say nnbackend.estimator.NNClassifier,
# as before the package was split, whatever module defines the class.
for _public in (NNClassifier, NNRegressor, NotFittedError, DataConversionWarning):
    _public.__module__ = __name__
del _public
