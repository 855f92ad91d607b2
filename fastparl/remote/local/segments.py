"""Shared-memory segments: ``memfd`` mappings, the process's registry of them, and their lifetimes.

Every block of shared memory is a *segment*: an anonymous ``memfd`` mapped into each process
that uses it.  A memfd has no name in ``/dev/shm``, so nothing can leak there: the kernel frees
the memory when the last descriptor and mapping are gone, whatever way the processes end.
Descriptors travel between processes over a channel's descriptor socket (``SCM_RIGHTS``).

Three kinds of segment exist:

* ``ARENA``: a sender-owned buffer for the out-of-band pickle buffers of messages (see
  :mod:`.arena`).  It goes to one peer only, so neither side keeps its descriptor once mapped.
* ``SHARED``: the memory of a ``shared_array``; every process maps it read-write and a message
  carries only its handle.  Holders keep the descriptor, to pass it on to more actors.
* ``REF``: a ``put()`` object, written once and read by many actors.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import mmap
import os
import threading
import weakref
from typing import Any

import numpy as np
import psutil

from fastparl.errors import ResourceError
from fastparl.remote.error_messages import fd_error
from fastparl.remote.system import portable

__all__ = ["Segment", "ARENA", "SHARED", "REF", "PAGE", "lookup", "recycler", "forwarded", "close_fd",
           "map_memory"]

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


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


@functools.lru_cache(maxsize=1)
def memory_limit() -> int:
    """Bytes of memory there are at most: RAM and swap, or the (cgroup) container's limit if lower.
    Read once (it needs descriptors, which may be the very thing that ran out later)."""
    try:
        limit = psutil.virtual_memory().total + psutil.swap_memory().total
    except OSError:
        return 1 << 62
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return int(limit)


def _memfd(kind: int, size: int) -> int:
    try:
        fd = portable.new_shm_fd(str(kind))
    except OSError as e:
        if e.errno in (errno.EMFILE, errno.ENFILE):
            raise fd_error("creating shared memory", e) from None
        raise
    try:
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PYBUF_READ, _PYBUF_WRITE = 0x100, 0x200
_MAP_FAILED = ctypes.c_void_p(-1).value


def map_memory(fd: int, size: int, writable: bool, populate: bool) -> memoryview:
    """Map ``size`` bytes of ``fd``; the memory is unmapped when the returned memoryview is gone.

    Not ``mmap.mmap``: before Python 3.13 it keeps a duplicate of the descriptor open for as long
    as the mapping lives, which would cost one descriptor per segment mapped (every actor's
    arena, every received array's segment) and run a driver with a 1024 limit out of them.
    A read-only mapping gives a read-only memoryview, so NumPy refuses to make views writable.
    """
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    flags = mmap.MAP_SHARED | (_MAP_POPULATE if populate else 0)
    addr = _libc.mmap(None, size, prot, flags, fd, 0)
    if addr is None or addr == _MAP_FAILED:
        err = ctypes.get_errno()
        if err == errno.ENOMEM:
            raise ResourceError(
                f"could not map {size / 2**20:.1f} MB of shared memory in process {os.getpid()}: out of memory or "
                "address space (ulimit -v). Use smaller arrays, or free memory (drop arrays and put() objects)")
        raise OSError(err, f"mmap of {size} bytes: {os.strerror(err)}")
    view = _memory_view(addr, size, _PYBUF_WRITE if writable else _PYBUF_READ)
    weakref.finalize(view, _libc.munmap, addr, size).atexit = False  # the process exit unmaps it anyway
    return view


class Segment:
    """One memfd mapping.  Holds its descriptor while it may be sent to more peers."""

    __slots__ = ("id", "kind", "size", "_fd", "mm", "u8", "addr", "writable", "peers", "__weakref__")

    def __init__(self, seg_id: int, kind: int, size: int, fd: int, writable: bool, populate: bool = True):
        self.id, self.kind, self.size, self.writable = seg_id, kind, size, writable
        self.mm = map_memory(fd, size, writable, populate)
        self.u8 = np.ndarray((size,), np.uint8, buffer=self.mm)
        self.addr = self.u8.ctypes.data
        self._fd = [fd]  # a box shared with the finalizer, so that drop_fd() and death never close twice
        # Channels whose peer has been sent this segment's descriptor: told to forget it when it dies.
        self.peers: weakref.WeakSet[Any] = weakref.WeakSet()
        _registry[seg_id] = self
        recycled = kind == REF and writable  # an owned put() segment: its memory is reused, not freed
        if recycled:
            recycler.track(self)
        weakref.finalize(self, _segment_died, seg_id, None if recycled else self._fd, self.peers)

    @property
    def fd(self) -> int:
        return self._fd[0]

    @classmethod
    def create(cls, size: int, kind: int, populate: bool = True) -> "Segment":
        size = max(PAGE, round_up(size, PAGE))
        limit = memory_limit()
        if size > limit:  # a memfd takes any size, and the machine would go out of memory as it fills
            what = {SHARED: "a shared array", REF: "a put() object"}.get(kind, "a message's arrays")
            raise ResourceError(
                f"{what} needs {size / 2**30:.1f} GB of shared memory, more than this machine can hold "
                f"({limit / 2**30:.1f} GB of RAM and swap, or the container's memory limit). Use smaller arrays.")
        fd = recycler.take(size) if kind == REF else None
        if fd is None:  # else: pages exist already, mapping them is cheap (no zeroing by the kernel)
            fd = _memfd(kind, size)
        try:
            return cls(_new_id(), kind, size, fd, writable=True, populate=populate)
        except BaseException:
            os.close(fd)
            raise

    def drop_fd(self) -> None:
        """Close the descriptor (the mapping stays): for segments that will never be sent again."""
        fd, self._fd[0] = self._fd[0], -1
        if fd >= 0 and not (self.kind == REF and self.writable):  # the recycler owns those descriptors
            close_fd(fd)

    def view(self, offset: int, nbytes: int) -> np.ndarray:
        """A fresh uint8 array on ``[offset, offset + nbytes)`` whose base is the mapping itself.

        Its base is the mapping's memoryview (not another array), so NumPy does not collapse the base chain of
        arrays built on it: a weakref finalizer on the returned object fires exactly when the last
        view of the region is gone.
        """
        return np.ndarray((nbytes,), np.uint8, buffer=self.mm, offset=offset)


def _segment_died(seg_id: int, fd_box: list[int] | None, peers: "weakref.WeakSet[Any]") -> None:
    if fd_box is not None and fd_box[0] >= 0:
        close_fd(fd_box[0])
        fd_box[0] = -1
    for channel in list(peers):
        channel.forget_later(seg_id)


class _Recycler:
    """Reuses the memory of dead ``put()`` segments, which the kernel is slow to hand out fresh
    (it zeroes every page: ~1.6 GB/s here, against ~10 GB/s for the copy into existing pages).

    A segment's descriptor is pooled only once nobody can see its memory any more: the owner's
    mapping is gone (the reference and every local view of it died), and every peer it was sent
    to has acknowledged that its own mapping is gone (``CTRL_UNMAPPED``, sent by the peer when its
    last view dies after the owner said forget) or has closed its channel.  A memory that someone
    still reads is therefore never overwritten.  Pooled sizes must match within 25%.
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
            close_fd(fd)

    def take(self, size: int) -> int | None:
        with self.lock:
            fits = [(s, fd) for s, fd in self.pool if size <= s <= size * 5 // 4]
            if not fits:
                return None
            best = min(fits)
            self.pool.remove(best)
            return best[1]


recycler = _Recycler()
# put() segments this process received and passed on to another peer: it never acknowledges them,
# so their owner never reuses memory that the other peer may still read.
forwarded: set[int] = set()


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def lookup(seg_id: int) -> Segment | None:
    return _registry.get(seg_id)
