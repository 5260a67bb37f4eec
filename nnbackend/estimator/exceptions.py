"""The estimators' own exceptions, which become scikit-learn's too once it is imported."""

from __future__ import annotations

import sys
from typing import TypeVar

from ..errors import NNBackendError

T = TypeVar("T", bound=type)


class NotFittedError(NNBackendError, AttributeError):
    """``predict``, ``predict_proba`` or ``score`` was called before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError``; once scikit-learn is imported, the error raised is also an
    instance of scikit-learn's class.
    """


class DataConversionWarning(UserWarning):
    """A column vector ``y`` of shape ``(n, 1)`` was flattened for a classifier."""


_SKLEARN_TWINS: dict[type, type] = {}


def sklearn_compatible(own: T) -> T:
    """``own``, or a subclass of both ``own`` and ``sklearn.exceptions``' class of its name.

    Raise ``sklearn_compatible(NotFittedError)(...)`` so that code catching
    scikit-learn's class catches ours. scikit-learn is looked up in ``sys.modules`` only,
    never imported: code that catches scikit-learn's class has imported it already.
    """
    theirs = getattr(sys.modules.get("sklearn.exceptions"), own.__name__, None)
    if not isinstance(theirs, type) or issubclass(own, theirs):
        return own
    if own not in _SKLEARN_TWINS:
        qualname = f"_Sklearn{own.__name__}"
        twin = type(own.__name__, (own, theirs),
                    {"__module__": __name__, "__qualname__": qualname, "__doc__": own.__doc__})
        globals()[qualname] = twin  # so that pickle finds it
        _SKLEARN_TWINS[own] = twin
    return _SKLEARN_TWINS[own]  # type: ignore[return-value]
