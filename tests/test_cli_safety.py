"""Nothing the user had is lost: outputs never overwrite inputs, a diverged run saves no
broken model (exit 3), a resumed run writes where the first one said it would, refuses
changed data, and can be extended to a longer plan with the same result as a straight run."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.core.backend import resolve_backend
from nnbackend.persistence.atomic import exclusive
from nnbackend.persistence.checkpoints import load_checkpoint


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_moons_csv(path: Path, n: int = 120, seed: int = 0) -> Path:
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 2)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "label"])
        for row in X:
            writer.writerow([repr(float(row[0])), repr(float(row[1])), int(row[0] * row[1] > 0)])
    return path


@pytest.mark.parametrize("case", ["save-is-data", "checkpoint-is-save", "log-is-data",
                                  "predict-output-is-data", "predict-output-is-model"])
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path: Path,
                                                               case: str) -> None:
    data = write_moons_csv(tmp_path / "d.csv")
    model = tmp_path / "m.npz"
    assert run("train", "--data", data, "--iterations", "5", "--quiet", "--save",
               model).exit_code == 0
    before = {p: p.read_bytes() for p in (data, model)}
    args = {
        "save-is-data": ["train", "--data", data, "--save", data],
        "checkpoint-is-save": ["train", "--data", data, "--save", tmp_path / "x.npz",
                               "--checkpoint", tmp_path / "x.npz"],
        "log-is-data": ["train", "--data", data, "--log-file", data],
        "predict-output-is-data": ["predict", "--model", model, "--data", data, "-o", data],
        "predict-output-is-model": ["predict", "--model", model, "--data", data, "-o", model],
    }[case]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "give --" in result.stderr
    assert "would destroy" in result.stderr and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "x.npz").exists()


def test_a_diverged_run_exits_3_and_keeps_only_finite_files(tmp_path: Path) -> None:
    model, checkpoint = tmp_path / "d1.npz", tmp_path / "ck.npz"
    result = run("train", "--data", "moons", "--hidden-activation", "relu", "--init", "he",
                 "--lr", "1e6", "--iterations", "300", "--print-every", "50", "--save",
                 model, "--checkpoint", checkpoint, "--checkpoint-every", "1", "--json")
    assert result.exit_code == 3
    # Recorded every 10 iterations (printed every 50): caught at the first non-finite one.
    assert re.match(r"Error: training diverged \(the training cost became (nan|inf) at "
                    r"iteration [1-5]0\); lower --lr", result.stderr.splitlines()[-1])
    assert "RuntimeWarning" not in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["stopped_by"] == "diverged"
    assert not model.exists()
    network, _, state, _ = load_checkpoint(checkpoint, resolve_backend("cpu"))
    assert 0 < state.step <= 50
    assert all(np.isfinite(v).all() for v in network.params.values())


def test_resume_writes_where_the_first_run_said_and_extends_exactly(tmp_path: Path) -> None:
    checkpoint, model, straight = (tmp_path / n for n in ("ck.npz", "m.npz", "s.npz"))
    first = run("train", "--iterations", "1000", "--checkpoint", checkpoint, "--save", model,
                "--quiet")
    assert first.exit_code == 0, first.output
    resumed = run("train", "--resume", checkpoint, "--iterations", "2500", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming" in resumed.stderr and f"Model saved to {model}" in resumed.stderr
    assert run("train", "--iterations", "2500", "--save", straight, "--quiet").exit_code == 0
    with np.load(model) as a, np.load(straight) as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[key], b[key])
    history = json.loads(resumed.stdout.splitlines()[-1])["history"]
    # The first run's cadence continues: recorded every 10 iterations, printed every 1000.
    assert [r["iteration"] for r in history] == list(range(0, 2500, 10))
    shorter = run("train", "--resume", checkpoint, "--iterations", "100")
    assert shorter.exit_code == 2 and "shorter than the checkpoint's plan" in shorter.stderr
    wrong_unit = run("train", "--resume", checkpoint, "--epochs", "100")
    assert wrong_unit.exit_code == 2 and "extend it with --iterations" in wrong_unit.stderr


def test_resume_refuses_changed_data(tmp_path: Path) -> None:
    data, checkpoint = write_moons_csv(tmp_path / "d.csv"), tmp_path / "ck.npz"
    assert run("train", "--data", data, "--epochs", "3", "--batch-size", "16",
               "--checkpoint", checkpoint, "--quiet").exit_code == 0
    write_moons_csv(data, seed=1)  # same shape, other values
    result = run("train", "--resume", checkpoint, "--epochs", "6")
    assert result.exit_code == 2
    assert "changed since the checkpoint" in result.stderr
    assert "same shape, different values" in result.stderr
    write_moons_csv(data, n=100)
    result = run("train", "--resume", checkpoint, "--epochs", "6")
    assert "training rows: 120 then, 100 now" in result.stderr


def test_a_second_run_on_one_checkpoint_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "ck.npz"
    with exclusive(checkpoint):
        result = run("train", "--iterations", "5", "--checkpoint", checkpoint)
    assert result.exit_code == 2
    assert "is being written by another nnbackend run" in result.stderr


def test_values_beyond_float32_are_refused_at_load(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    data.write_text("a,b,label\n1e39,0,0\n0,1,1\n1,1,0\n2,2,1\n")
    result = run("train", "--data", data, "--dtype", "float32", "--iterations", "2")
    assert result.exit_code == 2
    assert result.stderr == ("Error: the features hold values up to 1e+39, beyond float32's "
                             "range (3.4e+38); train in float64 (--dtype float64), or rescale "
                             "the data (--standardize)\n")
    assert run("train", "--data", data, "--dtype", "float32", "--iterations", "2",
               "--standardize").exit_code == 0


def test_ctrl_c_then_resume_with_no_flags_saves_where_the_first_run_said(
        tmp_path: Path) -> None:
    """Interrupted (SIGINT), resumed with no extra flags: the model lands at the first run's
    --save path, equal bit for bit to an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "NNBACKEND_DEVICE": "cpu"}
    train = [sys.executable, "-m", "nnbackend", "train"]
    checkpoint, model = tmp_path / "ck.npz", tmp_path / "m.npz"
    first = subprocess.Popen([*train, "--iterations", "60000", "--checkpoint", checkpoint,
                              "--checkpoint-every", "500", "--save", model, "--quiet"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=60)
    if first.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived (a very fast machine)")
    assert first.returncode == 130
    assert f"resume with: nnbackend train --resume {checkpoint}" in out
    assert not model.exists()
    resumed = subprocess.run([*train, "--resume", checkpoint], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Model saved to {model}" in resumed.stdout
    straight = tmp_path / "straight.npz"
    assert run("train", "--iterations", "60000", "--save", straight, "--quiet").exit_code == 0
    with np.load(model) as a, np.load(straight) as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[key], b[key])


def test_a_copied_checkpoint_writes_beside_itself_never_into_the_first_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, copy = tmp_path / "A", tmp_path / "B"
    first.mkdir()
    copy.mkdir()
    monkeypatch.chdir(first)
    assert run("train", "--iterations", "200", "--checkpoint", "ck.npz", "--save", "m.npz",
               "--log-file", "log.jsonl", "--quiet").exit_code == 0
    (copy / "ck.npz").write_bytes((first / "ck.npz").read_bytes())
    originals = {p: p.read_bytes() for p in first.iterdir()}
    monkeypatch.chdir(tmp_path)
    resumed = run("train", "--resume", "B/ck.npz", "--iterations", "400", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert {p: p.read_bytes() for p in first.iterdir()} == originals  # A untouched
    written = sorted(p.name for p in copy.iterdir() if not p.name.startswith("."))
    assert written == ["ck.npz", "log.jsonl", "m.npz"]  # (and the run's lock)
    assert f"Model saved to {copy / 'm.npz'}" in resumed.output
    _, _, state, _ = load_checkpoint(copy / "ck.npz", resolve_backend("cpu"))
    assert state.step == 400
    # Resuming the original in place still writes the first run's files.
    monkeypatch.chdir(first)
    again = run("train", "--resume", "ck.npz", "--iterations", "300", "--quiet")
    assert again.exit_code == 0 and f"Model saved to {first / 'm.npz'}" in again.output


def test_a_checkpoint_on_a_relative_data_file_resumes_elsewhere_with_data_given_anew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run's --data is relative to where it started: from another folder it
    names nothing, which is said in one line, and --data gives the same data from there
    (other data is refused by the fingerprint)."""
    first = tmp_path / "A"
    first.mkdir()
    write_moons_csv(first / "d.csv")
    write_moons_csv(tmp_path / "other.csv", seed=1)
    monkeypatch.chdir(first)
    assert run("train", "--data", "d.csv", "--iterations", "200", "--checkpoint", "ck.npz",
               "--quiet").exit_code == 0
    monkeypatch.chdir(tmp_path)
    lost = run("train", "--resume", "A/ck.npz", "--iterations", "400", "--quiet")
    assert lost.exit_code == 2 and lost.stderr.count("\n") == 1, lost.output
    assert ("A/ck.npz trains on the data file d.csv, which is not found from "
            f"{tmp_path}") in lost.stderr and "resume with --data PATH" in lost.stderr
    other = run("train", "--resume", "A/ck.npz", "--data", "other.csv", "--iterations",
                "400", "--quiet")
    assert other.exit_code == 2 and "changed since the checkpoint" in other.stderr
    given = run("train", "--resume", "A/ck.npz", "--data", "A/d.csv", "--iterations", "400",
                "--quiet")
    assert given.exit_code == 0, given.output
    _, _, state, _ = load_checkpoint(first / "ck.npz", resolve_backend("cpu"))
    assert state.step == 400


def test_a_moved_checkpoint_whose_outputs_lay_elsewhere_is_refused_by_name(
        tmp_path: Path) -> None:
    models, first, copy = tmp_path / "models", tmp_path / "A", tmp_path / "B"
    for folder in (models, first, copy):
        folder.mkdir()
    assert run("train", "--iterations", "100", "--checkpoint", first / "ck.npz", "--save",
               models / "m.npz", "--quiet").exit_code == 0
    (copy / "ck.npz").write_bytes((first / "ck.npz").read_bytes())
    before = (models / "m.npz").read_bytes()
    refused = run("train", "--resume", copy / "ck.npz", "--iterations", "200", "--quiet")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert (f"was written as {first / 'ck.npz'} and has moved; its run writes --save "
            f"{models / 'm.npz'}, outside that folder") in refused.stderr
    assert "give --save PATH for this copy" in refused.stderr
    assert (models / "m.npz").read_bytes() == before
    given = run("train", "--resume", copy / "ck.npz", "--iterations", "200", "--save",
                copy / "m.npz", "--quiet")
    assert given.exit_code == 0 and (copy / "m.npz").exists()
    assert (models / "m.npz").read_bytes() == before


def test_resuming_from_a_model_file_says_it_is_not_a_checkpoint(tmp_path: Path) -> None:
    # A model saved by train --save records its run (and that run's --save) as well;
    # resuming from it must not be taken for a run that writes onto its own input.
    model = tmp_path / "m.npz"
    assert run("train", "--iterations", "5", "--quiet", "--save", model).exit_code == 0
    before = model.read_bytes()
    result = run("train", "--resume", model)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {model} is a model file, not a checkpoint; resume from "
                             "a file written by --checkpoint\n")
    assert model.read_bytes() == before


def test_a_checkpoint_that_cannot_be_written_costs_a_warning_not_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full scratch disk under --checkpoint while --save lies elsewhere: the checkpoints
    after step 10 fail, training goes on, the model is saved, and the run says which
    checkpoint it kept (it ended with exit 2 and no model at the first failure)."""
    from nnbackend.cli import train as train_command
    from nnbackend.errors import NNBackendError

    real = train_command.save_checkpoint

    def filling(path, trainer, *args, **kwargs):
        if trainer.state.step > 10:
            raise NNBackendError(f"cannot write {path}: No space left on device; check the "
                                 "path and free space")
        return real(path, trainer, *args, **kwargs)

    monkeypatch.setattr(train_command, "save_checkpoint", filling)
    model, checkpoint = tmp_path / "m.npz", tmp_path / "ck.npz"
    result = run("train", "--iterations", "30", "--checkpoint", checkpoint,
                 "--checkpoint-every", "10", "--save", model, "--quiet")
    assert result.exit_code == 0, result.output
    assert model.exists()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: the checkpoint of step {step} could not be written (cannot "
                        f"write {checkpoint}: No space left on device; check the path and "
                        "free space); training goes on and the one of step 10 is kept"
                        for step in (20, 30, 30)]  # (30: its own, and the end's)
    assert f"Checkpoint: {checkpoint} (from step 10)" in result.output
    _, _, state, _ = load_checkpoint(checkpoint, resolve_backend("cpu"))
    assert state.step == 10


def test_a_stop_whose_checkpoint_cannot_be_written_is_kept_in_the_default_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGUSR1 (Slurm's warning) when --checkpoint's disk is full: the stop is kept where
    a run without --checkpoint is, and the line that resumes names it."""
    import os
    import signal

    from nnbackend.cli import train as train_command
    from nnbackend.errors import NNBackendError

    real = train_command.save_checkpoint
    checkpoint = tmp_path / "full" / "ck.npz"
    checkpoint.parent.mkdir()

    def filling(path, trainer, *args, **kwargs):
        if Path(path) == checkpoint and trainer.state.step > 10:
            if trainer.state.step == 20:
                os.kill(os.getpid(), signal.SIGUSR1)  # the stop comes after this step
            raise NNBackendError(f"cannot write {path}: No space left on device")
        return real(path, trainer, *args, **kwargs)

    monkeypatch.setattr(train_command, "save_checkpoint", filling)
    monkeypatch.chdir(tmp_path)
    result = run("train", "--iterations", "1000", "--checkpoint", checkpoint,
                 "--checkpoint-every", "10", "--save", "m.npz", "--quiet")
    assert result.exit_code == 128 + signal.SIGUSR1, result.output
    assert not (tmp_path / "m.npz").exists()
    assert ("Checkpoint: nnbackend-checkpoint.npz (resume with: nnbackend train --resume "
            "nnbackend-checkpoint.npz)") in result.output
    _, _, state, _ = load_checkpoint(tmp_path / "nnbackend-checkpoint.npz",
                                     resolve_backend("cpu"))
    _, _, older, _ = load_checkpoint(checkpoint, resolve_backend("cpu"))
    assert older.step == 10 and state.step >= 20
