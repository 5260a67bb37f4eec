"""Where nnbackend's outputs go: devices and pipes are written through and links resolved,
never replaced by a regular file; an output that cannot be written (an unwritable
directory, a name past NAME_MAX, an empty path) is refused in one line before any work,
while a legal long name works; a metrics log that fails mid-run is a warning, not a lost
run; and every file gets the mode a plain open() gives, whatever the writer."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from nnbackend.cli import cli
from nnbackend.errors import NNBackendError
from nnbackend.model import Model
from nnbackend.outputs import check_writable, temporary_name
from nnbackend.persistence.atomic import atomic_write_bytes, exclusive
from nnbackend.training.callbacks import RecordLog

HAS_ONNX = importlib.util.find_spec("onnx") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
LONG_BUT_LEGAL = "m" * 246 + ".npz"  # 250 bytes: NAME_MAX is 255 on common file systems
TOO_LONG = "m" * 296 + ".npz"  # 300 bytes
# Windows has no device nodes, FIFOs or POSIX modes, symbolic links need a privilege, and
# its paths stop at 260 characters.
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused_in_one_line(result: Result, *fragments: str) -> None:
    """Exit 2, no traceback, one line on stderr holding each fragment, no training."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Backend:" not in result.stderr + result.stdout  # refused before any work


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.npz"
    result = run("train", "--iterations", "50", "--save", path, "--quiet")
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture
def char_device(tmp_path: Path) -> Path:
    """A private character device (1, 3: what /dev/null is), so that a writer that would
    replace it replaces this one, not the machine's /dev/null. Named .png for ``plot``,
    which takes the image format from the name."""
    node = tmp_path / "device.png"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        with open(node, "wb") as fh:
            fh.write(b"probe")
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot make a character device here ({exc})")
    return node


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


# ---- devices, pipes and links ------------------------------------------------------------


def output_commands(model: Path, out: Path) -> dict[str, list[object]]:
    commands: dict[str, list[object]] = {
        "train --save": ["train", "--iterations", "20", "--save", out, "--quiet"],
        "train --checkpoint": ["train", "--iterations", "20", "--checkpoint", out,
                               "--checkpoint-every", "5", "--quiet"],
        "predict -o": ["predict", "--model", model, "--data", "flower", "-o", out],
    }
    if HAS_ONNX:
        commands["export -o"] = ["export", "--model", model, "-o", out]
    if HAS_MATPLOTLIB:
        commands["plot -o"] = ["plot", "--model", model, "--loss-curve", "-o", out]
    return commands


@pytest.mark.parametrize("command", ["train --save", "train --checkpoint", "predict -o",
                                     "export -o", "plot -o"])
def test_a_character_device_is_written_through_never_replaced(model: Path, char_device: Path,
                                                              command: str) -> None:
    args = output_commands(model, char_device).get(command)
    if args is None:
        pytest.skip(f"{command} needs an optional extra")
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert is_char_device(char_device), "the device was replaced by a regular file"
    assert sorted(p.name for p in char_device.parent.iterdir()) == ["device.png"]


@posix_only
@pytest.mark.parametrize("command", ["train --save", "predict -o", "export -o"])
def test_a_link_to_dev_null_stays_a_link_to_a_device(model: Path, tmp_path: Path,
                                                     command: str) -> None:
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    link = tmp_path / "out"
    link.symlink_to("/dev/null")
    args = output_commands(model, link).get(command)
    if args is None:
        pytest.skip(f"{command} needs an optional extra")
    assert run(*args).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert is_char_device(Path("/dev/null"))


