"""A hint, before training, when the features are far from unit scale.

Gradient descent with the course's settings (lr 1.2, small initial weights) assumes
features of about unit size: raw pixel values of 0 to 16 (the digits) or a wine's proline
of 1680 saturate tanh units or blow ReLU activations up, and a run can end at chance
without any error. Standardising fixes it, so when it is off and the features are far from
unit scale, the command line prints one hint and ``Model.fit`` warns
(:class:`FeatureScaleWarning`). It is a hint, never an error: some data is right as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: A largest per-feature root-mean-square above this is "far from unit scale" (the digits'
#: 12.9, wine's 810; iris's 5.9 and every generated set stay below).
LARGE = 10.0
#: ... and below this, when it is the largest, too small to move the units.
SMALL = 0.01
#: At most this many rows (evenly spaced) are read to judge: data may be memory-mapped.
SAMPLE_ROWS = 10000


class FeatureScaleWarning(UserWarning):
    """The features are far from unit scale and are not standardised."""


def feature_scale(X: Any) -> float:
    """The largest root-mean-square of a feature column of ``X`` (host rows ``(m, n)``),
    from at most :data:`SAMPLE_ROWS` evenly spaced rows."""
    m = X.shape[0]
    if m == 0 or X.shape[1] == 0:
        return 1.0
    sample = np.asarray(X[::max(1, m // SAMPLE_ROWS)], dtype=np.float64)
    return float(np.sqrt(np.mean(sample * sample, axis=0)).max())


def scale_hint(X: Any, fix: str) -> str | None:
    """One sentence naming the problem and ``fix`` when ``X`` is far from unit scale,
    else None.

    Parameters
    ----------
    X : array, shape (m, n_features)
        Host training features, not standardised.
    fix : str
        How the caller's interface turns standardisation on (``--standardize``,
        ``standardize=True``).
    """
    scale = feature_scale(X)
    # All-zero features carry nothing that scaling could bring out.
    if scale == 0 or SMALL <= scale <= LARGE or not np.isfinite(scale):
        return None
    return (f"the features are far from unit scale (root-mean-square up to {scale:.3g}), "
            f"which can leave training stuck at chance or diverging; add {fix}")
