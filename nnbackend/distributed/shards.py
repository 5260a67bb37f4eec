"""Which rows of a batch each rank owns: a contiguous split, uneven where it must be.

Every rank draws the same global permutation (the run's seeded host generator), so a
batch is the same set of rows everywhere; rank ``r`` of ``k`` keeps the ``r``-th contiguous
part of it. Sizes differ by at most one row: the first ``n % k`` ranks own one more.
"""

from __future__ import annotations


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """The half-open range ``[lo, hi)`` of ``n`` items that ``rank`` of ``size`` owns.

    Parameters
    ----------
    n : int
        Items to split (a batch's rows, or a data set's for evaluation).
    rank, size : int
        This rank and the number of ranks (``0 <= rank < size``).

    Returns
    -------
    lo, hi : int
        Empty (``lo == hi``) when ``n < size`` and ``rank >= n``.
    """
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)
