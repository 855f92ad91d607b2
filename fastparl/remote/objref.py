"""``fastparl.put``: write an object once into shared memory, let many actors read it without a copy."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from fastparl.remote import serialization
from fastparl.remote.shm import REF, Segment, _send_hook, lookup

__all__ = ["ObjectRef", "put"]

_ALIGN = 64
# Objects rebuilt from references in this process, by segment id: rebuilt once, then reused.
_cache: dict[int, Any] = {}


class ObjectRef:
    """A handle to an object stored once in shared memory by :func:`put`.

    Pass it as an argument to any number of actor calls: each actor process maps the memory and
    rebuilds the object once (its NumPy arrays are read-only views of the shared copy), and
    then reuses it for later calls.  ``fastparl.get(ref)`` returns the object in the driver.
    """

    __slots__ = ("_seg", "_layout", "value", "__weakref__")

    def __init__(self, obj: Any):
        bufs: list[Any] = []
        def out_of_band(buf: Any) -> bool:
            bufs.append(buf)
            return False  # every buffer out of band: each goes to its own aligned place in the segment

        body = serialization.dumps(obj, out_of_band, bufs.clear)
        offsets = []
        pos = _round(len(body))
        for b in bufs:
            offsets.append((pos, b.raw().nbytes))
            pos = _round(pos + b.raw().nbytes)
        seg = Segment.create(max(pos, 1), REF)
        seg.u8[: len(body)] = np.frombuffer(body, np.uint8)
        for (off, n), b in zip(offsets, bufs):
            seg.u8[off:off + n] = np.frombuffer(b.raw(), np.uint8)
        self._seg = seg
        self._layout = (len(body), tuple(offsets))
        self.value = obj

    def __reduce__(self):
        hook = _send_hook.get
        if hook is not None:
            hook(self._seg)
        return _rebuild, (self._seg.id, self._layout)

    def __repr__(self) -> str:
        return f"<fastparl.ObjectRef {type(self.value).__name__}, {self._seg.size} bytes shared>"


def _round(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _rebuild(seg_id: int, layout: tuple) -> Any:
    cached = _cache.get(seg_id, _cache)
    if cached is not _cache:
        return cached
    seg = lookup(seg_id)
    if seg is None:
        raise RuntimeError(f"object reference {seg_id:#x} is not mapped in this process")
    body_len, offsets = layout
    views = []
    for off, n in offsets:
        v = seg.view(off, n)
        v.flags.writeable = False
        views.append(v)
    obj = pickle.loads(seg.u8[:body_len].data, buffers=views)
    if not seg.writable:  # a receiver: keep it until the owner says forget (see Channel)
        _cache[seg_id] = obj
    return obj


def forget(seg_id: int) -> None:
    _cache.pop(seg_id, None)


def put(obj: Any) -> ObjectRef:
    """Store ``obj`` once in shared memory and return a reference to pass to actors.

    Use it to broadcast the same large data (weights, a dataset) to many actors: one write,
    then each actor reads it in place instead of receiving its own copy.
    """
    return ObjectRef(obj)
