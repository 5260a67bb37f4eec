"""Model files: round trips on every backend, atomic writes, and refusing bad files."""

from __future__ import annotations

import json
import os
import pickle
import stat
import zipfile

import numpy as np
import pytest

from nnbackend.core.backend import resolve_backend
from nnbackend.core.network import Network
from nnbackend.data.preprocessing import Standardizer
from nnbackend.errors import NNBackendError
from nnbackend.persistence import atomic
from nnbackend.persistence.atomic import atomic_write_bytes
from nnbackend.persistence.models import FORMAT_VERSION, atomic_write_text, load_model, save_model

from .helpers import assert_on_backend, tolerance

X_HOST = np.random.default_rng(5).normal(size=(40, 3))


def make_network(backend, task="multiclass", sizes=(3, 5, 4, 3), activation="relu"):
    # init "he" gives weights large enough for the predictions to differ between classes.
    return Network.create(sizes, backend, activation, task, init="he", seed=11)


def saved(tmp_path, backend=None, **kwargs):
    """A model file from a float64 NumPy multiclass network: (path, network)."""
    backend = backend or resolve_backend("cpu", "numpy", "float64")
    network = make_network(backend)
    path = tmp_path / "model.npz"
    save_model(path, network, {"lr": 0.1}, classes=["a", "b", "c"], **kwargs)
    return path, network


def rewrite(src, dest, header=None, arrays=None, drop=()):
    """Copy a model file with a changed header or arrays (a valid zip, unlike bit flips)."""
    with np.load(src, allow_pickle=False) as archive:
        content = {k: archive[k] for k in archive.files if k not in drop}
    if header is not None:
        parsed = json.loads(content["__header__"].tobytes())
        header(parsed)
        content["__header__"] = np.frombuffer(json.dumps(parsed).encode(), dtype=np.uint8)
    content.update(arrays or {})
    np.savez(dest, **content)
    return dest


def refused(match):
    return pytest.raises(NNBackendError, match=match)


# ---- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize(("task", "sizes", "classes"), [
    ("multiclass", (3, 5, 4, 3), ["setosa", "versicolor", "virginica"]),
    ("binary", (3, 4, 1), [0, 1]),
    ("regression", (3, 6, 2), None),
])
def test_round_trip_on_every_backend(backend, tmp_path, task, sizes, classes):
    network = make_network(backend, task, sizes, "tanh")
    scaler = Standardizer.fit(X_HOST)
    path = tmp_path / "m.npz"
    save_model(path, network, {"history": [{"iteration": 0, "cost": 0.69}]},
               classes=classes, standardization=scaler.to_dict())
    loaded, header = load_model(path, backend)
    assert loaded.layer_sizes == network.layer_sizes and loaded.output.task == task
    assert loaded.hidden.name == "tanh"
    for name, value in network.params.items():
        assert_on_backend(loaded.params[name], backend)
        np.testing.assert_array_equal(backend.to_host(loaded.params[name]),
                                      backend.to_host(value))
    X = backend.asarray(scaler.transform(X_HOST))
    np.testing.assert_array_equal(backend.to_host(loaded.predict(X)),
                                  backend.to_host(network.predict(X)))
    assert header["classes"] == classes and header["dtype"] == backend.dtype_name
    assert header["backend"] == backend.as_dict()
    assert header["extra"]["history"] == [{"iteration": 0, "cost": 0.69}]
    assert header["format"] == "nnbackend-model" and header["format_version"] == 1
    assert Standardizer.from_dict(header["standardization"]).mean.tolist() == \
        scaler.mean.tolist()


def test_float32_model_loads_into_float64_and_back(tmp_path):
    f32 = resolve_backend("cpu", "numpy", "float32")
    f64 = resolve_backend("cpu", "numpy", "float64")
    network = make_network(f32)
    save_model(tmp_path / "m.npz", network, classes=[0, 1, 2])
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert archive["W1"].dtype == np.float32  # stored as trained
    loaded, header = load_model(tmp_path / "m.npz", f64)
    assert header["dtype"] == "float32"
    assert_on_backend(loaded.params["W1"], f64)
    X = X_HOST
    np.testing.assert_allclose(loaded.predict_proba(X), network.predict_proba(X.astype("f4")),
                               rtol=tolerance(f32), atol=1e-6)
    save_model(tmp_path / "m64.npz", loaded)
    back, _ = load_model(tmp_path / "m64.npz", f32)
    np.testing.assert_array_equal(back.params["W2"], network.params["W2"])


