"""Shared arrays: NumPy arrays whose memory every actor on this machine maps in place.

Sending one to an actor sends a small handle (segment id, offset, shape, dtype, strides); the
segment's descriptor goes along the first time that actor needs it.  Pickled anywhere else (to a
file, or to an actor on another host) a shared array is an ordinary array.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from fastparl.remote.local.segments import SHARED, Segment, lookup
from fastparl.remote.serialization import register_shared_type

__all__ = ["SharedArray", "shared_array"]


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

    def __reduce_ex__(self, protocol):
        return np.asarray(self).__reduce_ex__(protocol)  # outside a channel: an ordinary array


def _share(arr: SharedArray, on_shared: Callable[[Segment], bool]) -> tuple | None:
    """Reduce a shared array to a handle, telling the transport which segment it needs."""
    seg = arr._fp_seg
    if seg is None:
        return None
    start = arr.__array_interface__["data"][0] - seg.addr
    if not 0 <= start < seg.size or not on_shared(seg):
        return None
    return _rebuild_shared, (seg.id, start, arr.shape, arr.dtype.str, arr.strides)


def _rebuild_shared(seg_id: int, offset: int, shape: tuple, dtype: str, strides: tuple) -> SharedArray:
    seg = lookup(seg_id)
    if seg is None:
        raise RuntimeError(f"shared segment {seg_id:#x} is not mapped in process {os.getpid()}")
    arr = np.ndarray(shape, np.dtype(dtype), buffer=seg.mm, offset=offset, strides=strides).view(SharedArray)
    arr._fp_seg = seg
    return arr


register_shared_type(SharedArray, _share)


def shared_array(shape: int | tuple[int, ...], dtype: Any = np.float32, fill: Any = None) -> SharedArray:
    """Allocate an array in shared memory (see :func:`fastparl.shared_array`)."""
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
