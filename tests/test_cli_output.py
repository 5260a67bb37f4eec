"""What ``nnbackend train`` tells its user: a readable number of printed records, a final
line of figures for every task, records in a log file as they are made, valid JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from nnbackend.cli import cli


def run(*args: str):
    result = CliRunner().invoke(cli, ["train", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


EPOCH_RUN = ("--data", "moons", "--epochs", "50", "--batch-size", "64", "--optimizer",
             "adam", "--lr", "0.01")


def test_epoch_runs_print_about_ten_records_but_record_every_epoch() -> None:
    result = run(*EPOCH_RUN, "--json")
    printed = [line for line in result.stderr.splitlines() if line.startswith("Cost after")]
    assert [line.split()[3] for line in printed] == [f"{e}:" for e in range(5, 51, 5)]
    history = json.loads(result.stdout.splitlines()[-1])["history"]
    assert [r["epoch"] for r in history] == list(range(1, 51))


def test_print_every_given_prints_each_record() -> None:
    result = run(*EPOCH_RUN, "--epochs", "6", "--print-every", "2")
    assert [line.split()[3] for line in result.stdout.splitlines()
            if line.startswith("Cost after")] == ["2:", "4:", "6:"]


def test_every_task_ends_with_its_figures() -> None:
    classifier = run("--data", "blobs", "--epochs", "5", "--batch-size", "32",
                     "--validation-fraction", "0.2").stdout
    assert "Train accuracy: " in classifier and "Validation accuracy: " in classifier
    regression = run("--data", "sine", "--epochs", "5", "--batch-size", "32",
                     "--validation-fraction", "0.2", "--json")
    lines = regression.stderr.splitlines()
    assert any(line.startswith("Train R^2: ") and "RMSE" in line for line in lines)
    assert any(line.startswith("Validation R^2: ") for line in lines)
    summary = json.loads(regression.stdout.splitlines()[-1])
    assert {"train_r2", "train_rmse", "train_cost", "val_r2", "val_rmse"} <= set(summary)
    assert "completed 5 epochs" in regression.stderr
    one = run("--iterations", "1", "--quiet").stdout
    assert "completed 1 iteration\n" in one


def test_log_file_holds_the_history_as_json_lines_and_csv(tmp_path: Path) -> None:
    jsonl, table = tmp_path / "run.jsonl", tmp_path / "run.csv"
    history = json.loads(run(*EPOCH_RUN, "--epochs", "4", "--validation-fraction", "0.2",
                             "--log-file", jsonl, "--json").stdout.splitlines()[-1])["history"]
    assert [json.loads(line) for line in jsonl.read_text().splitlines()] == history
    run(*EPOCH_RUN, "--epochs", "4", "--validation-fraction", "0.2", "--log-file", table)
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"epoch", "cost", "accuracy", "val_cost", "val_accuracy", "time"}
    assert [float(r["cost"]) for r in rows] == [r["cost"] for r in history]


def test_json_stays_valid_when_training_diverges(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    result = CliRunner().invoke(cli, [
        "train", "--data", "moons", "--hidden-activation", "relu", "--init", "he", "--lr",
        "1e6", "--iterations", "300", "--print-every", "50", "--json", "--log-file",
        str(log)])
    summary = json.loads(result.stdout.splitlines()[-1])  # no bare NaN in the output
    assert any(r["cost"] is None for r in summary["history"])
    assert all("NaN" not in line for line in log.read_text().splitlines())
