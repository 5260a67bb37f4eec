"""``nnbackend convert``: CSV and .npz to memory-mappable .npy files, streamed in blocks,
with the same data as reading the CSV directly; a CSV too large for memory points to it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.data import arrayfiles, csvfiles, files
from nnbackend.data.convert import convert_to_npy
from nnbackend.errors import NNBackendError


def write_csv(path: Path, rows: int = 50, labels: bool = True) -> Path:
    rng = np.random.RandomState(0)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "c", "kind"])
        for i in range(rows):
            writer.writerow([*(repr(float(v)) for v in rng.randn(3)),
                             ["cat", "dog", "eel"][i % 3]])
            if i % 10 == 0:
                writer.writerow([])  # blank lines are skipped, as when reading
    return path


@pytest.mark.parametrize("block", [7, 2**20])
def test_csv_to_npy_holds_what_reading_the_csv_gives(tmp_path: Path, block: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvfiles, "BLOCK_BYTES", block)  # bytes: several blocks, or one
    source = write_csv(tmp_path / "d.csv")
    done = convert_to_npy(source, tmp_path / "X.npy")
    assert (done.rows, done.columns, done.labels.name) == (50, 3, "y.npy")
    X_csv, y_csv = files.read_csv(source)
    X, y = files.read_data_file(str(tmp_path / "X.npy"))
    np.testing.assert_array_equal(X, X_csv)
    np.testing.assert_array_equal(y, y_csv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "d.csv", "y.npy"]


def test_float32_target_column_and_npz(tmp_path: Path) -> None:
    source = tmp_path / "first.csv"
    source.write_text("label,x1,x2\n0,1.5,2\n1,0.25,-1\n1,3,4\n")
    done = convert_to_npy(source, tmp_path / "small.npy", target="label", dtype="float32")
    X = np.load(done.features)
    assert X.dtype == np.float32 and done.labels.name == "small_y.npy"
    np.testing.assert_array_equal(X, [[1.5, 2], [0.25, -1], [3, 4]])
    np.testing.assert_array_equal(np.load(done.labels), [0, 1, 1])
    np.savez(tmp_path / "arrays.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    from_npz = convert_to_npy(tmp_path / "arrays.npz", tmp_path / "F.npy")
    np.testing.assert_array_equal(np.load(from_npz.features), np.eye(3))
    np.testing.assert_array_equal(np.load(from_npz.labels), [0, 1, 1])


def test_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "d.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(source.read_text().replace("\n", "\nnot-a-number,1,2,cat\n", 1))
    with pytest.raises(NNBackendError, match=r"column 'a' .* not numeric .* on line 2"):
        convert_to_npy(bad, tmp_path / "X.npy")
    with pytest.raises(NNBackendError, match="must end in .npy"):
        convert_to_npy(source, tmp_path / "X.csv")
    with pytest.raises(NNBackendError, match="no column 'nope'"):
        convert_to_npy(source, tmp_path / "X.npy", target="nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "d.csv"]


def test_the_command_and_training_on_its_output(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "d.csv", rows=120)
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", str(source), str(tmp_path / "d.npy")])
    assert result.exit_code == 0, result.output
    assert "train with: nnbackend train --data" in result.stdout
    args = ["train", "--epochs", "3", "--batch-size", "16", "--quiet", "--json"]
    from_npy = runner.invoke(cli, [*args, "--data", str(tmp_path / "d.npy")])
    from_csv = runner.invoke(cli, [*args, "--data", str(source)])
    assert from_npy.exit_code == 0, from_npy.output
    assert from_npy.stdout.splitlines()[-1].split('"time"')[0] == (
        from_csv.stdout.splitlines()[-1].split('"time"')[0])
    same = runner.invoke(cli, ["convert", str(source), str(source)])
    assert same.exit_code == 2 and "would destroy" in same.stderr


def test_a_csv_too_large_for_memory_names_the_conversion(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_csv(tmp_path / "d.csv")
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 1000)
    with pytest.raises(NNBackendError, match=r"too large to read whole .* nnbackend convert "
                                             r".*d\.csv d\.npy"):
        files.read_csv(source)


def test_float32_npy_features_stay_memory_mapped(tmp_path: Path) -> None:
    """No float64 copy of a float32 .npy: training reads the map, batch by batch."""
    X = np.random.RandomState(0).randn(500, 3).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] > 0).astype(np.int64))
    from nnbackend.data.pipeline import DataSpec, prepare

    data = prepare(DataSpec(data=str(tmp_path / "X.npy")))
    assert isinstance(data.X_train, np.memmap) and data.X_train.dtype == np.float32
