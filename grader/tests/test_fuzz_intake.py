"""Fuzzing the intake checks (issue #7): any upload is accepted, or refused with a clear reason.

- ``grader.intake.check_model_file`` (a student's ``.keras``): arbitrary zip archives (member
  names, contents, compression, flags, duplicates), valid archives with bytes flipped, cut
  short or spliced, any file name and any size limit. It returns an ``IntakeReport`` or raises
  ``IntakeError`` with a French and an English message and a rule of its own: never another
  exception, and never the fail-closed ``unreadable`` catch-all, which would mean that a case
  slipped past every rule (test_intake.py holds the same bar);
- ``grader.datasets.load_test_set`` (a teacher's ``.npz``): arbitrary bytes, zip archives of
  arbitrary members, and ``.npy`` members with any header (dtype, order, shape, even a shape
  far larger than the data) and any data. It returns arrays that keep its documented promises,
  or raises ``TestSetError`` with a French and an English message.

Pure functions on files in a temporary folder: no database, no Keras.
"""
from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from grader.datasets import MAX_TEST_IMAGES, MIN_TEST_IMAGES, TestSetError, load_test_set
from grader.intake import (
    HDF5_SIGNATURE,
    MAX_PARAMS,
    IntakeError,
    IntakeReport,
    check_model_file,
)

from .strategies import json_like
from .test_intake import FAKE_WEIGHTS, small_cnn_config, write_archive

pytestmark = pytest.mark.fuzz

