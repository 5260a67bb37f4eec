"""``nnbackend sweep``: lists of options, the course's hidden-size study in one command,
the results table and files, the best model as an ordinary model file, one-line errors."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli


def run(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def table_rows(output: str) -> dict[str, list[str]]:
    """The results table's rows by their first column."""
    lines = output.split("best first by", 1)[1].splitlines()[2:]
    return {line.split()[0]: line.split() for line in lines if line.strip()}


@pytest.mark.slow
def test_the_course_hidden_size_study_in_one_command() -> None:
    """The course's accuracies for 1-5 hidden units; 20 and 50 exactly as nnbackend's own
    single runs print them (padding decided by the grouping never changes a figure)."""
    done = run("sweep", "--layers", "1,2,3,4,5,20,50", "--iterations", 5000, "--backend",
               "numpy", "--device", "cpu")
    assert done.exit_code == 0, done.output
    rows = table_rows(done.output)
    course = {"1": "67.50%", "2": "67.25%", "3": "90.75%", "4": "90.50%", "5": "91.25%"}
    for n, accuracy in course.items():
        assert rows[n][2] == accuracy, (n, rows[n])
    for n in ("20", "50"):
        single = run("train", "--layers", n, "--iterations", 5000, "--backend", "numpy",
                     "--device", "cpu")
        printed = re.search(r"Train accuracy: ([\d.]+%) \(cost ([\d.]+)\)", single.output)
        assert printed is not None, single.output
        assert rows[n][2] == printed.group(1) and rows[n][1] == printed.group(2), n
    assert list(rows)[0] == "5"  # best first


