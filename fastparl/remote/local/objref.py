"""``put()`` on this machine: the object pickled once into a shared-memory segment, rebuilt once per actor."""

from __future__ import annotations

import pickle
from typing import Any, Callable

import numpy as np

from fastparl.remote import serialization
from fastparl.remote.local.segments import REF, Segment, lookup
from fastparl.remote.objref import ObjectRef

__all__ = ["ShmObjectRef", "forget"]

_ALIGN = 64
# Where a put() object lies in its segment: (length of the pickled body at offset 0, ((offset, nbytes) per buffer)).
Layout = tuple[int, tuple[tuple[int, int], ...]]
# Objects rebuilt from references in this process, by segment id: rebuilt once, then reused.
_cache: dict[int, Any] = {}


class ShmObjectRef(ObjectRef):
    """An :class:`ObjectRef` whose pickled body and buffers live in one ``REF`` segment."""

    __slots__ = ("_seg", "_layout")
    _seg: Segment
    _layout: Layout

    def __init__(self, obj: Any):
        super().__init__(obj)
        bufs: list[Any] = []

        def out_of_band(buf: Any) -> bool:
            bufs.append(buf)
            return False  # every buffer out of band: each goes to its own aligned place in the segment

        body = serialization.dumps(obj, out_of_band, bufs.clear)
        offsets: list[tuple[int, int]] = []
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

    def __repr__(self) -> str:
        return f"<fastparl.ObjectRef {type(self.value).__name__}, {self._seg.size} bytes shared>"


def _share(ref: ShmObjectRef, on_shared: Callable[[Segment], bool]) -> tuple[Callable[..., Any], tuple] | None:
    if not on_shared(ref._seg):
        return None  # the peer cannot map it: the object itself travels (ObjectRef.__reduce__)
    return _rebuild, (ref._seg.id, ref._layout)


serialization.register_shared_type(ShmObjectRef, _share)


def _round(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _rebuild(seg_id: int, layout: Layout) -> Any:
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
