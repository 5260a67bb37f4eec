"""Checkpoints: a model file that also carries everything the training loop changes.

A checkpoint is written with :func:`nnbackend.persistence.models.save_model`, so it is a
valid model file (``nnbackend predict --model checkpoint.npz`` works) and inherits its
guarantees: atomic writes, a SHA-256 checksum, no pickle. On top of the parameters it
stores, as checksummed ``state.*`` arrays, the optimizer's moving averages (``opt.vdW1``,
...), the early-stopping best parameters (``best.W1``, ...), the current epoch's permutation
(``order``), its batch sums so far (``epoch.cost``, ``epoch.hits``) and the host generator's
Mersenne-Twister keys (``rng_keys``); the header's ``extra`` holds the run configuration,
the history and the loop counters.

Resuming restores all of it, so a run killed at any point and resumed from its last
checkpoint ends with the same parameters as an uninterrupted run (bit for bit on NumPy).
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.backend import Backend, host_rng
from ..core.network import Network
from ..errors import NNBackendError
from ..training.trainer import BatchTotals, Trainer, TrainingState
from .models import load_model, load_state, save_model


def save_checkpoint(path: str | os.PathLike[str], trainer: Trainer, run: dict[str, Any],
                    classes: Any = None, standardization: dict[str, Any] | None = None) -> Path:
    """Write the trainer's current state to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The checkpoint file (replaced atomically; an interrupted write keeps the old one).
    trainer : Trainer
        Saved between two steps (from its ``on_step`` callback or after ``run``).
    run : dict
        JSON-ready description of the run (data, architecture, options), needed to rebuild
        the data and the trainer on resume.
    classes, standardization
        As for :func:`nnbackend.persistence.models.save_model`.
    """
    st, backend = trainer.state, trainer.network.backend
    arrays: dict[str, Any] = {f"opt.{name}": backend.to_host(value)
                              for name, value in st.optimizer_state.items() if name != "t"}
    if st.best_params is not None:
        arrays.update({f"best.{name}": backend.to_host(value)
                       for name, value in st.best_params.items()})
    if st.order is not None:
        arrays["order"] = st.order
    totals = st.epoch_totals
    for name, value in (("cost", totals.cost), ("hits", totals.hits)):
        if value is not None:
            arrays[f"epoch.{name}"] = backend.to_host(value)
    kind, keys, position, has_gauss, cached_gaussian = trainer.rng.get_state()
    arrays["rng_keys"] = keys
    counters = {
        "step": st.step, "epoch": st.epoch, "batch_start": st.batch_start,
        "epoch_examples": totals.examples,
        "optimizer_t": st.optimizer_state["t"], "bad_records": st.bad_records,
        "best_cost": None if math.isinf(st.best_cost) else st.best_cost,
        "best_record": st.best_record, "elapsed": st.elapsed,
        "rng": {"kind": kind, "pos": int(position), "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian)},
    }
    current = replace(trainer.network, params=st.params)  # the network holds the old ones
    extra = {"run": run, "history": st.history, "checkpoint": counters}
    return save_model(path, current, extra, classes=classes, standardization=standardization,
                      state=arrays)


def load_checkpoint(path: str | os.PathLike[str], backend: Backend
                    ) -> tuple[Network, dict[str, Any], TrainingState, Any]:
    """Read a checkpoint onto ``backend``.

    Returns
    -------
    network : Network
        With the checkpoint's parameters.
    header : dict
        The model header; ``header["extra"]["run"]`` is the run description.
    state : TrainingState
        To pass to :class:`~nnbackend.training.trainer.Trainer` (``state=``).
    rng : numpy.random.RandomState
        The host generator, exactly where the run left it.

    Raises
    ------
    NNBackendError
        The file is not a checkpoint (e.g. a model saved with ``--save``), or any problem
        :func:`nnbackend.persistence.models.load_model` reports.
    """
    network, header = load_model(path, backend)
    counters = header["extra"].get("checkpoint")
    if not isinstance(counters, dict) or "run" not in header["extra"]:
        raise NNBackendError(f"{path} is a model file, not a checkpoint; resume from a file "
                             "written by --checkpoint")
    _, arrays = load_state(path)
    optimizer_state: dict[str, Any] = {"t": counters["optimizer_t"]}
    best: dict[str, Any] = {}
    totals = BatchTotals(examples=counters.get("epoch_examples", 0))
    for key, value in arrays.items():
        group, _, name = key.partition(".")
        if group == "opt":
            optimizer_state[name] = backend.asarray(value)
        elif group == "best":
            best[name] = backend.asarray(value)
        elif group == "epoch" and name in ("cost", "hits"):
            setattr(totals, name, backend.asarray(value))
    rng = host_rng(None)
    r = counters["rng"]
    rng.set_state((r["kind"], arrays["rng_keys"], r["pos"], r["has_gauss"],
                   r["cached_gaussian"]))
    best_cost = counters["best_cost"]
    state = TrainingState(
        params=network.params, optimizer_state=optimizer_state, step=counters["step"],
        epoch=counters["epoch"], batch_start=counters["batch_start"],
        order=arrays.get("order"), history=list(header["extra"]["history"]),
        epoch_totals=totals,
        best_cost=float("inf") if best_cost is None else best_cost,
        best_params=best or None, best_record=counters["best_record"],
        bad_records=counters["bad_records"], elapsed=counters["elapsed"],
    )
    return network, header, state, rng
