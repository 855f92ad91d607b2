"""Data frames over ZeroMQ never exceed FRAME_BYTES: larger parts are split and joined back (see .wire)."""

import pickle

import numpy as np
import pytest

pytest.importorskip("zmq")
from fastparl.remote.zmq.wire import FRAME_BYTES, SPLIT, BadMessage, DataCodec  # noqa: E402


def _roundtrip(payload):
    frames = DataCodec().encode(2, 7, payload)
    sizes = [memoryview(f).nbytes if not isinstance(f, pickle.PickleBuffer) else f.raw().nbytes for f in frames]
    assert max(sizes) <= FRAME_BYTES, sizes
    frames = [bytes(memoryview(f) if not isinstance(f, pickle.PickleBuffer) else f.raw()) for f in frames]
    op, seq, value, err = DataCodec.decode(frames)
    assert err is None and (op, seq) == (2, 7)
    return frames, value


@pytest.mark.parametrize("n", [FRAME_BYTES - 1, FRAME_BYTES, FRAME_BYTES + 1, 3 * FRAME_BYTES + 5])
def test_large_arrays_are_split_and_joined(n):
    a = np.arange(n, dtype=np.uint8)
    small = np.ones(100_000)  # an out-of-band buffer below FRAME_BYTES keeps its own frame
    frames, (x, y, tag) = _roundtrip((a, small, "tag"))
    assert np.array_equal(x, a) and np.array_equal(y, small) and tag == "tag"
    assert bool(frames[0][0] & SPLIT) == (n > FRAME_BYTES)


def test_a_large_in_band_body_is_split():
    payload = [f"{i:06d}" * 170 for i in range(5000)]  # ~5 MB of plain values, pickled in band
    frames, value = _roundtrip(payload)
    assert value == payload and len(frames) > 5


def test_a_small_message_is_one_frame():
    frames, value = _roundtrip(("step", (1, 0.5), None))
    assert len(frames) == 1 and value == ("step", (1, 0.5), None)


def test_a_split_layout_that_does_not_match_its_frames_is_an_error():
    frames = DataCodec().encode(2, 7, np.zeros(2 * FRAME_BYTES, np.uint8))
    frames = [bytes(memoryview(f) if not isinstance(f, pickle.PickleBuffer) else f.raw()) for f in frames]
    op, seq, value, err = DataCodec.decode(frames[:-1])
    assert isinstance(err, BadMessage) and value is None
