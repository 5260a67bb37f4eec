"""Metrics computed on the device from the output layer and the encoded targets."""

from __future__ import annotations

from typing import Any

Array = Any


def output_accuracy(task: str, A: Array, Y: Array, *, xp: Any) -> Array | None:
    """Fraction of correctly classified examples, a 0-d device array (None for regression).

    Parameters
    ----------
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    A : array, shape (n[L], m)
        The output layer ``A[L]``.
    Y : array, shape (n[L], m)
        Encoded targets: 0/1 (binary) or one-hot (multiclass).
    """
    if task == "binary":
        hits = (A > 0.5) == (Y > 0.5)
    elif task == "multiclass":
        hits = xp.argmax(A, axis=0) == xp.argmax(Y, axis=0)
    else:
        return None
    return xp.mean(xp.astype(hits, A.dtype))
