"""Shared memory: memfd segments, shared arrays and the per-channel message arena.

Every block of shared memory is a *segment*: an anonymous ``memfd`` mapped into each process
that uses it.  A memfd has no name in ``/dev/shm``, so nothing can leak there: the kernel frees
the memory when the last descriptor and mapping are gone, whatever way the processes end.
Descriptors travel between processes over the Unix socket of a channel (``SCM_RIGHTS``).

Three kinds of segment exist:

* ``ARENA``: a sender-owned buffer for the out-of-band pickle buffers of messages.  The receiver
  maps it read-only and builds NumPy views on it; a region is reused once the receiver has
  dropped every view of it (the release rides on the receiver's next message).
* ``SHARED``: the memory of a :func:`shared_array`; every process maps it read-write and a
  message carries only its handle.
* ``REF``: a :func:`fastparl.put` object, written once and read by many actors.
"""

from __future__ import annotations

import itertools
import mmap
import os
import threading
import weakref
from typing import Any, Callable

import numpy as np

__all__ = ["Segment", "SharedArray", "shared_array", "Arena", "ARENA", "SHARED", "REF", "lookup"]

ARENA, SHARED, REF = 0, 1, 2
PAGE = mmap.PAGESIZE
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_ids = itertools.count(1)
_ids_pid = os.getpid()
_ids_lock = threading.Lock()

# Every segment this process knows, by id (owned or received).  Weak: user arrays keep them alive.
_registry: "weakref.WeakValueDictionary[int, Segment]" = weakref.WeakValueDictionary()


def _new_id() -> int:
    global _ids, _ids_pid
    with _ids_lock:
        if os.getpid() != _ids_pid:  # a forked child must not reuse its parent's ids
            _ids, _ids_pid = itertools.count(1), os.getpid()
        return (os.getpid() << 32) | next(_ids)


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


