"""Data files that are hostile, huge or odd: one line each, never a traceback, bounded
memory; and the readers' small conveniences (delimiters, long fields, commas in names)."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnbackend.core.backend import resolve_backend
from nnbackend.data import arrayfiles
from nnbackend.data.encoding import encode_targets, infer_task
from nnbackend.data.files import read_data_file, read_features
from nnbackend.errors import NNBackendError

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def forged_npy(shape: tuple[int, ...], data: bytes = b"", descr: str = "<f8") -> bytes:
    """A ``.npy`` whose header declares ``shape`` but holds only ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def valid_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, X=np.arange(12.0).reshape(6, 2), y=np.array([0, 1, 0, 1, 1, 0]))
    return buffer.getvalue()


def one_result_or_error(read, *args):
    """Run a reader: a valid ``(X, y)`` or an NNBackendError of one line, nothing else."""
    try:
        X, y = read(*args)
    except NNBackendError as exc:
        assert "\n" not in str(exc)
        return None
    assert X.ndim == 2 and X.dtype == np.float64 and np.isfinite(X).all()
    assert y is None or y.shape[0] == X.shape[0]
    return X, y


# ---- property tests: any input -> a result or one line -------------------------------


@FAST
@given(text=st.text(alphabet=st.sampled_from(list('0123456789.,;\t|"-eanif xy\n\r')),
                    max_size=200))
