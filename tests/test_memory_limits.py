"""Memory, bounded and estimated: reading a CSV stays within the guard's own estimate
under a real limit (``RLIMIT_DATA``), for a wide and a tall file; networks and generated
data sets too large for the available memory are refused in one line, before anything is
allocated (the "available memory" is made small here, never really exhausted)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nnbackend import Model, NNClassifier, resolve_backend
from nnbackend.data import arrayfiles, csvfiles
from nnbackend.data.memory import gib
from nnbackend.errors import NNBackendError, SettingError
from nnbackend.training.memory import check_network_fits, parameter_count, training_bytes
from nnbackend.training.trainer import TrainingOptions

from .model_files import assert_one_line_error, invoke

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_DATA and /proc/self/status are Linux's")

#: Runs in a child: after the imports, cap the data segment at what it has plus the
#: guard's estimate (plus the conversion's labels), then read (or convert) the file.
CHILD = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from nnbackend.data import csvfiles
    from nnbackend.data.convert import convert_to_npy
    from nnbackend.data.files import read_csv

    path, what = Path(sys.argv[1]), sys.argv[2]
    csvfiles.BLOCK_BYTES = 2**18  # smaller blocks: the numbers dominate the estimate
    allowance = csvfiles.csv_memory(path, int(sys.argv[3]))
    status = Path("/proc/self/status").read_text().split("VmData:")[1]
    now = int(status.split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (now + allowance, resource.RLIM_INFINITY))
    if what == "read":
        X, y = read_csv(path)
        print(X.shape[0], X.shape[1], int(y.sum()))
    else:
        done = convert_to_npy(path, path.with_suffix(".npy"))
        print(done.rows, done.columns)
""")


def write_table(path: Path, rows: int, columns: int) -> Path:
    """Rows of one-digit cells (the densest CSV: two bytes a cell), label last."""
    digits = np.random.RandomState(0).randint(0, 10, size=(rows, columns))
    digits[:, -1] %= 2
    header = ",".join([f"x{j}" for j in range(columns - 1)] + ["label"])
    body = "\n".join(",".join(map(str, row)) for row in digits.tolist())
    path.write_text(header + "\n" + body + "\n")
    return path


@pytest.mark.parametrize(("shape", "what"), [
    ((4000, 1000), "read"),      # wide: 8 MB, 4,000,000 cells (held as strings: ~250 MB)
    ((500_000, 3), "read"),      # tall: 3 MB, 1,500,000 cells in 500,000 rows
    ((4000, 1000), "convert"),
    ((500_000, 3), "convert"),
])
def test_reading_a_csv_stays_within_the_guards_estimate(tmp_path, shape, what):
    rows, columns = shape
    path = write_table(tmp_path / "d.csv", rows, columns)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), what, str(columns)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == [str(rows), str(columns - 1)]


def test_the_guard_refuses_before_reading(tmp_path, monkeypatch):
    path = write_table(tmp_path / "d.csv", 200, 50)
    needed = csvfiles.csv_memory(path, 50)
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: needed - 1)
    with pytest.raises(NNBackendError, match=r"too large to read whole into memory: its "
                       r"numbers need about .* nnbackend convert"):
        csvfiles.read_table(path, csvfiles.read_header(path), range(49), 49)
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: needed)
    assert csvfiles.read_table(path, csvfiles.read_header(path), range(49), 49).X.shape == (
        200, 49)


# ---- networks ----------------------------------------------------------------------------


def test_a_network_is_estimated_from_its_parameters_and_a_batch():
    sizes = (2, 100000, 100000, 1)
    assert parameter_count(sizes) == 2 * 100000 + 100000 + 100000**2 + 100000 + 100000 + 1
    gd = training_bytes(sizes, 200, 8, 0)
    adam = training_bytes(sizes, 200, 8, 2)
    assert gd > 5 * 100000**2 * 8 and adam - gd == 4 * parameter_count(sizes) * 8
    assert gib(100000**2 * 8) == "74.5 GiB"


@pytest.mark.parametrize("layers", ["100000,100000", "99999999999999999999"])
def test_networks_beyond_any_memory_are_one_line(layers):
    result = invoke("train", "--data", "moons", "--layers", layers, "--iterations", "1")
    assert_one_line_error(result, f"--layers {layers} (", "needs about", "is available: "
                          "use fewer or smaller layers")


