"""What travels over ZeroMQ: JSON control messages, and framed pickled requests with zero-copy buffers.

Control (driver <-> worker daemon): one JSON object ``{"kind": ..., ...}`` per message, optionally
followed by one raw frame (actors' output).  The daemon parses nothing else, and never unpickles.
:func:`decode_control` rejects malformed, truncated and oversized messages with ``BadMessage``.

Data (driver <-> actor): ``[header + body, buffer...]`` where the 9-byte header is (op u8, seq u64),
``body`` is pickle protocol 5 and each out-of-band buffer of at least ``OOB_THRESHOLD`` bytes is
its own frame, sent with ``copy=False`` and received as a read-only view of ZeroMQ's message
(pyzmq keeps the sender's buffer alive until it has left).  A call made of plain values (the
common ``("step", (1, 0.5), None)``) is pickled by the C pickler alone.
"""

from __future__ import annotations

import json
import pickle
import struct
from typing import Any, Callable


from fastparl.errors import FastparlError
from fastparl.remote import serialization

__all__ = ["BadMessage", "encode_control", "decode_control", "DataCodec", "MAX_CONTROL_BYTES", "OOB_THRESHOLD"]

MAX_CONTROL_BYTES = 4 << 20  # a control message is small; a worker refuses larger ones
OOB_THRESHOLD = 64 << 10
HEADER = struct.Struct("<BQ")


class BadMessage(Exception):
    """A control message that is not what the protocol allows."""


def encode_control(kind: str, raw: bytes | None = None, **fields: Any) -> list[bytes]:
    frames = [json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode()]
    if raw is not None:
        frames.append(raw)
    return frames


def decode_control(frames: list[bytes]) -> tuple[dict[str, Any], bytes | None]:
    """(message, raw frame or None); raises BadMessage for anything malformed."""
    if not frames or len(frames) > 2:
        raise BadMessage(f"expected 1 or 2 frames, got {len(frames)}")
    if sum(len(f) for f in frames) > MAX_CONTROL_BYTES:
        raise BadMessage("oversized control message")
    try:
        msg = json.loads(frames[0])
    except (ValueError, UnicodeDecodeError) as e:
        raise BadMessage(f"not JSON: {e}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("kind"), str):
        raise BadMessage("not a JSON object with a 'kind'")
    return msg, (frames[1] if len(frames) == 2 else None)


def field(msg: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``msg[name]`` checked to be of type ``kind`` (BadMessage otherwise)."""
    value = msg.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BadMessage(f"field {name!r} missing or not {kind}")
    return value


class DataCodec:
    """Encodes requests/replies into frames and back, for one link (not thread-safe: callers lock).

    Args:
        on_shared: what to do with shared-memory objects (see :mod:`fastparl.remote.serialization`);
            the default refuses shared arrays (another host cannot see them) and sends ``put()``
            objects by value.
        where: names the peer in errors.
    """

    def __init__(self, on_shared: Callable[[Any], bool] | None = None, where: str = "another host"):
        self._bufs: list[Any] = []
        self.where = where
        self._encoder = serialization.Encoder(self._on_buffer, on_shared or self._no_shared, self._bufs.clear,
                                              OOB_THRESHOLD)

    def _on_buffer(self, pb: pickle.PickleBuffer) -> bool:
        if pb.raw().nbytes < OOB_THRESHOLD:
            return True
        self._bufs.append(pb)
        return False

    def _no_shared(self, seg: Any) -> bool:
        from fastparl.remote.local.segments import SHARED

        if seg.kind == SHARED:
            raise FastparlError(
                f"a fastparl.shared_array cannot be sent to an actor on {self.where}: its memory is on this machine, "
                "and the actor's writes would never come back. Pass np.asarray(arr) to send a copy (and return "
                "results from the method), or place the actor on this machine.")
        return False  # a put() object: sent by value

    def encode(self, op: int, seq: int, payload: Any) -> list[Any]:
        if serialization.is_plain(payload):
            return [HEADER.pack(op, seq) + pickle.dumps(payload, 5)]
        self._bufs.clear()
        try:
            body = self._encoder.dumps(payload)
            return [HEADER.pack(op, seq) + body, *self._bufs]
        finally:
            self._bufs.clear()

    @staticmethod
    def decode(frames: list[Any]) -> tuple[int, int, Any, BaseException | None]:
        """(op, seq, payload, unpickling error or None) from received frames (bytes or zmq.Frame)."""
        first = frames[0] if isinstance(frames[0], bytes) else frames[0].buffer
        op, seq = HEADER.unpack_from(first)
        try:
            if len(frames) == 1:
                return op, seq, pickle.loads(memoryview(first)[HEADER.size:]), None
            views = [f.buffer.toreadonly() for f in frames[1:]]  # views of ZeroMQ's messages: zero-copy, read-only
            return op, seq, pickle.loads(memoryview(first)[HEADER.size:], buffers=views), None
        except Exception as e:  # noqa: BLE001
            return op, seq, None, e