def test_any_csv_text_reads_or_fails_in_one_line(tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    one_result_or_error(read_data_file, str(path))


@FAST
@given(data=st.data())
def test_any_mutation_of_an_npz_reads_or_fails_in_one_line(tmp_path, data):
    raw = bytearray(valid_npz())
    for _ in range(data.draw(st.integers(1, 4))):
        offset = data.draw(st.integers(0, len(raw) - 1))
        raw[offset] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    path = tmp_path / "d.npz"
    path.write_bytes(bytes(raw[:cut]))
    one_result_or_error(read_data_file, str(path))
    one_result_or_error(read_features, str(path), 2)


@FAST
@given(data=st.data())
def test_any_mutation_of_an_npy_pair_reads_or_fails_in_one_line(tmp_path, data):
    features = bytearray(npy_bytes(np.arange(8.0).reshape(4, 2)))
    offset = data.draw(st.integers(0, len(features) - 1))
    features[offset] = data.draw(st.integers(0, 255))
    (tmp_path / "X.npy").write_bytes(bytes(features))
    labels = npy_bytes(np.array([0, 1, 0, 1]))
    (tmp_path / "y.npy").write_bytes(labels[:data.draw(st.integers(0, len(labels)))])
    one_result_or_error(read_data_file, str(tmp_path / "X.npy"))
    one_result_or_error(read_data_file, f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}")


@FAST
@given(shape=st.lists(st.integers(0, 10**12), min_size=1, max_size=3),
       descr=st.sampled_from(["<f8", "<i4", "|u1", "<U3", "|O", "<c16"]),
       extra=st.binary(max_size=64))
def test_any_npy_header_reads_or_fails_in_one_line(tmp_path, shape, descr, extra):
    (tmp_path / "X.npy").write_bytes(forged_npy(tuple(shape), extra, descr))
    one_result_or_error(read_features, str(tmp_path / "X.npy"), 2)


# ---- bounded memory ------------------------------------------------------------------


def test_a_tiny_npy_declaring_terabytes_is_refused_before_allocating(tmp_path):
    (tmp_path / "X.npy").write_bytes(forged_npy((10**11, 2), b"\0" * 16))
    np.save(tmp_path / "y.npy", np.zeros(3))
    with pytest.raises(NNBackendError, match=r"^cannot read .*X\.npy: it declares float64 "
                       r"\(100000000000, 2\) \(1\.6 TB\) but holds only 16 bytes of data; "
                       r"the file is truncated or damaged; write it again$"):
        read_data_file(str(tmp_path / "X.npy"))


def test_an_npz_member_declaring_more_than_the_file_holds_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as archive:
        archive.writestr("X.npy", forged_npy((10**6, 1000), b"\0" * 64))
        archive.writestr("y.npy", npy_bytes(np.zeros(3)))
    with pytest.raises(NNBackendError, match=r"array X in .*d\.npz: it declares float64 "
                       r"\(1000000, 1000\) \(8\.0 GB\) but holds only 64 bytes"):
        read_data_file(str(tmp_path / "d.npz"))


def test_an_inflating_npz_member_is_refused(tmp_path, monkeypatch):
    # The floor keeps small, well-compressing arrays readable; lowered here so that a
    # small test file shows the rule (the real floor is 64 MiB).
    monkeypatch.setattr(arrayfiles, "INFLATION_FLOOR", 1000)
    np.savez_compressed(tmp_path / "d.npz", X=np.zeros((2000, 10)), y=np.zeros(2000))
    with pytest.raises(NNBackendError, match=r"array X in .*d\.npz: it declares float64 "
                       r"\(2000, 10\) \(160\.0 kB\), more than 100 times its compressed "
                       r".*; a zip bomb, or data that compresses unusually well; save it "
                       r"uncompressed \(numpy\.savez\) or as \.npy files$"):
        read_data_file(str(tmp_path / "d.npz"))
    monkeypatch.undo()
    X, _ = read_data_file(str(tmp_path / "d.npz"))  # below the floor: read
    assert X.shape == (2000, 10)


def test_more_than_the_available_memory_is_refused(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", X=np.ones((100, 4)), y=np.zeros(100))
    monkeypatch.setattr(arrayfiles, "available_memory", lambda: 1000)
    with pytest.raises(NNBackendError, match=r"array X in .*d\.npz: it declares float64 "
                       r"\(100, 4\) \(3\.2 kB\), more than the 1\.0 kB of memory available; "
                       r"use less data, or \.npy files"):
        read_data_file(str(tmp_path / "d.npz"))


def test_a_memory_error_while_reading_is_one_line(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", X=np.ones((10, 4)), y=np.zeros(10))

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(arrayfiles, "_read_data", no_memory)
    with pytest.raises(NNBackendError, match=r"array X in .*d\.npz: NumPy could not "
                       r"allocate its memory; use less data"):
        read_data_file(str(tmp_path / "d.npz"))


def test_available_memory_is_a_positive_count_or_unknown():
    free = arrayfiles.available_memory()
    assert free is None or free > 0


def test_npy_features_are_memory_mapped_and_train(tmp_path, backend):
    X = np.random.default_rng(0).normal(size=(64, 3))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] > 0).astype(int))
    features, labels = read_data_file(str(tmp_path / "X.npy"))
    assert isinstance(features, np.memmap)
    np.testing.assert_array_equal(features, X)
    # The loop gathers rows with take: a memory map serves it like an array.
    rows = backend.xp.take(backend.asarray(features), backend.asarray([3, 7], "int64"), axis=0)
    np.testing.assert_allclose(backend.to_host(rows), X[[3, 7]], rtol=1e-6)
    assert read_features(str(tmp_path / "X.npy"), 3)[0].shape == (64, 3)
    features[0, 0] = 99.0  # copy-on-write: the user's file never changes
    assert np.load(tmp_path / "X.npy")[0, 0] == X[0, 0]


# ---- corrupted zip structures ---------------------------------------------------------