# STRIDE_FUZZ_SCALE=10 for a long run (ten times the examples).
FUZZ = settings(max_examples=int(120 * float(os.environ.get("STRIDE_FUZZ_SCALE", "1"))), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
MAX_BYTES = 20 * 2**20


def _event(name: str) -> None:
    """Count outcomes (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(name)


def assert_clear(error: Exception) -> None:
    message = error.message
    for lang in ("fr", "en"):
        assert isinstance(message.get(lang), str) and message[lang].strip(), message


def intake(path: Path, *, filename: str = "model.keras", max_bytes: int = MAX_BYTES):
    """The report, or the IntakeError; anything else fails the test."""
    try:
        report = check_model_file(path, filename=filename, max_bytes=max_bytes)
    except IntakeError as error:
        _event(f"refused: {error.code}")
        assert_clear(error)
        assert error.code and error.code != "unreadable", (error.code, repr(error.__cause__))
        return error
    _event("accepted")
    assert isinstance(report, IntakeReport)
    assert report.estimated_params <= MAX_PARAMS
    assert set(report.members) <= {"config.json", "metadata.json", "model.weights.h5"}
    json.dumps(report.config)
    return report


def scratch(tmp_path_factory, name: str) -> Path:
    return tmp_path_factory.mktemp("fuzz") / name


# ----------------------------------------------------------------------------- archives

GOOD_CONFIG = json.dumps(small_cnn_config()).encode()
GOOD_META = json.dumps({"keras_version": "3.15.1", "date_saved": "today"}).encode()
MEMBER_NAMES = st.one_of(
    st.sampled_from(["config.json", "metadata.json", "model.weights.h5", "assets/", "assets/x.txt",
                     "../config.json", "/config.json", "C:config.json", "a\\b", "config.json/",
                     "variables.h5", "model.weights.h5.bak", "config.JSON", ""]),
    st.text(min_size=1, max_size=12),
)
MEMBER_DATA = st.one_of(
    st.just(GOOD_CONFIG), st.just(GOOD_META), st.just(FAKE_WEIGHTS), st.just(b""),
    st.binary(max_size=300),
    json_like.map(lambda obj: json.dumps(obj).encode()),
    st.sampled_from([b"{", b"[" * 100 + b"]" * 100, b'{"a": 1, "a": 2}', b"\xff\xfe{}", b"NaN",
                     b'{"class_name": "Lambda"}', b"1" * 40, HDF5_SIGNATURE]),
)


@st.composite
def members(draw):
    """(name, data, compression, flag bits) of each member of an archive."""
    base = [("config.json", GOOD_CONFIG), ("metadata.json", GOOD_META), ("model.weights.h5", FAKE_WEIGHTS)]
    if draw(st.booleans()):
        # The members a .keras has, with any contents: this reaches the JSON and config checks.
        chosen = [(name, draw(st.one_of(st.just(data), MEMBER_DATA))) for name, data in base
                  if name != "metadata.json" or draw(st.booleans())]
    else:
        chosen = draw(st.lists(st.sampled_from(base), max_size=3, unique=True))
        chosen += draw(st.lists(st.tuples(MEMBER_NAMES, MEMBER_DATA), max_size=3))
    draw(st.randoms(use_true_random=False)).shuffle(chosen)
    out = []
    for name, data in chosen:
        compression = draw(st.sampled_from([zipfile.ZIP_STORED] * 3 + [zipfile.ZIP_DEFLATED] * 3
                                           + [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
        flags = draw(st.sampled_from([0] * 9 + [0x1]))
        out.append((name, data, compression, flags))
    return out


def build_archive(entries) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: they are the point
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data, compression, _flags in entries:
                info = zipfile.ZipInfo(name or "_")
                info.compress_type = compression
                archive.writestr(info, data)
    raw = buffer.getvalue()
    if any(flags & 0x1 for *_rest, flags in entries):
        # zipfile cannot encrypt; the "encrypted" bit is what a reader goes by.
        raw = _set_encrypted_bits(raw)
    return raw


def _set_encrypted_bits(raw: bytes) -> bytes:
    """Set bit 0 of the general-purpose flags of every local and central header."""
    data = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (index := data.find(signature, start)) != -1:
            flags = struct.unpack_from("<H", data, index + offset)[0]
            struct.pack_into("<H", data, index + offset, flags | 0x1)
            start = index + 4
    return bytes(data)


@FUZZ
@given(entries=members())
def test_arbitrary_zip_archives_are_accepted_or_refused_cleanly(tmp_path_factory, entries):
    path = scratch(tmp_path_factory, "model.keras")
    path.write_bytes(build_archive(entries))
    intake(path)


def _good_archive_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", GOOD_META)
        archive.writestr("config.json", GOOD_CONFIG)
        archive.writestr("model.weights.h5", FAKE_WEIGHTS + bytes(500))
    return buffer.getvalue()


GOOD_ARCHIVE = _good_archive_bytes()


@st.composite
def damaged(draw):
    """A valid archive with bytes flipped, cut short, or a stretch copied over another."""
    data = bytearray(GOOD_ARCHIVE)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "truncate", "splice", "insert", "zero"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            source = draw(st.integers(0, len(data) - 1))
            length = draw(st.integers(1, 64))
            data[at:at + length] = data[source:source + length]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at:at + draw(st.integers(1, 32))] = bytes(draw(st.integers(1, 32)))
    return bytes(data)


def test_the_undamaged_archive_is_accepted(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(GOOD_ARCHIVE)
    assert isinstance(intake(path), IntakeReport)


@FUZZ
@given(data=damaged())
def test_damaged_archives_are_refused_or_accepted_cleanly(tmp_path_factory, data):
    path = scratch(tmp_path_factory, "model.keras")
    path.write_bytes(data)
    intake(path)


@FUZZ
@given(filename=st.one_of(st.text(max_size=30), st.text(max_size=10).map(lambda s: s + ".keras"),
                          st.sampled_from(["model.KERAS", "model.h5", "m.hdf5", ".keras", "model.keras.zip",
                                           "C:\\Users\\x\\model.keras", "../model.keras", "model.keras\x00.h5",
                                           "model", ""])),
       max_bytes=st.one_of(st.integers(0, 4096), st.just(MAX_BYTES)))
def test_any_file_name_and_size_limit(tmp_path_factory, filename, max_bytes):
    path = write_archive(scratch(tmp_path_factory, "stored.keras"))
    outcome = intake(path, filename=filename, max_bytes=max_bytes)
    if isinstance(outcome, IntakeReport):
        assert filename.lower().endswith(".keras") and path.stat().st_size <= max_bytes


@FUZZ
@given(data=st.binary(max_size=2000),
       prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", HDF5_SIGNATURE, GOOD_ARCHIVE[:30]]),
       suffix=st.sampled_from([b"", GOOD_ARCHIVE[-22:], GOOD_ARCHIVE[-60:]]))
def test_arbitrary_bytes_are_refused_cleanly(tmp_path_factory, data, prefix, suffix):
    path = scratch(tmp_path_factory, "model.keras")
    path.write_bytes(prefix + data + suffix)
    outcome = intake(path)
    assert isinstance(outcome, IntakeError)


# ----------------------------------------------------------------------------- test sets

SHAPE = (32, 32, 3)
NUM_CLASSES = 6
DTYPES = ["<u1", "|u1", "<i8", ">i4", "<f4", "<f8", ">f8", "<f2", "|b1", "<c8", "|O", "<U3", "|S2", "|V0",
          "|V4", "<M8[s]", "<m8[D]", "[('a', '<i4')]", "<i16", "<f16", "nonsense", "(2,)<i4"]


def npy(descr: str, fortran: bool, shape, data: bytes, *, version=(1, 0), raw_header: str | None = None) -> bytes:
    """An .npy file with any header, written by hand (numpy would refuse most of them)."""
    header = raw_header if raw_header is not None else (
        "{'descr': " + (descr if descr.startswith("[") else repr(descr))
        + f", 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}")
    header_bytes = header.encode("latin1", "replace")
    size_format = "<H" if version == (1, 0) else "<I"
    prefix_len = 6 + 2 + struct.calcsize(size_format)
    padding = (-(prefix_len + len(header_bytes) + 1)) % 64
    header_bytes += b" " * padding + b"\n"
    return (b"\x93NUMPY" + bytes(version) + struct.pack(size_format, len(header_bytes)) + header_bytes + data)


def real_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


dims = st.one_of(st.integers(0, 40), st.sampled_from([32, 3, 10, 2**31, 2**40, 10**15, -1]))
shapes = st.one_of(
    st.lists(dims, max_size=5).map(tuple),
    st.tuples(st.integers(0, 40), st.just(32), st.just(32), st.just(3)),
    st.tuples(st.sampled_from([10**6, 10**9, 2**40, 10**15]), st.just(32), st.just(32), st.just(3)),
    st.sampled_from([(10,), (12,), (2**40,), (10**15,)]),
)


@st.composite
def npy_members(draw, name: str):
    kind = draw(st.sampled_from(["hand", "hand", "real", "bytes", "header"]))
    if kind == "real":
        n = draw(st.integers(0, 15))
        if name == "x":
            dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.float16]))
            array = np.zeros((n, *SHAPE), dtype=dtype)
            if dtype in (np.float32, np.float64) and n and draw(st.booleans()):
                array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from([np.nan, np.inf, 1e30]))
        else:
            array = np.array(draw(st.lists(st.integers(-2, 8), min_size=n, max_size=n))).astype(
                draw(st.sampled_from([np.int64, np.uint8, np.int8, np.float32])))
        return real_npy(array)
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "header":
        return npy("", False, (), draw(st.binary(max_size=40)), raw_header=draw(st.one_of(
            st.text(max_size=60),
            st.sampled_from(["{}", "{'descr': '<f8'}", "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                             "{'descr': '<f8', 'fortran_order': 'no', 'shape': (1,)}",
                             "{'descr': '<f8', 'fortran_order': False, 'shape': [1]}",
                             "{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,)}",
                             "__import__('os')", ")", "{'descr': '<f8', 'shape': (", '"""', "{'descr': '<f8', 'fortran_order': False, 'shape': (" + "9" * 400 + ",)}"]))))
    descr = draw(st.sampled_from(DTYPES))
    shape = draw(shapes)
    data = draw(st.one_of(st.binary(max_size=600), st.integers(0, 50_000).map(bytes)))
    version = draw(st.sampled_from([(1, 0), (1, 0), (2, 0), (3, 0), (9, 9)]))
    return npy(descr, draw(st.booleans()), shape, data, version=version)


@st.composite
def npz_files(draw):
    kind = draw(st.sampled_from(["arrays", "arrays", "npz", "npz", "npz", "bytes", "names"]))
    if kind == "arrays":
        # Real arrays, right or nearly: this reaches the checks of shapes, values and labels.
        n = draw(st.sampled_from([MIN_TEST_IMAGES - 1, MIN_TEST_IMAGES, 12, 20]))
        shape = draw(st.sampled_from([SHAPE, SHAPE, (32, 32, 1), (3, 32, 32), (32, 32)]))
        x = np.zeros((n, *shape), dtype=draw(st.sampled_from([np.uint8, np.float32, np.float64, np.int16,
                                                               np.complex64, np.bool_])))
        if x.dtype.kind == "f" and draw(st.booleans()):
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, -np.inf, 1e30, -0.0]))
        labels = draw(st.lists(st.integers(-1, NUM_CLASSES), min_size=n, max_size=n))
        y = np.array(labels).astype(draw(st.sampled_from([np.int64, np.int64, np.uint8, np.int8, np.float64])))
        if draw(st.booleans()):
            y = y[: draw(st.integers(0, n))] if draw(st.booleans()) else y.reshape(n, 1)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, x=x, y=y) if draw(st.booleans()) else np.savez(buffer, x=x, y=y)
        return buffer.getvalue()
    if kind == "bytes":
        return draw(st.one_of(st.binary(max_size=500), st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)))
    buffer = io.BytesIO()
    names = ["x.npy", "y.npy"]
    if kind == "names":
        names = draw(st.lists(st.sampled_from(["x.npy", "y.npy", "z.npy", "x", "x.npy/", "../y.npy", "X.npy"]),
                              max_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in names:
                info = zipfile.ZipInfo(name)
                info.compress_type = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]))
                archive.writestr(info, draw(npy_members(name[:1])))
    return buffer.getvalue()


