"""Metrics computed on the device from the output layer and the encoded targets."""

from __future__ import annotations

from typing import Any

Array = Any


def output_accuracy(task: str, A: Array, Y: Array, *, xp: Any) -> Array | None:
    """Fraction of correctly classified examples, a 0-d device array (None for regression);
    for a stack of ``k`` models, one per model, shape ``(k,)``.

    Parameters
    ----------
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    A : array, shape (n[L], m) or (k, n[L], m)
        The output layer ``A[L]``.
    Y : array, shape (n[L], m) or (k, n[L], m)
        Encoded targets: 0/1 (binary) or one-hot (multiclass), shared by the models of a
        stack or per model.
    """
    if task == "binary":
        hits = (A > 0.5) == (Y > 0.5)  # (n[L], m) or (k, n[L], m)
        axes: int | tuple[int, int] = (-2, -1)
    elif task == "multiclass":
        hits = xp.argmax(A, axis=-2) == xp.argmax(Y, axis=-2)  # (m,) or (k, m)
        axes = -1
    else:
        return None
    fraction = xp.astype(hits, A.dtype)
    # One model: the notes' mean of everything; a stack: each model's own mean.
    return xp.mean(fraction, axis=axes) if A.ndim > 2 else xp.mean(fraction)
