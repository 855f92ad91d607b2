"""What travels over ZeroMQ, field by field: JSON control messages, and framed pickled requests.

Data (driver <-> actor, over the driver's hub, :mod:`.hub`): one ZeroMQ multipart message per frame
of :mod:`fastparl.remote.protocol`::

    part 0  : op u8, seq u64 (little endian, the 9-byte ``HEADER``), then the body: pickle protocol 5
    part 1..: one part per out-of-band pickle buffer of at least OOB_THRESHOLD (64 KiB) bytes,
              in the order the pickler asked for them

No frame is larger than ``FRAME_BYTES`` (1 MiB): a server takes no larger frame, so that strangers
cannot make it buffer more before the handshake (see :mod:`.gate`).  A message with a larger part is
sent *split*: ``op`` has its high bit (``SPLIT``) set, part 0 holds the 9-byte header and then one
u32 per logical part (the body, then each buffer) saying how many frames it spans, and the frames
follow, each part in ``FRAME_BYTES`` slices.  The receiver joins a split part with one copy.

Buffers are sent with ``copy=False`` (pyzmq keeps the sender's buffer alive until it has left) and
received as read-only views of ZeroMQ's messages.  A call made of plain values (the common
``("step", (1, 0.5), None)``) is pickled by the C pickler alone, in one part.  A shared array
cannot go to another host (:meth:`DataCodec._no_shared` says why); a ``put()`` object goes by value.
An empty single part is the driver's goodbye to an actor (:mod:`.host`).

Every connection first passes the gate of :mod:`.gate` (ZMTP PLAIN credentials derived from the
token, checked by a ZAP handler; or CurveZMQ), so none of what follows comes from a stranger.

Control (driver <-> worker daemon, and an actor's handshake with its driver's hub): part 0 is one
JSON object ``{"kind": ..., field: value, ...}``, optionally followed by one raw part (actors' output,
a distributed file).  The daemon parses nothing else and never unpickles; :func:`decode_control`
rejects malformed, truncated and oversized (over ``MAX_CONTROL_BYTES``) messages with ``BadMessage``.
A request carries ``req`` (an int the driver chose); its reply echoes it.  The kinds:

==============  ===============  ==================================================================
kind            direction        fields
==============  ===============  ==================================================================
hello           client->worker   nonce, name
challenge       worker->client   nonce, proof (the worker's HMAC over both nonces, :mod:`.auth`)
auth            client->worker   proof (the client's HMAC)
welcome         worker->client   host, host_id, cpus, free_cpus, gpus, free_gpus, pid, port,
                                 files_dir
denied          worker->client   reason
ping / pong     client<->worker  pong: free_cpus
spawn           client->worker   req, actor (16-byte id, hex), endpoint (the hub), nonce, cls,
                                 n_gpu, max_memory, curve
spawned         worker->client   req, pid, gpus, host
reserve         client->worker   req, actor, n_gpu (a slot for an actor run on the client's host)
reserved        worker->client   req, gpus
unreserve       client->worker   actor
kill            client->worker   actor
file            client->worker   req, name, offset; raw part: the file's bytes from offset (at most
                                 ``FILE_CHUNK_BYTES``; chunks in order, offset 0 first)
ok              worker->client   req
status          both             req; the reply: the worker's state (``fastparl status``)
error           worker->client   req (None for a malformed message), message, and code (``no-slot``,
                                 ``no-gpu``) when no slot is free
output          worker->client   actor, stream (1 stdout, 2 stderr, 3/4 their end); raw part: bytes
exited          worker->client   actor, code, tail (last lines of stderr), reason
bye             client->worker   (the client leaves: its actors end)
actor-hello     actor->hub       identity, nonce, proof
actor-welcome   hub->actor       proof
==============  ===============  ==================================================================
"""

from __future__ import annotations

import json
import pickle
import struct
from typing import Any, Callable


from fastparl.errors import FastparlError
from fastparl.remote import serialization