def test_a_network_beyond_the_available_memory_is_refused(monkeypatch):
    """1000,1000 (about 1M parameters, 8 MB a copy) needs about 50 MiB; with 20 free it is refused
    before its weights are drawn, and trains when the memory is there."""
    args = ["train", "--data", "moons", "--layers", "1000,1000", "--iterations", "1",
            "--quiet"]
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 20 * 2**20)
    assert_one_line_error(invoke(*args), "--layers 1000,1000 (1,005,001 parameters",
                          "needs about 50.", "20.0 MiB is available")
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 96 * 2**20)
    assert invoke(*args).exit_code == 0


def test_an_address_space_limit_counts_as_the_available_memory():
    """``ulimit -v`` (some clusters set one per job): 20000,20000 would have failed inside
    NumPy with a traceback; the limit's headroom, far below MemAvailable, refuses it."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--data", "moons",
                           "--layers", "20000,20000", "--iterations", "1"], env=env,
                          preexec_fn=limit, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("Error: --layers 20000,20000 (") and done.stderr.count(
        "\n") == 1, done.stderr[-2000:]
    assert "is available: use fewer or smaller layers" in done.stderr


def test_an_unforeseen_memory_error_is_one_line(monkeypatch):
    from nnbackend.cli import train

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.98 GiB for an array")

    monkeypatch.setattr(train, "prepare", exhausted)
    assert_one_line_error(invoke("train", "--data", "moons", "--iterations", "1"),
                          "Error: out of memory (Unable to allocate 2.98 GiB", "free memory")


def test_estimators_and_models_spell_the_setting_their_way(monkeypatch):
    X, y = np.random.RandomState(0).randn(50, 2), np.arange(50) % 2
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 2**20)
    with pytest.raises(NNBackendError, match=r"^hidden_layer_sizes 300,300 \(.*needs about"):
        NNClassifier(hidden_layer_sizes=(300, 300), device="cpu").fit(X, y)
    with pytest.raises(SettingError, match=r"^layers 300,300 \("):
        Model(layers=(300, 300), device="cpu").fit(X, y, iterations=1)


def test_a_gpu_network_is_checked_against_the_devices_free_memory(monkeypatch):
    """With a device's free memory known (a GPU backend's), that is the figure; the host
    still has to hold the draw of the largest layer."""
    fake_gpu = dataclasses.replace(resolve_backend("cpu"), _free_memory=lambda: 2**20)
    options = TrainingOptions(iterations=1)
    with pytest.raises(SettingError, match=r"needs about .*; 1\.0 MiB is available on numpy"):
        check_network_fits((2, 300, 300, 1), (300, 300), 100, options, fake_gpu)
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 2**20)
    roomy = dataclasses.replace(fake_gpu, _free_memory=lambda: 2**40)
    with pytest.raises(SettingError, match=r"to draw its weights on the host needs about"):
        check_network_fits((2, 300, 300, 1), (300, 300), 100, options, roomy)


# ---- generated data sets -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_generated_sets_beyond_any_memory_are_one_line(tmp_path, command):
    if command == "train":
        args = ["train", "--iterations", "1"]
    else:
        saved = tmp_path / "m.npz"
        assert invoke("train", "--data", "moons", "--iterations", "1", "--quiet", "--save",
                      saved).exit_code == 0
        args = [command, "--model", saved]
    result = invoke(*args, "--data", "moons", "--n-samples", "1000000000000")
    assert_one_line_error(result, "--n-samples 1000000000000 for the moons data set needs "
                          "about 90.9 TiB", "use fewer samples")


@pytest.mark.parametrize("name", ["flower", "moons", "circles", "blobs", "spiral", "sine",
                                  "gaussian-quantiles"])
def test_every_generator_checks_its_size_against_the_memory(monkeypatch, name):
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 10 * 2**20)
    from nnbackend.data.datasets import load_dataset

    assert load_dataset(name, n_samples=1000)[0].shape[0] == 1000
    with pytest.raises(SettingError, match=rf"^n_samples 1000000 for the {name} data set "
                       r"needs about 95\.4 MiB; 10\.0 MiB is available"):
        load_dataset(name, n_samples=1_000_000)


def test_pytorchs_out_of_memory_error_is_one_line_too(monkeypatch):
    """PyTorch's OutOfMemoryError is a RuntimeError, not a MemoryError; a GPU run that
    exhausts its memory still ends in one line, while any other RuntimeError keeps its
    traceback (a bug is not dressed up as a user error)."""
    torch = pytest.importorskip("torch")
    from nnbackend.cli import train

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "prepare", exhausted)
    assert_one_line_error(invoke("train", "--data", "moons", "--iterations", "1"),
                          "Error: out of memory (CUDA out of memory", "free memory")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(train, "prepare", broken)
    result = invoke("train", "--data", "moons", "--iterations", "1")
    assert isinstance(result.exception, RuntimeError)