@posix_only
def test_a_fifo_is_written_through(model: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "predictions"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    result = run("predict", "--model", model, "--data", "flower", "-o", fifo)
    thread.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    lines = received[0].decode().splitlines()
    assert lines[0] == "prediction" and len(lines) == 401


@posix_only
def test_a_link_to_proc_self_fd_1_writes_to_standard_output(model: Path,
                                                            tmp_path: Path) -> None:
    if not Path("/proc/self/fd/1").exists():
        pytest.skip("no /proc")
    link = tmp_path / "stdout.csv"
    link.symlink_to("/proc/self/fd/1")
    done = subprocess.run([sys.executable, "-m", "nnbackend", "predict", "--model",
                           str(model), "--data", "flower", "-o", str(link)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink(), "the link was replaced by a regular file"
    assert done.stdout.splitlines()[0] == "prediction"
    assert len(done.stdout.splitlines()) == 401


@posix_only
def test_a_link_chain_replaces_its_final_target_atomically(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    final = elsewhere / "model.npz"
    final.write_bytes(b"old")
    middle, first = tmp_path / "middle.npz", tmp_path / "first.npz"
    middle.symlink_to(final)
    first.symlink_to(middle)
    result = run("train", "--iterations", "20", "--save", first, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert first.is_symlink() and middle.is_symlink()
    Model.load(final)  # the model file, reached through both links
    assert sorted(p.name for p in elsewhere.iterdir()) == ["model.npz"]  # no temporary left
    # A link to a file not there yet creates it where the link points.
    dangling = tmp_path / "new.npz"
    dangling.symlink_to(elsewhere / "new-model.npz")
    atomic_write_bytes(dangling, b"new")
    assert dangling.is_symlink() and (elsewhere / "new-model.npz").read_bytes() == b"new"
    # convert's memory-mapped features, through a link: the link's target is filled.
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n")
    features = tmp_path / "X.npy"
    features.symlink_to(elsewhere / "features.npy")
    assert run("convert", csv, features).exit_code == 0
    assert features.is_symlink()
    np.testing.assert_array_equal(np.load(elsewhere / "features.npy"), [[1, 2], [3, 4]])


@posix_only
def test_a_checkpoint_lock_is_taken_on_the_final_target(tmp_path: Path) -> None:
    final = tmp_path / "ck.npz"
    link = tmp_path / "link.npz"
    link.symlink_to(final)
    with exclusive(final), pytest.raises(NNBackendError, match="being written by another"):
        with exclusive(link):
            pass


@posix_only
def test_block_devices_and_sockets_are_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(path))
        except OSError as exc:  # pragma: no cover - a path too long for a socket
            pytest.skip(f"cannot bind a socket here ({exc})")
        with pytest.raises(NNBackendError, match=r"it is a socket; give a regular file$"):
            atomic_write_bytes(path, b"x")


# ---- refused before any work -------------------------------------------------------------


@pytest.fixture
def unwritable_directory(tmp_path: Path) -> Path:
    """A directory that refuses new files even to root: sysfs accepts no file creation,
    although its permission bits (and os.access, for root) say it is writable. Others get
    a directory without write permission."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        yield locked
        locked.chmod(0o755)
        return
    sysfs = Path("/sys")
    if not sysfs.is_dir():
        pytest.skip("running as root, and no sysfs to refuse a write")
    try:
        os.close(os.open(sysfs / "nnbackend-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        yield sysfs
        return
    os.unlink(sysfs / "nnbackend-probe")  # pragma: no cover - a writable sysfs
    pytest.skip("sysfs accepts files here")  # pragma: no cover


@posix_only
@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--log-file"])
def test_an_unwritable_directory_is_refused_before_training(unwritable_directory: Path,
                                                            option: str) -> None:
    result = run("train", "--iterations", "3000", option, unwritable_directory / "out.npz")
    refused_in_one_line(result, f"cannot write {unwritable_directory / 'out.npz'}")


@posix_only
def test_other_commands_refuse_an_unwritable_directory_first(model: Path,
                                                             unwritable_directory: Path,
                                                             tmp_path: Path) -> None:
    out = unwritable_directory / "out"
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    refused_in_one_line(run("predict", "--model", model, "--data", "flower", "-o", out))
    refused_in_one_line(run("convert", tmp_path / "d.npz", f"{out}.npy"), "cannot write")
    if HAS_ONNX:
        refused_in_one_line(run("export", "--model", model, "-o", out))


@posix_only
@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--log-file"])
def test_a_250_byte_name_trains_and_saves(tmp_path: Path, option: str) -> None:
    path = tmp_path / LONG_BUT_LEGAL
    result = run("train", "--iterations", "20", option, path, "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert path.is_file()
    if option != "--log-file":
        Model.load(path)
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert left == []


@posix_only
def test_a_250_byte_name_for_every_other_output(model: Path, tmp_path: Path) -> None:
    out = tmp_path / LONG_BUT_LEGAL
    assert run("predict", "--model", model, "--data", "flower", "-o", out).exit_code == 0
    assert out.read_text().startswith("prediction\n")
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    npy = tmp_path / ("x" * 246 + ".npy")
    assert run("convert", tmp_path / "d.npz", npy).exit_code == 0
    assert np.load(npy).shape == (3, 3)
    if HAS_ONNX:
        assert run("export", "--model", model, "-o", out).exit_code == 0


@posix_only
def test_temporary_names_stay_within_name_max_and_stale_ones_are_removed(
        tmp_path: Path) -> None:
    target = tmp_path / LONG_BUT_LEGAL
    name = temporary_name(target)
    assert len(name.encode()) <= 255 and name.startswith(".mmm") and name.endswith(".tmp")
    assert temporary_name(tmp_path / "m.npz").startswith(".m.npz.")  # short names unchanged
    # Two long names that differ only at their end keep different temporary names.
    other = tmp_path / ("m" * 245 + "x.npz")
    assert name.split(".")[1] != temporary_name(other).split(".")[1]
    # A dead writer's temporary file of a long name is cleaned by the next write.
    dead = tmp_path / name.replace(f".{os.getpid()}.", ".999999999.")
    dead.write_bytes(b"half")
    atomic_write_bytes(target, b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [LONG_BUT_LEGAL]


@posix_only
@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--log-file"])
def test_a_300_byte_name_is_one_line(tmp_path: Path, option: str) -> None:
    result = run("train", "--iterations", "3000", option, tmp_path / TOO_LONG)
    refused_in_one_line(result, "file name is 300 bytes long", "give a shorter name")


@posix_only
def test_a_300_byte_name_is_one_line_for_every_other_output(model: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / TOO_LONG
    refused_in_one_line(run("predict", "--model", model, "--data", "flower", "-o", out),
                        "give a shorter name")
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    refused_in_one_line(run("convert", tmp_path / "d.npz", tmp_path / ("x" * 296 + ".npy")),
                        "give a shorter name")
    if HAS_ONNX:
        refused_in_one_line(run("export", "--model", model, "-o", out), "give a shorter name")


@posix_only
def test_inputs_and_directories_with_names_past_the_limit_are_one_line(model: Path,
                                                                       tmp_path: Path) -> None:
    long = str(tmp_path / ("d" * 300))
    for args in (["train", "--data", f"{long}.csv"], ["train", "--data", long],
                 ["train", "--data", f"x.npy,{long}.npy"], ["convert", f"{long}.csv", "X.npy"],
                 ["predict", "--model", model, "--data", f"{long}.csv"],
                 ["evaluate", "--model", model, "--data", f"{long}.csv"]):
        refused_in_one_line(run(*args))
    refused_in_one_line(run("train", "--save", f"{long}/m.npz"), "give a shorter path")


@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--log-file"])
def test_an_empty_output_is_refused(option: str) -> None:
    refused_in_one_line(run("train", "--iterations", "20", option, ""),
                        f"{option} is empty; give a file name")


def test_empty_outputs_of_other_commands_are_refused(model: Path, tmp_path: Path) -> None:
    refused_in_one_line(run("predict", "--model", model, "--data", "flower", "-o", ""),
                        "--output is empty")
    refused_in_one_line(run("export", "--model", model, "-o", ""), "--output is empty")
    refused_in_one_line(run("plot", "--model", model, "--loss-curve", "-o", ""),
                        "--output is empty")
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    refused_in_one_line(run("convert", tmp_path / "d.npz", ""), "OUTPUT is empty")
    with pytest.raises(NNBackendError, match="an output path is empty"):
        check_writable("")


# ---- the metrics log ---------------------------------------------------------------------


@posix_only
def test_a_log_on_a_full_device_warns_and_the_model_is_saved(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    model = tmp_path / "m.npz"
    result = run("train", "--iterations", "2000", "--save", model, "--log-file", "/dev/full",
                 "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert "training goes on without it" in warnings[0]
    Model.load(model)


class FillsUp:
    """A text file whose flushes fail with ENOSPC after ``good`` of them."""

    def __init__(self, file: object, good: int) -> None:
        self.file, self.good = file, good

    def write(self, text: str) -> int:
        return self.file.write(text)  # type: ignore[attr-defined, no-any-return]

    def flush(self) -> None:
        if self.good <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.good -= 1
        self.file.flush()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.file.close()  # type: ignore[attr-defined]


def test_a_log_that_fills_the_disk_mid_run_is_one_warning(tmp_path: Path) -> None:
    log_path = tmp_path / "run.jsonl"
    said: list[str] = []
    log = RecordLog(log_path, warn=said.append)
    original = log.on_begin

    def begin_then_fill(trainer: object) -> None:
        original(trainer)  # type: ignore[arg-type]
        log.file = FillsUp(log.file, good=2)  # type: ignore[assignment]

    log.on_begin = begin_then_fill  # type: ignore[method-assign]
    X = np.random.default_rng(0).normal(size=(64, 2))
    y = (X[:, 0] > 0).astype(int)
    fitted = Model((4,), seed=0).fit(X, y, iterations=50, print_every=5, callbacks=[log])
    assert fitted.result is not None and fitted.result.stopped_by == "completed"
    assert len(fitted.history) == 10  # the run went on, recording
    assert said == [f"cannot write the log file {log_path} (No space left on device); "
                    "training goes on without it"]
    kept = [json.loads(line)["iteration"] for line in log_path.read_text().splitlines()]
    assert kept[:2] == [0, 5] and len(kept) <= 3  # those before (the fake drops nothing)


# ---- modes ---------------------------------------------------------------------------------


@pytest.fixture(params=[0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@posix_only
def test_every_output_gets_the_mode_open_gives(tmp_path: Path, umask: int) -> None:
    save, checkpoint, log = tmp_path / "m.npz", tmp_path / "ck.npz", tmp_path / "log.jsonl"
    assert run("train", "--iterations", "20", "--save", save, "--checkpoint", checkpoint,
               "--log-file", log, "--quiet").exit_code == 0
    outputs = [save, checkpoint, log, tmp_path / "p.csv"]
    assert run("predict", "--model", save, "--data", "flower", "-o", outputs[-1]).exit_code == 0
    if HAS_ONNX:
        outputs.append(tmp_path / "m.onnx")
        assert run("export", "--model", save, "-o", outputs[-1]).exit_code == 0
    if HAS_MATPLOTLIB:
        outputs.append(tmp_path / "loss.png")
        assert run("plot", "--model", save, "--loss-curve", "-o", outputs[-1]).exit_code == 0
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    np.savez(tmp_path / "d.npz", X=np.eye(3), y=np.array([0, 1, 1]))
    assert run("convert", csv, tmp_path / "X.npy").exit_code == 0  # memory-mapped
    assert run("convert", tmp_path / "d.npz", tmp_path / "Z.npy").exit_code == 0
    outputs += [tmp_path / name for name in ("X.npy", "y.npy", "Z.npy", "Z_y.npy")]
    modes = {path.name: oct(stat.S_IMODE(os.stat(path).st_mode)) for path in outputs}
    assert modes == {path.name: oct(0o666 & ~umask) for path in outputs}