def patched_central_directory(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with ``value`` written at ``offset`` of every central directory entry."""
    raw = bytearray(data)
    start = raw.find(b"PK\x01\x02")
    while start >= 0:
        raw[start + offset:start + offset + len(value)] = value
        start = raw.find(b"PK\x01\x02", start + 4)
    return bytes(raw)


@pytest.mark.parametrize(("offset", "value", "what"), [
    (8, struct.pack("<H", 1), "is encrypted"),                 # RuntimeError
    (10, struct.pack("<H", 99), "compression method"),         # NotImplementedError
    (8, struct.pack("<H", 1 << 5), "compressed patched data"),  # NotImplementedError
])
def test_zip_structures_zipfile_cannot_read_are_one_line(tmp_path, offset, value, what):
    path = tmp_path / "d.npz"
    path.write_bytes(patched_central_directory(valid_npz(), offset, value))
    with pytest.raises(NNBackendError, match=rf"^cannot read array X in .*d\.npz: the file "
                       rf"is corrupted or truncated \(.*{what}.*\); write it again$"):
        read_data_file(str(path))


# ---- CSV conveniences -----------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiter_is_detected_when_the_header_has_no_comma(tmp_path, delimiter):
    text = delimiter.join(["a", "b", "y"]) + "\n" + "\n".join(
        delimiter.join(row) for row in (["1.5", "2", "0"], ["3", "-4", "1"])) + "\n"
    (tmp_path / "d.csv").write_text(text)
    X, y = read_data_file(str(tmp_path / "d.csv"))
    np.testing.assert_array_equal(X, [[1.5, 2.0], [3.0, -4.0]])
    assert y.tolist() == [0, 1]


def test_decimal_commas_are_named(tmp_path):
    (tmp_path / "d.csv").write_text("a;b;y\n1,5;2;0\n3;4;1\n")
    with pytest.raises(NNBackendError, match=r"not numeric \('1,5' on line 2\) \(a decimal "
                       r"comma\? write numbers with a decimal point\)"):
        read_data_file(str(tmp_path / "d.csv"))


def test_a_200000_character_field_is_read_not_blamed_on_quoting(tmp_path):
    (tmp_path / "d.csv").write_text("a,y\n" + "7" * 200_000 + ",cat\n1,dog\n")
    with pytest.raises(NNBackendError, match=r"feature column 'a' .* has inf on line 2"):
        read_data_file(str(tmp_path / "d.csv"))
    (tmp_path / "t.csv").write_text("a,y\n1," + "x" * 200_000 + "\n2,dog\n")
    _, y = read_data_file(str(tmp_path / "t.csv"))
    assert len(y[0]) == 200_000


def test_a_field_beyond_the_limit_says_so(tmp_path, monkeypatch):
    from nnbackend.data import csvfiles

    monkeypatch.setattr(csvfiles, "MAX_FIELD", 1000)
    (tmp_path / "d.csv").write_text("a,y\n" + "7" * 200_000 + ",0\n1,1\n")
    with pytest.raises(NNBackendError, match=r"^malformed CSV .*d\.csv: line 2 has a field of "
                       r"more than 1,000 characters \(an unclosed quote, or not a table of "
                       r"numbers\); fix that line$"):
        read_data_file(str(tmp_path / "d.csv"))


def test_a_file_name_with_a_comma_is_a_name(tmp_path):
    np.save(tmp_path / "a,b.npy", np.ones((3, 2)))
    np.save(tmp_path / "a,b_y.npy", np.array([0, 1, 0]))
    X, y = read_data_file(str(tmp_path / "a,b.npy"))
    assert X.shape == (3, 2) and y.tolist() == [0, 1, 0]
    with pytest.raises(NNBackendError, match=r"data file .*x,y\.csv not found"):
        read_data_file(str(tmp_path / "x,y.csv"))


# ---- labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(("y", "task"), [
    (2.0**53 + 2.0 * np.arange(50), "regression"),         # whole floats beyond 2**53
    (np.arange(1000, 1100), "regression"),                 # integer prices: all distinct
    (np.repeat(np.arange(30), 3), "multiclass"),           # 30 classes of 3 examples
    (np.arange(8) % 7, "multiclass"),                      # few values: classes
])
def test_whole_numbers_are_classes_only_when_they_look_like_classes(y, task):
    assert infer_task(y) == task


def test_a_single_class_names_the_fix():
    with pytest.raises(NNBackendError, match=r"found only \[1\]; check that the target "
                       r"column holds the labels, or add examples of another class$"):
        encode_targets(np.array([1, 1, 1]))


def test_resolve_backend_takes_none_as_auto():
    assert resolve_backend(None, None) == resolve_backend("auto", "auto")
    with pytest.raises(NNBackendError, match=r"^device must be a name such as 'auto' or "
                       r"'cpu', not int 3$"):
        resolve_backend(3)  # type: ignore[arg-type]
