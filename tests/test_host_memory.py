"""glibc's malloc thresholds: set once per process when training starts, never against the
user's own settings, and they stop a step's freed memory from being faulted in again."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nnbackend
from nnbackend.core import host_memory
from nnbackend.core.host_memory import (
    M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD,
    MMAP_THRESHOLD,
    TRIM_THRESHOLD,
    keep_step_memory,
)
from nnbackend.errors import NNBackendError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh(monkeypatch):
    """A process in which keep_step_memory has not run yet, and a recording mallopt."""
    monkeypatch.setattr(host_memory, "_applied", None)
    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 1

    return calls, mallopt


def test_sets_the_mmap_threshold_then_the_trim_threshold_once(fresh):
    calls, mallopt = fresh
    assert keep_step_memory({}, mallopt) is True
    # The mmap threshold first: either call turns glibc's dynamic thresholds off.
    assert calls == [(M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    assert keep_step_memory({}, mallopt) is True
    assert len(calls) == 2  # once per process


@pytest.mark.parametrize("environ", [
    {"NNBACKEND_MALLOC": "default"},
    {"NNBACKEND_MALLOC": " Default "},
    {"MALLOC_MMAP_THRESHOLD_": "65536"},
    {"MALLOC_TRIM_THRESHOLD_": "0"},
    {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
    {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1000000:glibc.malloc.arena_max=2"},
])
def test_the_users_own_settings_win(fresh, environ):
    calls, mallopt = fresh
    assert keep_step_memory(environ, mallopt) is False
    assert calls == []


@pytest.mark.parametrize("environ", [{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
                                     {"NNBACKEND_MALLOC": "keep"}, {"NNBACKEND_MALLOC": ""}])
def test_other_settings_do_not_opt_out(fresh, environ):
    calls, mallopt = fresh
    assert keep_step_memory(environ, mallopt) is True
    assert len(calls) == 2


@pytest.mark.parametrize("value", ["off", "0", "tuned"])
def test_an_unknown_choice_is_refused_every_time(fresh, value):
    calls, mallopt = fresh
    for _ in range(2):  # not remembered as "done"
        with pytest.raises(NNBackendError, match=f"NNBACKEND_MALLOC='{value}' is not "
                                                 "understood; set NNBACKEND_MALLOC=default"):
            keep_step_memory({"NNBACKEND_MALLOC": value}, mallopt)
    assert calls == []


def test_a_preloaded_allocator_is_left_alone(monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    assert host_memory._glibc_mallopt() is None


@pytest.mark.usefixtures("fresh")
def test_a_refused_setting_is_reported():
    assert keep_step_memory({}, lambda param, value: 0) is False


@pytest.mark.usefixtures("fresh")
def test_no_glibc_means_nothing_is_set(monkeypatch):
    monkeypatch.setattr(host_memory, "_glibc_mallopt", lambda: None)
    assert keep_step_memory({}) is False


def test_training_on_host_arrays_sets_them(monkeypatch):
    seen = []
    monkeypatch.setattr("nnbackend.training.trainer.keep_step_memory",
                        lambda: seen.append(True) or True)
    backend = nnbackend.resolve_backend("cpu", "numpy", "float64")
    X, y = nnbackend.load_dataset("flower")
    targets = nnbackend.encode_targets(y)
    net = nnbackend.Network.create((2, 4, 1), backend, "tanh", targets.task)
    nnbackend.train(net, backend.asarray(X), backend.asarray(targets.Y),
                    nnbackend.TrainingOptions(iterations=2, print_every=1))
    assert seen == [True]


CHURN = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] == "kept":
        from nnbackend.core.host_memory import keep_step_memory
        assert keep_step_memory()

    def step():  # three 1 MiB arrays written, then freed, as a training step does
        arrays = [np.ones(2**17) for _ in range(3)]
        del arrays

    step(); step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(host_memory._glibc_mallopt() is None, reason="malloc is not glibc's")
def test_freed_step_memory_is_no_longer_faulted_in_again():
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES",
                        "NNBACKEND_MALLOC")}
    env["PYTHONPATH"] = str(ROOT)

    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", CHURN, mode], env=env, check=True,
                              capture_output=True, text=True)
        return int(done.stdout.strip())

    import resource  # POSIX only, like glibc

    default, kept = faults("default"), faults("kept")
    pages = 50 * 3 * 2**20 // resource.getpagesize()
    # glibc's defaults return the three arrays to the system after each step and fault
    # them in again (one fault per page); kept, they are reused.
    assert default > pages // 2, default
    assert kept < pages // 20, kept


def test_only_host_arrays_count_as_host_memory(reference):
    assert reference.on_host
    assert not dataclasses.replace(reference, device_label="cuda:0").on_host