class Segment:
    """One memfd mapping.  Holds its descriptor open so that it can be sent to more peers."""

    __slots__ = ("id", "kind", "size", "fd", "mm", "u8", "addr", "writable", "peers", "__weakref__")

    def __init__(self, seg_id: int, kind: int, size: int, fd: int, writable: bool, populate: bool = True):
        self.id, self.kind, self.size, self.fd, self.writable = seg_id, kind, size, fd, writable
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        flags = mmap.MAP_SHARED | (_MAP_POPULATE if populate else 0)
        self.mm = mmap.mmap(fd, size, flags=flags, prot=prot)
        self.u8 = np.ndarray((size,), np.uint8, buffer=self.mm)
        self.addr = self.u8.ctypes.data
        # Channels whose peer has been sent this segment's descriptor: told to forget it when it dies.
        self.peers: weakref.WeakSet[Any] = weakref.WeakSet()
        _registry[seg_id] = self
        recycled = kind == REF and writable  # an owned put() segment: its memory is reused, not freed
        if recycled:
            _recycler.track(self)
        weakref.finalize(self, _segment_died, seg_id, -1 if recycled else fd, self.peers)

    @classmethod
    def create(cls, size: int, kind: int, populate: bool = True) -> "Segment":
        size = max(PAGE, _round_up(size, PAGE))
        fd = _recycler.take(size) if kind == REF else None
        if fd is not None:  # pages exist already: mapping them is cheap, no zeroing by the kernel
            return cls(_new_id(), kind, size, fd, writable=True, populate=populate)
        fd = os.memfd_create(f"fastparl-{kind}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            return cls(_new_id(), kind, size, fd, writable=True, populate=populate)
        except BaseException:
            os.close(fd)
            raise

    def view(self, offset: int, nbytes: int) -> np.ndarray:
        """A fresh uint8 array on ``[offset, offset + nbytes)`` whose base is the mapping itself.

        Its base is the mmap (not another array), so NumPy does not collapse the base chain of
        arrays built on it: a weakref finalizer on the returned object fires exactly when the last
        view of the region is gone.
        """
        return np.ndarray((nbytes,), np.uint8, buffer=self.mm, offset=offset)


def _segment_died(seg_id: int, fd: int, peers: "weakref.WeakSet[Any]") -> None:
    if fd >= 0:
        _close(fd)
    for channel in list(peers):
        channel.forget_later(seg_id)


class _Recycler:
    """Reuses the memory of dead ``put()`` segments, which the kernel is slow to hand out fresh
    (it zeroes every page: ~1.6 GB/s here, against ~10 GB/s for the copy into existing pages).

    A segment's descriptor is pooled only once nobody can see its memory any more: the owner's
    mapping is gone (the :class:`ObjectRef` and every local view of it died), and every peer it
    was sent to has acknowledged that its own mapping is gone (``CTRL_UNMAPPED``, sent by the peer
    when its last view dies after the owner said forget) or has closed its channel.  A memory that
    someone still reads is therefore never overwritten.  Pooled sizes must match within 25%.
    """

    MAX_POOLED = 1 << 30

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, list[Any]] = {}  # seg id -> [fd, size, owner gone?, channel ids waited for]
        self.pool: list[tuple[int, int]] = []  # (size, fd)

    def track(self, seg: Segment) -> None:
        with self.lock:
            self.live[seg.id] = [seg.fd, seg.size, False, set()]
        weakref.finalize(seg.mm, self.owner_gone, seg.id)

    def sent(self, seg_id: int, channel_id: int) -> None:
        with self.lock:
            entry = self.live.get(seg_id)
            if entry is not None:
                entry[3].add(channel_id)

    def owner_gone(self, seg_id: int) -> None:
        with self.lock:
            entry = self.live.get(seg_id)
            if entry is not None:
                entry[2] = True
                self._settle(seg_id, entry)

    def unmapped(self, seg_id: int, channel_id: int) -> None:
        with self.lock:
            entry = self.live.get(seg_id)
            if entry is not None:
                entry[3].discard(channel_id)
                self._settle(seg_id, entry)

    def _settle(self, seg_id: int, entry: list[Any]) -> None:
        fd, size, owner_gone, waiting = entry
        if not owner_gone or waiting:
            return
        del self.live[seg_id]
        if sum(s for s, _ in self.pool) + size <= self.MAX_POOLED:
            self.pool.append((size, fd))
        else:
            _close(fd)

    def take(self, size: int) -> int | None:
        with self.lock:
            fits = [(s, fd) for s, fd in self.pool if size <= s <= size * 5 // 4]
            if not fits:
                return None
            best = min(fits)
            self.pool.remove(best)
            return best[1]


_recycler = _Recycler()
# put() segments this process received and passed on to another peer: it never acknowledges them,
# so their owner never reuses memory that the other peer may still read.
_forwarded: set[int] = set()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def lookup(seg_id: int) -> Segment | None:
    return _registry.get(seg_id)


class SharedArray(np.ndarray):
    """A NumPy array in shared memory: sending it to an actor sends a handle, not the data.

    Views and slices stay shared.  The results of arithmetic are ordinary arrays, and are
    copied when sent.  Writes by any process are seen by all (no locking is done for you).
    """

    _fp_seg: Segment | None

    def __array_finalize__(self, obj: Any) -> None:
        self._fp_seg = getattr(obj, "_fp_seg", None)

    def __array_wrap__(self, arr, context=None, return_scalar=False):  # ufunc results are plain arrays
        arr = arr.view(np.ndarray)
        return arr[()] if return_scalar else arr

    def __reduce_ex__(self, protocol):  # type: ignore[override]
        seg = self._fp_seg
        handle = _handle_of(self, seg) if seg is not None else None
        if handle is None:
            return np.asarray(self).__reduce_ex__(protocol)
        hook = _send_hook.get
        if hook is not None:
            hook(seg)
        return _rebuild_shared, handle


def _handle_of(arr: np.ndarray, seg: Segment) -> tuple | None:
    start = arr.__array_interface__["data"][0] - seg.addr
    if not 0 <= start < seg.size:
        return None
    return (seg.id, start, arr.shape, arr.dtype.str, arr.strides)


def _rebuild_shared(seg_id: int, offset: int, shape: tuple, dtype: str, strides: tuple) -> SharedArray:
    seg = _registry.get(seg_id)
    if seg is None:
        raise RuntimeError(f"shared segment {seg_id:#x} is not mapped in process {os.getpid()}")
    arr = np.ndarray(shape, np.dtype(dtype), buffer=seg.mm, offset=offset, strides=strides).view(SharedArray)
    arr._fp_seg = seg
    return arr


class _SendHook(threading.local):
    """Per-thread callback that a channel sets while pickling, to learn which segments a message uses."""

    get: Callable[[Segment], None] | None = None


_send_hook = _SendHook()


def shared_array(shape: int | tuple[int, ...], dtype: Any = np.float32, fill: Any = None) -> SharedArray:
    """Allocate an array that lives in shared memory.

    Passing it to (or returning it from) an actor costs a small handle whatever its size, and
    the actor sees the same memory: it can write results in place (rollout buffers, observations).

    Args:
        shape: array shape.
        dtype: NumPy dtype (default float32).
        fill: optional value to fill with (the memory starts zeroed).

    Returns:
        A :class:`SharedArray` (an ``np.ndarray`` subclass).
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shared_array: negative dimension in shape {shape}")
    if dtype.hasobject:
        raise TypeError(f"shared_array: dtype {dtype} holds Python objects, which cannot live in shared memory")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    seg = Segment.create(max(nbytes, 1), SHARED, populate=False)
    arr = np.ndarray(shape, dtype, buffer=seg.mm).view(SharedArray)
    arr._fp_seg = seg
    if fill is not None:
        arr[...] = fill
    return arr


class _ArenaSeg:
    __slots__ = ("seg", "used", "live")

    def __init__(self, seg: Segment):
        self.seg, self.used, self.live = seg, 0, 0


class Arena:
    """Sender-side allocator for message buffers: bump allocation in a few persistent segments.

    A segment is rewound once every region in it has been released by the receiver, so in the
    steady state a channel reuses the same pre-faulted pages for every message.
    """

    MIN_SEGMENT = 4 << 20
    ALIGN = 64

    def __init__(self, max_idle_bytes: int = 512 << 20):
        self.segs: dict[int, _ArenaSeg] = {}
        self.current: _ArenaSeg | None = None
        self.max_idle_bytes = max_idle_bytes

    def alloc(self, nbytes: int) -> tuple[Segment, int, bool]:
        """Reserve ``nbytes``; returns (segment, offset, is_new_segment)."""
        need = _round_up(nbytes, self.ALIGN)
        cur = self.current
        if cur is not None and cur.used + need <= cur.seg.size:
            return cur.seg, self._take(cur, need), False
        for a in self.segs.values():
            if a.live == 0 and need <= a.seg.size:
                a.used = 0
                self.current = a
                return a.seg, self._take(a, need), False
        self._trim()
        # Size classes 1/16 of a power of two apart: at most ~6% more than asked (pages are pre-faulted,
        # so this is real memory), yet a message a little larger than the last rarely needs a new class.
        size = max(self.MIN_SEGMENT, _round_up(need, max(PAGE, 1 << max(need.bit_length() - 5, 0))))
        a = _ArenaSeg(Segment.create(size, ARENA))
        self.segs[a.seg.id] = a
        self.current = a
        return a.seg, self._take(a, need), True

    @staticmethod
    def _take(a: _ArenaSeg, need: int) -> int:
        off = a.used
        a.used += need
        a.live += 1
        return off

    def release(self, seg_id: int) -> None:
        a = self.segs.get(seg_id)
        if a is not None:
            a.live -= 1
            if a.live <= 0:
                a.live = 0
                a.used = 0

    def _trim(self) -> None:
        """Drop idle segments when too much idle memory is kept around (the peer is told to unmap)."""
        idle = [a for a in self.segs.values() if a.live == 0]
        total = sum(a.seg.size for a in idle)
        for a in sorted(idle, key=lambda a: a.seg.size):
            if total <= self.max_idle_bytes:
                break
            total -= a.seg.size
            del self.segs[a.seg.id]
            if self.current is a:
                self.current = None

    def close(self) -> None:
        self.segs.clear()
        self.current = None