def test_float64_model_loads_on_a_device_without_float64(tmp_path):
    pytest.importorskip("array_api_strict")
    path, network = saved(tmp_path)
    strict = resolve_backend("no_float64", "array-api-strict", "float32")
    loaded, _ = load_model(path, strict)
    assert_on_backend(loaded.params["b1"], strict)
    np.testing.assert_allclose(strict.to_host(loaded.predict_proba(strict.asarray(X_HOST))),
                               network.predict_proba(X_HOST), rtol=1e-5, atol=1e-6)


def test_extra_accepts_numpy_values_and_nan(tmp_path):
    network = make_network(resolve_backend("cpu", "numpy", "float64"))
    save_model(tmp_path / "m.npz", network, {"lr": np.float32(0.5), "seeds": np.arange(2),
                                             "history": [{"cost": float("nan")}]})
    _, header = load_model(tmp_path / "m.npz", network.backend)
    assert header["extra"]["lr"] == 0.5 and header["extra"]["seeds"] == [0, 1]
    assert np.isnan(header["extra"]["history"][0]["cost"])


def test_load_never_unpickles(tmp_path, monkeypatch):
    path, _ = saved(tmp_path)
    bad = rewrite(path, tmp_path / "obj.npz",
                  arrays={"W1": np.array([[{"x": 1}]] * 5, dtype=object)})

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle was called")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    load_model(path, resolve_backend("cpu", "numpy"))
    with refused(r"corrupted or truncated \(W1\): it holds Python objects, which nnbackend "
                 r"never unpickles; save the model again$"):
        load_model(bad, resolve_backend("cpu", "numpy"))


# ---- atomic writes -------------------------------------------------------------------


def test_failed_save_leaves_the_old_file_byte_identical(tmp_path, monkeypatch):
    path, network = saved(tmp_path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a model")
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        save_model(path, network)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_failed_rename_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path, network = saved(tmp_path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with refused(r"^cannot write .*model\.npz: No space left on device; check the path"):
        save_model(path, make_network(network.backend, sizes=(3, 2, 3)))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    monkeypatch.undo()
    load_model(path, network.backend)


def test_missing_directory_and_directory_target(tmp_path):
    network = make_network(resolve_backend("cpu", "numpy"))
    with refused(r"^cannot write .*nowhere/m\.npz: the directory .*nowhere does not exist; "
                 r"create it first$"):
        save_model(tmp_path / "nowhere" / "m.npz", network)
    with refused(r"it is a directory"):
        save_model(tmp_path, network)


def test_atomic_write_text_and_permissions(tmp_path):
    target = tmp_path / "p.csv"
    atomic_write_text(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    plain = tmp_path / "plain"
    plain.write_text("x")  # what open() gives under the current umask
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "plain"]


# ---- refusing bad files --------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file(tmp_path, keep):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with refused(r"^model file .*model\.npz is corrupted or truncated.*; save the model "
                 r"again$"):
        load_model(path, resolve_backend("cpu", "numpy"))


@pytest.mark.parametrize("member", ["W1.npy", "b2.npy", "__header__.npy"])
def test_flipped_byte(tmp_path, member):
    path, _ = saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.file_size - 3] ^= 0x01  # near the end: array data or header JSON
    path.write_bytes(bytes(data))
    # The zip CRC-32 catches it before the checksum does.
    with refused(rf"model\.npz is corrupted or truncated \({member[:-4]}\): .*; save the "
                 "model again$"):
        load_model(path, resolve_backend("cpu", "numpy"))


def test_changed_parameter_fails_the_checksum(tmp_path):
    path, network = saved(tmp_path)
    W1 = network.params["W1"].copy()
    W1[0, 0] += 1e-12
    rewrite(path, path, arrays={"W1": W1})
    with refused(r"^checksum mismatch in model file .*model\.npz: it was changed or "
                 r"corrupted after saving; save the model again$"):
        load_model(path, network.backend)