def test_results_files_and_the_best_model(tmp_path: Path) -> None:
    csv_path, json_path, best = (tmp_path / "runs.csv", tmp_path / "runs.json",
                                 tmp_path / "best.npz")
    args = ("sweep", "--lr", "0.5,1.2", "--seed", "1..2", "--iterations", 300,
            "--print-every", 100, "--backend", "numpy", "--device", "cpu")
    done = run(*args, "--results", csv_path, "--save-best", best)
    assert done.exit_code == 0, done.output
    assert "cost best" in done.output and "median" in done.output and "worst" in done.output
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert list(rows[0]) == ["seed", "lr", "train_cost", "train_accuracy", "iterations",
                             "stopped_by"]
    accuracies = [float(r["train_accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)  # best first
    assert run(*args, "--results", json_path, "-q").exit_code == 0
    assert json.loads(json_path.read_text())[0]["seed"] == int(rows[0]["seed"])
    # The best model is an ordinary model file: evaluate reads it.
    scored = run("evaluate", "--model", best, "--data", "flower", "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output.splitlines()[-1])["accuracy"] == pytest.approx(
        float(rows[0]["train_accuracy"]), abs=1e-12)
    # --json: the same rows as the last line of stdout.
    as_json = run(*args, "--json")
    assert json.loads(as_json.output.splitlines()[-1])["rows"][0]["lr"] == float(rows[0]["lr"])


def test_validation_split_and_a_diverged_model() -> None:
    done = run("sweep", "--lr", "1.2,1e308", "--seed", "1,2", "--validation-fraction", 0.25,
               "--iterations", 200, "--json", "--backend", "numpy", "--device", "cpu")
    assert done.exit_code == 0, done.output
    result = json.loads(done.output.splitlines()[-1])
    assert result["score"] == "val_accuracy" and len(result["stacks"]) == 2
    kinds = [row["stopped_by"] for row in result["rows"]]
    assert kinds == ["completed", "completed", "diverged", "diverged"]
    assert result["rows"][0]["val_accuracy"] >= result["rows"][1]["val_accuracy"]
    assert result["rows"][-1]["train_cost"] is None


def test_several_hidden_layers_are_written_with_x() -> None:
    done = run("sweep", "--layers", "3,4x2", "--iterations", 50, "-q", "--json",
               "--backend", "numpy", "--device", "cpu")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output.splitlines()[-1])["rows"]
    assert sorted(row["layers"] for row in rows) == ["3", "4x2"]


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "5..1"], "range '5..1' is empty"),
    (["--layers", "4,x"], "not a hidden-layer size"),
    (["--lr", "0.5,abc"], "'abc' is not a valid float"),
    (["--optimizer", "gd,sgd"], "unknown --optimizer 'sgd'"),
    (["--keep-prob", "0.5,2"], "2.0 is not in the range 0<x<=1"),
    (["--workers", "0"], "0 is not in the range x>=1"),
    (["--results", "out.txt"], "ending in .csv or .json"),
    (["--patience", "3"], "--patience only applies with --validation-fraction"),
    (["--data", "nope"], "unknown data set or file 'nope'"),
])
def test_bad_values_are_one_line_errors(args: list[str], message: str) -> None:
    done = run("sweep", "--iterations", 10, *args)
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_each_stack_draws_a_progress_bar_on_a_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal each stack has its bar (its steps, its best recorded cost)."""
    import io

    from nnbackend.cli.sweep import StackBar
    from nnbackend.core.backend import resolve_backend
    from nnbackend.data.pipeline import DataSpec, prepare
    from nnbackend.model.sweep import sweep_prepared

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(StackBar, "INTERVAL", 0.0)  # draw every step
    data = prepare(DataSpec("flower"))
    result = sweep_prepared(lambda seed: data, {"layers": [(2,), (40,)]},
                            resolve_backend("cpu", "numpy", "float64"), False,
                            callbacks=lambda info: [StackBar(info, screen)], iterations=30,
                            print_every=10)
    assert len(result.stacks) == 2
    drawn = screen.getvalue()
    assert re.search(r"30/30 iterations of stack 1/2  cost 0\.\d{4} ", drawn), drawn
    assert "30/30 iterations of stack 2/2" in drawn and drawn.endswith("\r\x1b[K")


def test_stacks_on_worker_threads_print_what_one_after_another_prints() -> None:
    """--workers 2: the same record lines, in the same order, and the same table; one
    more line says that the stacks ran two at a time."""
    args = ("sweep", "--layers", "1,2,3,4,5,20,50", "--iterations", 400, "--print-every",
            100, "--backend", "numpy", "--device", "cpu")
    outputs = {w: run(*args, "--workers", w) for w in (1, 2)}
    for done in outputs.values():
        assert done.exit_code == 0, done.output
    threaded = outputs[2].output.splitlines()
    assert "3 stacks, 2 at a time on worker threads" in threaded
    threaded.remove("3 stacks, 2 at a time on worker threads")
    assert threaded == outputs[1].output.splitlines()
    stacks = [int(line.split()[1].split("/")[0]) for line in threaded
              if line.startswith("Stack ")]
    assert stacks == sorted(stacks) and set(stacks) == {1, 2, 3}  # stack after stack


def test_sweep_options_come_from_the_settings_table() -> None:
    """Each option is train's setting under its flag and help; a list's values are checked
    by train's type for it; what is not given is the table's default (in the library)."""
    from nnbackend.cli.sweep import SINGLE, VARIED
    from nnbackend.training.settings import SETTINGS

    options = {p.name: p for p in cli.commands["sweep"].params}  # type: ignore[attr-defined]
    for name in (*VARIED, *SINGLE):
        setting, option = SETTINGS[name], options[name]
        assert setting.flag in option.opts, name
        if name != "layers":
            assert setting.help in (option.help or ""), name
    for name in VARIED:
        assert options[name].default is None  # the library fills the table's default in
        if SETTINGS[name].kind in (int, float):
            item = options[name].type.item
            train = {p.name: p for p in cli.commands["train"].params}[name]  # type: ignore[attr-defined]
            assert repr(item) == repr(train.type), name


def test_save_best_when_every_model_diverged_writes_nothing_and_exits_3(
        tmp_path: Path) -> None:
    best = tmp_path / "best.npz"
    best.write_bytes(b"an earlier file")
    result = run("sweep", "--data", "sine", "--lr", "5,8", "--iterations", "300",
                 "--save-best", best, "--quiet")
    assert result.exit_code == 3, result.output
    assert result.stderr.strip() == (f"Error: every model diverged; nothing written to {best}: "
                                     "lower --lr, or add --standardize")
    assert best.read_bytes() == b"an earlier file"
    assert "2 models in 2 stacks" in result.output or "2 models in 1 stack," in result.output


def test_stacks_replay_their_steps_as_graphs_where_the_backend_captures(monkeypatch
                                                                         ) -> None:
    """Where steps can be captured (PyTorch on CUDA; here the CPU stand-in that replays by
    calling again), the sweep says so and every row is the eager sweep's."""
    import nnbackend.cli.sweep as sweep_cli
    from nnbackend.core.backend import resolve_backend

    from .test_graphed import stand_in

    args = ("sweep", "--layers", "2,5", "--lr", "0.5,1.2", "--iterations", 60,
            "--print-every", 20, "--backend", "numpy", "--device", "cpu", "--json")
    eager = run(*args)
    assert eager.exit_code == 0, eager.output
    graphed, calls = stand_in(resolve_backend("cpu", "numpy", "float64"))
    monkeypatch.setattr(sweep_cli, "resolve_backend", lambda *a: graphed)
    done = run(*args)
    assert done.exit_code == 0, done.output
    assert "Backend: numpy on cpu, float64; 4 models; each step replayed as a CUDA " \
           "graph" in done.output
    assert calls["replay"] > 0
    assert done.stdout.splitlines()[-1] == eager.stdout.splitlines()[-1]
