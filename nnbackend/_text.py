"""Small pieces of wording shared by messages at every layer."""

from __future__ import annotations


def count(n: int, noun: str) -> str:
    """``1 feature``, ``3 features``: a number with its noun, plural when it is not 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
