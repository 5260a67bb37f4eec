"""How often a run records, whatever it prints.

The command line records a run's history (and so its loss curve, its log file and its
early stopping) at a fine, fixed cadence, and prints a subset of those records: every
``--print-every`` iterations or epochs. A record costs a read to the host (a GPU sync)
and, for iteration runs, one forward pass over the training data, so the cadence gives
each run about :data:`RECORDS_PER_RUN` records at most, never one per iteration finer
than :data:`FINEST_ITERATIONS`:

- a run of 10,000 iterations printed every 1000 records every 20 iterations (501
  records; about 2% of the flower run's time);
- a run of 40 epochs printed every 10 records every epoch (40 records);
- a run of 300 iterations printed every 100 records every 10 (30 records).

Every printed record is one of them: the record interval divides the print interval.
"""

from __future__ import annotations

import math

#: Records a run makes at most (about: the printed ones are always among them).
RECORDS_PER_RUN = 500
#: Iteration runs record at most every this many iterations (a forward pass each).
FINEST_ITERATIONS = 10
#: Printed records per run when --print-every is not given, in epoch runs (every
#: ``ceil(epochs / 10)`` epochs, and the last); iteration runs print every 1000.
PRINTED_RECORDS = 10
#: The notes' print interval, in iterations.
PRINTED_ITERATIONS = 1000


def print_interval(units: int, by_epoch: bool, given: int | None) -> int:
    """Iterations or epochs between printed records: ``given`` (``--print-every``), or
    the notes' 1000 iterations, or about :data:`PRINTED_RECORDS` lines for epoch runs."""
    if given is not None:
        return given
    return max(1, math.ceil(units / PRINTED_RECORDS)) if by_epoch else PRINTED_ITERATIONS


def record_interval(units: int, by_epoch: bool, printed: int) -> int:
    """Iterations or epochs between records, for a run of ``units`` printed every
    ``printed``: the smallest divisor of ``printed`` that gives at most
    :data:`RECORDS_PER_RUN` records (and, for iterations, is at least
    :data:`FINEST_ITERATIONS`), so every printed record is a record."""
    finest = max(1 if by_epoch else FINEST_ITERATIONS, math.ceil(units / RECORDS_PER_RUN))
    if finest >= printed:
        return printed
    return next(d for d in range(finest, printed + 1) if printed % d == 0)
