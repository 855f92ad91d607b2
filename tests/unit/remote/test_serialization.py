"""The message pickler: plain values and arrays take a fast path, everything else the general one."""

import pickle
import sys

import numpy as np
import pytest

from fastparl.remote.serialization import Encoder, is_plain_or_arrays, loads


def _encoder(oob: list | None = None, threshold: int = 1 << 17) -> Encoder:
    def on_buffer(pb: pickle.PickleBuffer) -> bool:  # as a channel does: small in band, large out of band
        if pb.raw().nbytes < threshold or oob is None:
            return True
        oob.append(pb)
        return False
    return Encoder(on_buffer, lambda seg: True, lambda: oob.clear() if oob is not None else None, threshold)


def test_plain_or_arrays_walks_calls_and_replies_only():
    x = np.zeros(3)
    assert is_plain_or_arrays(("act", (x, 1, "a"), None))
    assert is_plain_or_arrays(("set", ({"w": [x, x]},), None))  # weights as a dict of lists of arrays
    assert is_plain_or_arrays((x, 1.0, False))
    assert not is_plain_or_arrays(("f", (np.float32(1),), None))  # NumPy scalars: the general path
    assert not is_plain_or_arrays(("f", (int,), None))  # classes and functions may be of __main__
    assert not is_plain_or_arrays(("f", ({1: x},), None))  # non-str keys
    assert not is_plain_or_arrays(("f", ([[[x]]],), None))  # deeper than four levels
    assert not is_plain_or_arrays(("f", (x.view(np.ndarray).reshape(3, 1).T.copy().view(np.matrix),), None))


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=np.float32).reshape(3, 4), np.array(7.5), np.array(800), np.array(True), np.array(7, np.uint8),
    np.zeros(0, np.int64), np.array([True, False]),
    np.arange(4, dtype=np.complex64), np.arange(6, dtype=">i4"), np.arange(10)[::3],  # strided: NumPy's reduce
    np.array(["ab", "c"]), np.zeros(2, [("a", "f4"), ("b", "i2")]), np.array(["2020-01-01"], "datetime64[D]"),
], ids=lambda a: f"{a.dtype}-{a.shape}-{'c' if a.flags.c_contiguous else 's'}")
def test_arrays_round_trip_exactly_and_in_band_copies_are_writable(arr):
    e = _encoder()
    out = loads(e.dumps(("f", (arr,), None)))[1][0]
    assert type(out) is np.ndarray and out.dtype == arr.dtype and out.shape == arr.shape
    assert np.array_equal(out, arr)
    assert out.flags.writeable and not np.shares_memory(out, arr)


def test_large_arrays_leave_the_body_and_come_back_as_views():
    oob: list = []
    e = _encoder(oob, threshold=1024)
    big = np.arange(4096, dtype=np.float64)
    body = e.dumps(("f", (big, np.ones(3)), None))
    assert len(oob) == 1 and len(body) < 1024  # the data travels beside the body
    out = loads(body, buffers=[memoryview(b.raw()).toreadonly() for b in oob])[1]
    assert np.array_equal(out[0], big) and not out[0].flags.writeable and out[1].flags.writeable


def test_array_rebuild_travels_as_an_extension_code():
    body = _encoder().dumps(np.ones(3))
    assert b"_rebuild_array" not in body and b"fastparl" not in body
    assert np.array_equal(pickle.loads(body), np.ones(3))


def test_main_objects_inside_object_arrays_travel_by_value(monkeypatch):
    """An object array may hold instances of __main__ classes, which the actor cannot import: the
    fast path (no reducer_override) must hand such arrays to the general one, which copies the class."""
    main = sys.modules["__main__"]

    class Point:
        def __init__(self, x):
            self.x = x

    Point.__module__, Point.__qualname__ = "__main__", "_FastparlTestPoint"
    monkeypatch.setattr(main, "_FastparlTestPoint", Point, raising=False)
    arr = np.empty(2, object)
    arr[:] = [Point(1), Point(2)]
    body = _encoder().dumps(("f", (arr,), None))
    monkeypatch.delattr(main, "_FastparlTestPoint")  # as in an actor: __main__ has no such class
    out = loads(body)[1][0]
    assert [p.x for p in out] == [1, 2]