@pytest.mark.parametrize("edit", [
    lambda h: h.update(task="regression", classes=None),
    lambda h: h.update(hidden_activation="sigmoid"),
    lambda h: h["extra"].update(lr=0.2),
    lambda h: h.update(classes=["a", "c", "b"]),
])
def test_tampered_header_fails_the_checksum(tmp_path, edit):
    path, network = saved(tmp_path)
    rewrite(path, path, header=edit)
    with refused(r"^checksum mismatch"):
        load_model(path, network.backend)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda h: h.update(format_version=2), r"has format version 2; nnbackend .* reads "
                                           r"version 1; upgrade nnbackend$"),
    (lambda h: h.update(format_version="1"), r"format version '1'.*save the model again$"),
    (lambda h: h.update(format="keras"), r"is not an nnbackend model file \(format 'keras'\)"),
    (lambda h: h.update(layer_sizes=[3, 5, 4, 0]), r"invalid header \(layer_sizes"),
    (lambda h: h.update(task="ranking"), r"invalid header \(task 'ranking'\)"),
    (lambda h: h.update(hidden_activation="swish"), r"invalid header \(hidden_activation"),
    (lambda h: h.update(dtype="float16"), r"invalid header \(dtype 'float16'\)"),
    (lambda h: h.pop("checksum"), r"invalid header \(no sha256 checksum\)"),
    (lambda h: h.update(classes=["a"]), r"invalid header \(classes \['a'\] for a "
                                        r"multiclass model with 3 output"),
    (lambda h: h.update(standardization={"kind": "standardize", "mean": [0.0],
                                         "scale": [1.0]}),
     r"standardization has 1 features, the network 3"),
    (lambda h: h.update(layer_sizes=[3, 4, 5, 3]), r"parameter W1 is float64 \(5, 3\), the "
                                                   r"header says float64 \(4, 3\)"),
    (lambda h: h.update(dtype="float32"), r"parameter W1 is float64 .* header says float32"),
    (lambda h: h.update(layer_sizes=[3, 5, 3]), r"has unexpected entries W3, b3"),
])
def test_invalid_headers(tmp_path, edit, match):
    path, network = saved(tmp_path)
    rewrite(path, path, header=edit)
    with refused(match) as info:
        load_model(path, network.backend)
    assert "\n" not in str(info.value)
    assert FORMAT_VERSION == 1


def test_missing_and_misshaped_parameters(tmp_path):
    path, network = saved(tmp_path)
    rewrite(path, tmp_path / "missing.npz", drop=("b2",))
    with refused(r"^model file .*missing\.npz is missing parameter b2; save the model again$"):
        load_model(tmp_path / "missing.npz", network.backend)
    rewrite(path, tmp_path / "shape.npz", arrays={"b1": np.zeros(5)})
    with refused(r"parameter b1 is float64 \(5,\), the header says float64 \(5, 1\)"):
        load_model(tmp_path / "shape.npz", network.backend)


def test_files_that_are_not_models(tmp_path):
    backend = resolve_backend("cpu", "numpy")
    np.savez(tmp_path / "data.npz", X=np.ones((2, 2)), y=np.zeros(2))
    with refused(r"data\.npz is not an nnbackend model file \(no __header__\); give a file "
                 r"written by nnbackend$"):
        load_model(tmp_path / "data.npz", backend)
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"W1": [1.0]}))
    with refused(r"p\.npz is not an nnbackend model file \(not an \.npz archive\)"):
        load_model(tmp_path / "p.npz", backend)
    with refused(r"^model file .*none\.npz not found; check the path$"):
        load_model(tmp_path / "none.npz", backend)
    with refused(r"is a directory; give the model file"):
        load_model(tmp_path, backend)
    path, _ = saved(tmp_path)
    with np.load(path, allow_pickle=False) as archive:
        content = {k: archive[k] for k in archive.files}
    content["__header__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(tmp_path / "junk.npz", **content)
    with refused(r"junk\.npz has an unreadable header \("):
        load_model(tmp_path / "junk.npz", backend)
