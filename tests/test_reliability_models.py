"""Model files and checkpoints that are corrupted, forged or odd: one line each, never a
traceback and never a wrong model; the bytes API; the write lock and stale temporaries."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbackend.core.backend import host_rng
from nnbackend.core.network import Network
from nnbackend.errors import NNBackendError
from nnbackend.persistence import models
from nnbackend.persistence.atomic import atomic_write_bytes, exclusive
from nnbackend.persistence.checkpoints import load_checkpoint, save_checkpoint
from nnbackend.persistence.models import (
    load_model,
    model_from_bytes,
    model_to_bytes,
    read_model,
    save_model,
)
from nnbackend.training.trainer import Trainer, TrainingOptions

X = np.random.default_rng(2).normal(size=(24, 3))
Y = (X[:, :1].T > 0).astype(float)


def small_network(backend, task="multiclass", sizes=(3, 4, 3)):
    return Network.create(sizes, backend, "tanh", task, init="he", seed=5)


def small_trainer(backend):
    """A mid-run Adam trainer with early-stopping state: every kind of checkpoint field."""
    network = small_network(backend, "binary", (3, 4, 1))
    options = TrainingOptions(optimizer="adam", learning_rate=0.01, batch_size=8, epochs=3,
                              patience=5)
    data = backend.asarray(X), backend.asarray(Y)
    trainer = Trainer(network, *data, options, host_rng(1), data)
    trainer.on_step = lambda t: t.request_stop() if t.state.step == 4 else None
    trainer.run()
    return trainer


def archive_contents(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def forge(path, edit, dest=None):
    """Rewrite a model file with an edited header and a RECOMPUTED checksum: what a forger
    (or a buggy tool) could produce; only the schema check stands in the way."""
    content = archive_contents(path)
    header = json.loads(content.pop(models.HEADER_KEY).tobytes())
    header.pop("checksum")
    edit(header)
    names = [key for key in content if not key.startswith(models.STATE_PREFIX)]
    params = {key: content[key] for key in names}
    extras = {key: value for key, value in content.items() if key not in params}
    try:
        digest = models._digest(header, params, extras)
    except (TypeError, ValueError, RecursionError):
        digest = "0" * 64  # the header cannot even be hashed: the schema check comes first
    header["checksum"] = {"algorithm": "sha256", "value": digest}
    content[models.HEADER_KEY] = np.frombuffer(_dumps(header), dtype=np.uint8)
    np.savez(dest or path, **content)
    return dest or path


def _dumps(header) -> bytes:
    try:
        return json.dumps(header).encode()
    except RecursionError:
        return b"[" * 100_000 + b"]" * 100_000


def assert_same(loaded_params, header, original_params, original_header):
    assert header == original_header
    for name, value in original_params.items():
        np.testing.assert_array_equal(loaded_params[name], value)


# ---- the bytes API ---------------------------------------------------------------------


def test_model_bytes_round_trip_on_every_backend(backend, tmp_path):
    network = small_network(backend)
    data = model_to_bytes(network, {"note": "pickled"}, classes=["a", "b", "c"])
    save_model(tmp_path / "m.npz", network, {"note": "pickled"}, classes=["a", "b", "c"])
    assert data == (tmp_path / "m.npz").read_bytes()  # one serialisation path
    loaded, header = model_from_bytes(data, backend)
    assert header["classes"] == ["a", "b", "c"] and header["extra"] == {"note": "pickled"}
    for name, value in network.params.items():
        np.testing.assert_array_equal(backend.to_host(loaded.params[name]),
                                      backend.to_host(value))


def test_corrupted_model_bytes_are_refused_in_one_line(reference):
    network = small_network(reference)
    data = bytearray(model_to_bytes(network))
    with pytest.raises(NNBackendError, match=r"^model bytes are not an nnbackend model"):
        model_from_bytes(b"not a zip", reference)
    data[data.find(network.params["W1"].tobytes()) + 5] ^= 0x40  # inside W1's values
    with pytest.raises(NNBackendError, match=r"^(checksum mismatch in model bytes|model bytes "
                       r"(is corrupted|has an))"):
        model_from_bytes(bytes(data), reference)


# ---- forged headers with a valid checksum ---------------------------------------------


@pytest.mark.parametrize(("edit", "match"), [
    (lambda h: h.update(classes=[[1, 2], [3], 4]), r"classes .* are not a flat list"),
    (lambda h: h.update(classes=["a", "a", "b"]), r"classes .* repeat a label"),
    (lambda h: h.update(classes={"a": 1}), r"classes \{'a': 1\} for a multiclass model"),
    (lambda h: h["extra"].update(history=[1, 2]), r"extra\.history is not a list of records"),
    (lambda h: h["extra"].update(history=[{"cost": "low"}]), r"extra\.history"),
    (lambda h: h.update(layer_sizes=[3, True, 3]), r"layer_sizes \[3, true, 3\]|layer_sizes"),
    (lambda h: h.update(task=["binary"]), r"task \['binary'\]"),
    (lambda h: h.update(hidden_activation=None), r"hidden_activation None"),
    (lambda h: h.update(backend="numpy"), r"backend 'numpy'"),
    (lambda h: h.update(nnbackend_version=1), r"nnbackend_version 1"),
    (lambda h: h.update(standardization=[1, 2]), r"standardization is malformed"),
    (lambda h: h.update(standardization={"kind": "standardize", "mean": [[0.0]] * 3,
                                         "scale": [[1.0]] * 3}),
     r"standardization is malformed"),
    (lambda h: h.update(extra=[]), r"extra is not an object"),
    (lambda h: h.update(format_version=True), r"has format version True"),
    (lambda h: h["extra"].update(deep=json.loads("[" * 40 + "]" * 40)),
     r"unreadable header \(nested more than 32 levels deep\)"),
])
def test_forged_headers_are_refused_in_one_line(tmp_path, reference, edit, match):
    path = tmp_path / "m.npz"
    save_model(path, small_network(reference), {"history": [{"iteration": 0, "cost": 1.0}]},
               classes=["a", "b", "c"])
    forge(path, edit)
    with pytest.raises(NNBackendError, match=match) as info:
        load_model(path, reference)
    assert "\n" not in str(info.value) and "save the model again" in str(info.value)


def test_a_header_nested_beyond_the_parser_is_one_line(tmp_path, reference):
    path = tmp_path / "m.npz"
    save_model(path, small_network(reference))
    content = archive_contents(path)
    content[models.HEADER_KEY] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)
    np.savez(path, **content)
    with pytest.raises(NNBackendError, match=r"has an unreadable header \(nested too deeply\)"):
        load_model(path, reference)


def test_parameter_shapes_are_checked_before_their_data_is_read(tmp_path, reference,
                                                                 monkeypatch):
    """A W1 whose .npy header declares 80 GB is refused from its header alone."""
    path = tmp_path / "m.npz"
    save_model(path, small_network(reference))
    content = archive_contents(path)
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in content.items():
            buffer = io.BytesIO()
            np.save(buffer, value)
            raw = buffer.getvalue()
            if key == "W1":
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**5)})
                raw = header.getvalue()
            archive.writestr(f"{key}.npy", raw)
    read = []
    real = models.NpzArchive.read
    monkeypatch.setattr(models.NpzArchive, "read",
                        lambda self, key: read.append(key) or real(self, key))
    with pytest.raises(NNBackendError, match=r"parameter W1 is float64 \(100000, 100000\), "
                       r"the header says float64 \(4, 3\); save the model again$"):
        load_model(path, reference)
    assert read == [models.HEADER_KEY]  # no parameter's data was read


def test_a_device_behind_a_symlink_is_not_a_model(tmp_path, reference):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    (tmp_path / "m.npz").symlink_to("/dev/zero")
    with pytest.raises(NNBackendError, match=r"^model path .*m\.npz is not a regular file "
                       r"\(a device, pipe or socket\); give the model file$"):
        load_model(tmp_path / "m.npz", reference)


# ---- checkpoints: forged counters, the earlier format ---------------------------------


@pytest.mark.parametrize(("edit", "match"), [
    (lambda c: c.pop("step"), r"counter step is None, not a count"),
    (lambda c: c.update(epoch="1"), r"counter epoch is '1'"),
    (lambda c: c.update(bad_records=-1), r"counter bad_records is -1"),
    (lambda c: c.pop("optimizer_state"), r"optimizer_state is missing"),
    (lambda c: c.update(best_record=[1]), r"best_record is not an object of numbers"),
    (lambda c: c.update(epoch_totals={"examples": 1.5}), r"counter examples is 1\.5"),
    (lambda c: c.update(elapsed="soon"), r"elapsed is 'soon', not a number"),
    (lambda c: c.pop("rng"), r"random generator's state is missing"),
    (lambda c: c["rng"].update(pos=10**30), r"random generator state"),
])
def test_forged_checkpoint_counters_are_refused_in_one_line(tmp_path, reference, edit, match):
    path = tmp_path / "c.npz"
    save_checkpoint(path, small_trainer(reference), {"data": "test"})
    forge(path, lambda h: edit(h["extra"]["checkpoint"]))
    with pytest.raises(NNBackendError, match=match) as info:
        load_checkpoint(path, reference)
    assert "\n" not in str(info.value)


def test_forged_checkpoint_arrays_are_refused(tmp_path, reference):
    path = tmp_path / "c.npz"
    save_checkpoint(path, small_trainer(reference), {"data": "test"})
    content = archive_contents(path)
    content["state.opt.vdW1"] = np.zeros((2, 2))
    content["state.order"] = np.zeros(24, dtype=np.int64)
    np.savez(tmp_path / "shape.npz", **{k: v for k, v in content.items() if k != "state.order"})
    forge(tmp_path / "shape.npz", lambda h: None)
    with pytest.raises(NNBackendError, match=r"state array opt\.vdW1 is \(2, 2\), parameter "
                       r"W1 \(4, 3\)"):
        load_checkpoint(tmp_path / "shape.npz", reference)
    content = archive_contents(path)
    content["state.order"] = np.zeros(24, dtype=np.int64)
    np.savez(tmp_path / "order.npz", **content)
    forge(tmp_path / "order.npz", lambda h: None)
    with pytest.raises(NNBackendError, match=r"state array order is not a permutation"):
        load_checkpoint(tmp_path / "order.npz", reference)


def test_a_checkpoint_of_the_first_format_still_resumes(tmp_path, reference):
    """Counters as the first checkpoint format wrote them (flat optimizer_t and
    epoch_examples, no nested objects) load into the same state."""
    trainer = small_trainer(reference)
    path = tmp_path / "c.npz"
    save_checkpoint(path, trainer, {"data": "test"})

    def flatten(header):
        counters = header["extra"]["checkpoint"]
        counters["optimizer_t"] = counters.pop("optimizer_state")["t"]
        counters["epoch_examples"] = counters.pop("epoch_totals")["examples"]
        counters.pop("best_params")

    forge(path, flatten, tmp_path / "old.npz")
    _, _, new, _ = load_checkpoint(path, reference)
    _, _, old, _ = load_checkpoint(tmp_path / "old.npz", reference)
    assert old.optimizer_state["t"] == new.optimizer_state["t"] == trainer.state.step
    assert old.epoch_totals.examples == new.epoch_totals.examples
    assert sorted(old.best_params) == sorted(new.best_params)
    for name in new.optimizer_state:
        np.testing.assert_array_equal(old.optimizer_state[name], new.optimizer_state[name])


def test_checkpoint_state_round_trips_on_every_backend(backend, tmp_path):
    trainer = small_trainer(backend)
    save_checkpoint(tmp_path / "c.npz", trainer, {"data": "test"})
    _, _, state, rng = load_checkpoint(tmp_path / "c.npz", backend)
    before = trainer.state
    assert (state.step, state.epoch, state.batch_start, state.bad_records) == (
        before.step, before.epoch, before.batch_start, before.bad_records)
    assert state.best_cost == before.best_cost and state.history == before.history
    np.testing.assert_array_equal(state.order, before.order)
    assert isinstance(state.order, np.ndarray)  # the permutation stays on the host
    for name, value in before.optimizer_state.items():
        ours = state.optimizer_state[name]
        assert (ours == value) if name == "t" else np.array_equal(
            backend.to_host(ours), backend.to_host(value))
    assert rng.get_state()[2] == trainer.rng.get_state()[2]


# ---- mutation: every flipped byte is refused or harmless ------------------------------


def flips(path, count, seed):
    """``count`` seeded (offset, xor mask) pairs over the whole file."""
    size = path.stat().st_size
    chooser = random.Random(seed)
    return [(chooser.randrange(size), 1 << chooser.randrange(8)) for _ in range(count)]


def test_flipped_bytes_of_a_model_are_refused_or_harmless(tmp_path, reference):
    path = tmp_path / "m.npz"
    save_model(path, small_network(reference), {"history": [{"iteration": 0, "cost": 1.0}]},
               classes=["a", "b", "c"])
    header, params, _ = read_model(path)
    data = path.read_bytes()
    refused = 0
    for offset, mask in flips(path, 400, seed=11):
        damaged = bytearray(data)
        damaged[offset] ^= mask
        try:
            flipped_header, flipped_params, _ = read_model(bytes(damaged))
        except NNBackendError:
            refused += 1
            continue
        assert_same(flipped_params, flipped_header, params, header)  # a byte never read
    assert refused > 300  # nearly every byte matters


def test_flipped_bytes_of_a_checkpoint_are_refused_or_harmless(tmp_path, reference):
    path = tmp_path / "c.npz"
    save_checkpoint(path, small_trainer(reference), {"data": "test"})
    _, header, state, _ = load_checkpoint(path, reference)
    data = path.read_bytes()
    for offset, mask in flips(path, 250, seed=12):
        damaged = bytearray(data)
        damaged[offset] ^= mask
        (tmp_path / "d.npz").write_bytes(bytes(damaged))
        try:
            _, flipped_header, flipped, _ = load_checkpoint(tmp_path / "d.npz", reference)
        except NNBackendError:
            continue
        assert flipped_header == header and flipped.step == state.step
        np.testing.assert_array_equal(flipped.order, state.order)


@settings(max_examples=150, deadline=None)
@given(header=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["layer_sizes", "task", "classes", "extra", "history", "dtype",
                         "standardization", "checksum", "format", "format_version", "x"]),
        inner, max_size=6),
    max_leaves=20))
def test_any_json_header_is_refused_in_one_line(header):
    """Whatever a header parses to, the reader answers with one line (or accepts it)."""
    if isinstance(header, dict):
        header = {"format": models.FORMAT_NAME, "format_version": models.FORMAT_VERSION,
                  **header}
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    try:
        models._parse_header("model file m.npz", raw)
    except NNBackendError as exc:
        assert "\n" not in str(exc)


# ---- the write lock -------------------------------------------------------------------


def test_a_second_writer_of_one_path_is_refused(tmp_path):
    target = tmp_path / "run.npz"
    with exclusive(target):
        with pytest.raises(NNBackendError, match=r"^.*run\.npz is being written by another "
                           r"nnbackend run \(lock .*\.run\.npz\.lock\); wait for it to "
                           r"finish, or give another path$"):
            with exclusive(target):
                pass
        other = subprocess.run(
            [sys.executable, "-c", "from nnbackend.persistence.atomic import exclusive\n"
             f"with exclusive({str(target)!r}): pass"], capture_output=True, text=True,
            check=False)
        assert other.returncode != 0 and "is being written by another" in other.stderr
    with exclusive(target):  # released: free again
        atomic_write_bytes(target, b"done")
    assert target.read_bytes() == b"done"


def test_a_lock_dies_with_its_holder(tmp_path):
    target = tmp_path / "run.npz"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom nnbackend.persistence.atomic import "
         f"exclusive\nwith exclusive({str(target)!r}):\n print('held', flush=True)\n "
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(NNBackendError, match="is being written by another"):
        with exclusive(target):
            pass
    holder.kill()
    holder.wait()
    with exclusive(target):
        pass
