"""Which models share a stack: a cost model of one training step.

Models of one depth (and one activation, update rule, batch size, task, dtype and data)
*can* share a stack; whether they *should* depends on padding. A stack pads every hidden
layer to its widest model, and on a CPU a padded unit is real work: about 8 ns per unit
and example in float64 (``tanh``, its derivative, the update, the products). A stack
saves the per-step call overhead of the models it merges. So the cost of one step of a
stack of ``k`` models padded to sizes ``w`` on ``m`` examples is estimated as

    overhead + k * m * sum over layers l of  w[l] * (3 * w[l-1] * flop + element)

(three products per layer: forward, ``dW``, ``dA``; ``element`` covers the activation,
its derivative and the element-wise update of one unit), with per-backend constants
(:data:`CPU`, :data:`GPU`). The models' sizes, sorted by their own cost, are cut into
consecutive groups that minimise the summed estimate (a small dynamic programme), so a
CPU keeps widely different sizes apart (the course's 1-5 units together, 20 and 50 each
alone) while a GPU, where padding is nearly free and every call costs launches, puts
them in one stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StepCosts:
    """One backend's estimate of a step's cost, in microseconds.

    Attributes
    ----------
    overhead : float
        Per step of one stack, whatever its size: the ~40 array calls of a step.
    flop : float
        Per multiply-add of a matrix product.
    element : float
        Per hidden or output unit and example (activation, derivative, update).
    """

    overhead: float
    flop: float
    element: float


#: NumPy on this project's 2-core CPU, float64, fitted to single flower runs of 1 to 100
#: hidden units (2026-12-07): 51 us per step of calls, and 7.7 ns per unit and example for
#: everything else (the products' share is ``flop``).
CPU = StepCosts(overhead=50.0, flop=0.0005, element=0.007)
#: A GPU: every step is kernel launches; the arithmetic of shallow networks is nearly free.
GPU = StepCosts(overhead=400.0, flop=0.000001, element=0.00002)


def step_cost(widths: Sequence[int], k: int, m: int, costs: StepCosts) -> float:
    """The estimated cost (us) of one step of ``k`` models padded to ``widths`` on ``m``
    examples."""
    work = sum(widths[l] * (3 * widths[l - 1] * costs.flop + costs.element)
               for l in range(1, len(widths)))  # noqa: E741 -- the notes' layer index
    return costs.overhead + k * m * work


def padded(sizes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The sizes of a stack of models of ``sizes`` (one depth): the widest of each layer."""
    return tuple(max(column) for column in zip(*sizes, strict=True))


def group_sizes(sizes: Sequence[Sequence[int]], m: int, costs: StepCosts,
                max_stack: int | None = None, pad: bool = True) -> list[list[int]]:
    """Cut models of one depth into stacks of least estimated cost.

    Parameters
    ----------
    sizes : sequence of sequences of int
        Each model's ``(n[0], ..., n[L])`` (one depth).
    m : int
        Examples per step (the batch size).
    costs : StepCosts
        The backend's constants (:data:`CPU` or :data:`GPU`).
    max_stack : int, optional
        At most this many models per stack (larger groups are split in order).
    pad : bool
        Whether models of different sizes may share a stack at all (padded). RMSprop and
        Adam divide by the gradients' own size, which can amplify the last-bit
        differences a padded product's longer sums make (docs/math.md): for them each
        size keeps its own stacks, so every model stays its single run.

    Returns
    -------
    list of lists of int
        Indices into ``sizes``, one list per stack, each in the models' own order.
    """
    distinct = sorted(set(tuple(s) for s in sizes),
                      key=lambda s: (step_cost(s, 1, m, costs), s))
    members = {s: [i for i, t in enumerate(sizes) if tuple(t) == s] for s in distinct}
    # best[j]: the least cost of the first j distinct sizes; cut[j]: where its last group
    # starts. A group is consecutive in the sorted order (padding to its widest).
    best, cut = [0.0] + [float("inf")] * len(distinct), [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):
        for i in range(j):
            group = distinct[i:j]
            if not pad and len(group) > 1:
                continue
            k = sum(len(members[s]) for s in group)
            cost = best[i] + step_cost(padded(group), k, m, costs)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    stacks: list[list[int]] = []
    j = len(distinct)
    while j > 0:
        i = cut[j]
        stacks.append(sorted(n for s in distinct[i:j] for n in members[s]))
        j = i
    stacks.reverse()
    if max_stack is None:
        return stacks
    return [stack[start:start + max_stack] for stack in stacks
            for start in range(0, len(stack), max_stack)]
