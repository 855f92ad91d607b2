"""The zmq backend's data path sends and receives large arrays without copying them (a performance
contract no functional test sees): the driver's hub and the actor's link send out-of-band buffers
with ``copy=False``, receive with ``copy=False``, and decode into read-only views of the frames."""

from __future__ import annotations

import numpy as np
import pytest

zmq = pytest.importorskip("zmq")

from fastparl.remote.protocol import CALL, OK  # noqa: E402
from fastparl.remote.zmq.host import ActorLink  # noqa: E402
from fastparl.remote.zmq.hub import Hub  # noqa: E402
from fastparl.remote.zmq.wire import OOB_THRESHOLD, DataCodec  # noqa: E402


class _FakeSocket:
    """Records what send_multipart/recv_multipart were asked; sends nothing."""

    def __init__(self, incoming=None):
        self.sent, self.recv_copy, self.incoming = [], [], incoming

    def send_multipart(self, frames, flags=0, copy=True, track=False, **kw):
        self.sent.append((list(frames), copy, track))
        return None

    def recv_multipart(self, flags=0, copy=True, **kw):
        self.recv_copy.append(copy)
        frames = [zmq.Frame(f) for f in self.incoming]
        return frames if not copy else [f.bytes for f in frames]

    def get(self, option):
        return 0


def _big():
    return np.arange(4 * OOB_THRESHOLD // 8, dtype=np.float64)  # 256 KiB: an out-of-band buffer


def _is_view_of(frame, arr):
    return np.shares_memory(np.frombuffer(memoryview(frame), dtype=np.uint8), arr.view(np.uint8))


def test_the_hub_sends_array_buffers_without_a_copy():
    ctx = zmq.Context()
    hub = Hub(ctx, ["127.0.0.1"], b"token")
    real = hub.sock
    try:
        hub.sock = fake = _FakeSocket()
        arr = _big()
        frames = DataCodec().encode(CALL, 7, ("learn", (arr,), None))
        assert len(frames) == 2 and _is_view_of(frames[1], arr)  # the codec did not copy it either
        hub.send(b"peer", frames)
        (sent, copy, track), = fake.sent
        assert sent[0] == b"peer" and _is_view_of(sent[2], arr)
        assert copy is False and track is True  # zero-copy, and waited for before the caller may write again
        hub.send(b"peer", DataCodec().encode(CALL, 8, ("step", (1, 0.5), None)))  # one small frame: copied
        assert len(fake.sent[1][0]) == 2
    finally:
        hub.sock = real
        hub.close()
        ctx.term()


def test_the_actor_link_sends_and_receives_without_a_copy():
    arr = _big()
    request = DataCodec().encode(CALL, 3, ("learn", (arr,), None))
    fake = _FakeSocket(incoming=[bytes(memoryview(f)) for f in request])
    link = ActorLink(fake, where="the driver")
    op, seq, payload, err = link.recv()
    assert fake.recv_copy == [False]
    assert (op, seq, err) == (CALL, 3, None)
    got = payload[1][0]
    np.testing.assert_array_equal(got, arr)
    assert not got.flags.writeable  # a read-only view of ZeroMQ's message, not a copy
    reply = np.ones(OOB_THRESHOLD, np.float32)
    link.send(OK, 3, reply)
    (frames, copy, _), = fake.sent
    assert len(frames) == 2 and copy is False and _is_view_of(frames[1], reply)