def _load(path: Path, **kwargs):
    try:
        x, y = load_test_set(path, input_shape=SHAPE, num_classes=NUM_CLASSES, **kwargs)
    except TestSetError as error:
        _event("refused: " + " ".join(error.message["en"].split()[3:6]))
        assert_clear(error)
        return error
    _event("loaded")
    # Its documented promises.
    assert x.shape[1:] == SHAPE and MIN_TEST_IMAGES <= x.shape[0] <= MAX_TEST_IMAGES
    assert x.dtype.kind in "uif" and (x.dtype.kind != "f" or np.isfinite(x).all())
    assert y.shape == (x.shape[0],) and y.dtype == np.int64
    assert y.min() >= 0 and y.max() < NUM_CLASSES
    return x, y


def test_a_good_test_set_loads(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", real_npy(np.zeros((12, *SHAPE), dtype=np.uint8)))
        archive.writestr("y.npy", real_npy(np.arange(12) % NUM_CLASSES))
    path = tmp_path / "test.npz"
    path.write_bytes(buffer.getvalue())
    x, y = _load(path)
    assert x.shape == (12, *SHAPE)


@FUZZ
@given(data=npz_files(), max_bytes=st.sampled_from([None, None, None, 10_000, 200]))
def test_arbitrary_test_set_files_load_or_are_refused_cleanly(tmp_path_factory, data, max_bytes):
    path = scratch(tmp_path_factory, "test.npz")
    path.write_bytes(data)
    _load(path, **({} if max_bytes is None else {"max_bytes": max_bytes}))


@FUZZ
@given(n=st.sampled_from([2**31, 2**40, 10**12, 10**15, 2**62]), descr=st.sampled_from(["<f8", "<u1", "<i8"]),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_a_header_promising_more_data_than_the_file_holds_is_refused(tmp_path_factory, n, descr, compression):
    """A few bytes whose header claims a huge array must not make the server allocate it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("x.npy", npy(descr, False, (n, *SHAPE), bytes(64)))
        archive.writestr("y.npy", npy("<i8", False, (n,), bytes(64)))
    path = scratch(tmp_path_factory, "test.npz")
    path.write_bytes(buffer.getvalue())
    assert isinstance(_load(path), TestSetError)


@pytest.mark.filterwarnings("ignore:Reading `.npy` or `.npz` file required additional header parsing")
@FUZZ
@given(header=st.sampled_from([")", "(", "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", '"""', "{'a': 1L}",
                               "{" * 300 + "}" * 300, "[" * 5000]),
       version=st.sampled_from([(1, 0), (2, 0), (3, 0)]))
def test_a_mangled_npy_header_is_refused(tmp_path_factory, header, version):
    """numpy re-reads a version 1 or 2 header that does not parse with the tokenizer, which
    raised tokenize.TokenError (found by the fuzzer above)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", npy("", False, (), bytes(8), version=version, raw_header=header))
        archive.writestr("y.npy", real_npy(np.arange(12)))
    path = scratch(tmp_path_factory, "test.npz")
    path.write_bytes(buffer.getvalue())
    assert isinstance(_load(path), TestSetError)
