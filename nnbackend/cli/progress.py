"""A one-line progress bar for terminals: steps done, last recorded cost, rate.

It is drawn on stderr and only when stderr is a terminal, so ``--json`` output and pipes
never see it. It redraws at most ten times a second and shows the cost of the last record
(reading the cost every step would force a device synchronisation).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..training.callbacks import Callback


class ProgressBar(Callback):
    """``[#######-------]  4200/10000 iterations  cost 0.2214  2310 it/s``, as a callback.

    Parameters
    ----------
    total : int
        Steps the run will take at most.
    unit : str
        ``iterations`` or ``steps`` (what ``total`` counts).
    stream : text stream, optional
        Defaults to stderr.
    """

    WIDTH = 24
    INTERVAL = 0.1  # seconds between redraws

    def __init__(self, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.total, self.unit = total, unit
        self.stream = stream or sys.stderr
        self.cost: float | None = None
        self.started = self.last_draw = time.perf_counter()
        self.start_step: int | None = None
        self.shown = False

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        """Draw only on an interactive terminal, and not with ``--quiet``."""
        target = stream or sys.stderr
        return not quiet and hasattr(target, "isatty") and target.isatty()

    def on_step(self, trainer: Any) -> None:
        """Redraw if the interval has passed."""
        now = time.perf_counter()
        step = trainer.state.step
        if self.start_step is None:
            self.start_step = step - 1
        if now - self.last_draw >= self.INTERVAL or step == self.total:
            self.last_draw = now
            self.draw(step, now)

    def on_record(self, trainer: Any, record: dict[str, Any]) -> None:
        """Remember the latest recorded cost."""
        self.cost = record["cost"]

    def on_end(self, trainer: Any, result: Any) -> None:
        """Erase the bar."""
        self.clear()

    def draw(self, step: int, now: float) -> None:
        """Write the bar for ``step`` steps done."""
        filled = int(self.WIDTH * step / max(self.total, 1))
        rate = (step - (self.start_step or 0)) / max(now - self.started, 1e-9)
        cost = "" if self.cost is None else f"  cost {self.cost:.4f}"
        self.stream.write(f"\r[{'#' * filled}{'-' * (self.WIDTH - filled)}] "
                          f"{step}/{self.total} {self.unit}{cost}  {rate:,.0f} it/s\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar (before other output, and at the end)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