__all__ = ["BadMessage", "encode_control", "decode_control", "DataCodec", "MAX_CONTROL_BYTES", "OOB_THRESHOLD", "FILE_CHUNK_BYTES"]

MAX_CONTROL_BYTES = 4 << 20  # a control message is small; a worker refuses larger ones
FRAME_BYTES = 1 << 20  # the largest data frame we send (servers take MAX_FRAME_BYTES, see .gate)
FILE_CHUNK_BYTES = FRAME_BYTES  # a distributed file travels in chunks this size
OOB_THRESHOLD = 64 << 10
HEADER = struct.Struct("<BQ")
SPLIT = 0x80  # in ``op``: the message's parts are split over several frames (a layout follows the header)


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
    except RecursionError:  # deeply nested arrays or objects
        raise BadMessage("JSON nested too deeply") from None
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
            body = pickle.dumps(payload, 5)
            if len(body) + HEADER.size <= FRAME_BYTES:
                return [HEADER.pack(op, seq) + body]
            return _split(op, seq, [body])
        self._bufs.clear()
        try:
            body = self._encoder.dumps(payload)
            if len(body) + HEADER.size <= FRAME_BYTES and all(pb.raw().nbytes <= FRAME_BYTES for pb in self._bufs):
                return [HEADER.pack(op, seq) + body, *self._bufs]
            return _split(op, seq, [body, *self._bufs])
        finally:
            self._bufs.clear()

    @staticmethod
    def decode(frames: list[Any]) -> tuple[int, int, Any, BaseException | None]:
        """(op, seq, payload, unpickling error or None) from received frames (bytes or zmq.Frame)."""
        first = _view(frames[0])
        op, seq = HEADER.unpack_from(first)
        try:
            if op & SPLIT:
                op &= ~SPLIT
                body, *views = _join(first, frames)
                return op, seq, pickle.loads(body, buffers=views), None
            if len(frames) == 1:
                return op, seq, pickle.loads(first[HEADER.size:]), None
            views = [_view(f) for f in frames[1:]]  # views of ZeroMQ's messages: zero-copy, read-only
            return op, seq, pickle.loads(first[HEADER.size:], buffers=views), None
        except Exception as e:  # noqa: BLE001
            return op, seq, None, e


def _view(frame: Any) -> memoryview:
    return (memoryview(frame) if isinstance(frame, bytes) else frame.buffer).toreadonly()


def _split(op: int, seq: int, parts: list[Any]) -> list[Any]:
    """The frames of a message whose parts (body, buffers) may exceed ``FRAME_BYTES``."""
    views = [memoryview(p.raw() if isinstance(p, pickle.PickleBuffer) else p).cast("B") for p in parts]
    counts = [max(1, -(-len(v) // FRAME_BYTES)) for v in views]
    head = HEADER.pack(op | SPLIT, seq) + struct.pack(f"<{len(counts)}I", *counts)
    if len(head) > FRAME_BYTES:
        raise FastparlError(f"a message of {len(parts) - 1} out-of-band buffers cannot be sent in one message")
    frames: list[Any] = [head]
    for v, n in zip(views, counts):
        frames.extend(v[i * FRAME_BYTES:(i + 1) * FRAME_BYTES] for i in range(n))
    return frames


def _join(first: memoryview, frames: list[Any]) -> list[Any]:
    """The parts of a split message: a one-frame part stays a view, a longer one is joined (one copy)."""
    n = (len(first) - HEADER.size) // 4
    counts = struct.unpack_from(f"<{n}I", first, HEADER.size)
    if n < 1 or sum(counts) != len(frames) - 1:
        raise BadMessage(f"split message: layout {counts[:8]} does not match {len(frames) - 1} frames")
    parts, i = [], 1
    for c in counts:
        chunk = [_view(f) for f in frames[i:i + c]]
        parts.append(chunk[0] if c == 1 else memoryview(b"".join(chunk)))
        i += c
    return parts
