"""Pickling for messages: protocol 5, the C pickler first, cloudpickle only when needed.

The standard pickler costs ~0.4 us for a small call and cloudpickle ~1.7 us, so cloudpickle is
a fallback: for objects the standard pickler refuses (lambdas, local classes) and for objects it
would pickle by reference to ``__main__``, which the actor cannot import.

Objects that live in shared memory (a backend's shared arrays and ``put()`` references) register
a *share reducer* with :func:`register_shared_type`.  When a transport pickles a message with an
``on_shared`` callback, the reducer asks it about the memory the object needs: ``on_shared(segment)``
returns True when the peer can map it (the object then travels as a small handle), False when it
cannot (the object then pickles as an ordinary value), or raises when sending it by value would
silently break its meaning (a shared array written by another host).  Without ``on_shared``
shared objects pickle as ordinary values, e.g. to a file.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections import ChainMap
from types import CodeType, FunctionType
from typing import Any, Callable

import cloudpickle
import numpy as np

from fastparl.errors import FastparlError

__all__ = ["Encoder", "PLAIN_TYPES", "cloud_dumps", "dumps", "is_plain", "is_plain_or_arrays", "loads", "register_shared_type", "PROTOCOL"]

PROTOCOL = 5
_MAIN = b"__main__"

# type -> reducer(obj, on_shared) returning a pickle reduce tuple, or None to pickle obj as usual.
ShareReducer = Callable[[Any, Callable[[Any], bool]], "tuple | None"]
_SHARED_TYPES: dict[type, ShareReducer] = {}


def register_shared_type(cls: type, reducer: ShareReducer) -> None:
    """Send instances of exactly ``cls`` as handles (see the module docstring)."""
    _SHARED_TYPES[cls] = reducer


class _ByValue(Exception):
    """A class or function of ``__main__``: the actor cannot import it, so cloudpickle must copy it."""


_FAST_KINDS = frozenset("biufc")
# pickle writes in-band data of at least this size (its frame size target) straight to its file
# object: a buffer handed over that way is never copied into the pickle
_DIRECT_BYTES = 64 << 10


_DTYPE_STR: dict[Any, str] = {}  # dtype -> its ``str`` (a NumPy attribute that builds a new string each time)


def _reduce_array(arr: np.ndarray, inband_below: int) -> Any:
    """A plain contiguous array as (buffer, dtype string, shape): a few times cheaper than NumPy's own
    reduce (which pickles a dtype object and looks up a module function), both ways.  Below
    ``inband_below`` bytes the data is copied into the message as a bytearray (the receiver's array is
    its own and writable); above, it is a PickleBuffer for the transport's buffer callback."""
    dtype = arr.dtype
    if dtype.kind not in _FAST_KINDS or not arr.flags.c_contiguous:  # structured dtypes are kind "V"
        return NotImplemented
    s = _DTYPE_STR.get(dtype)
    if s is None:
        s = _DTYPE_STR[dtype] = dtype.str
    if arr.nbytes < inband_below and arr.nbytes < _DIRECT_BYTES:
        return _rebuild_array, (bytearray(arr.data), s, arr.shape)  # not bytearray(arr): 0-d ints are sizes
    # Out of band, or large and in band: the pickler hands the buffer itself to its writer (no copy)
    return _rebuild_array, (pickle.PickleBuffer(arr), s, arr.shape)  # type: ignore[arg-type]


def _rebuild_array(buf: Any, dtype: str, shape: tuple) -> np.ndarray:
    # in band: a private bytearray, so the array is writable (bytes come from a read-only source array:
    # copied, so that every in-band array is the receiver's own); out of band: a read-only view
    return np.ndarray(shape, dtype, bytearray(buf) if type(buf) is bytes else buf)


# The rebuild function travels as a two-byte extension code instead of its module and name: the
# receiver then skips the import machinery that resolving a global costs (~1 us a message).  Codes
# 240-255 are for private use (copyreg); if an application took ours, the name travels as before.
_EXT_CODE = 0xF5
try:
    copyreg.add_extension(__name__, "_rebuild_array", _EXT_CODE)
except ValueError:  # pragma: no cover - the code or the function is registered already
    pass


def _array_reducer(inband_below: int) -> Callable[[np.ndarray], Any]:
    """The dispatch-table reducer of :class:`Encoder`'s fast pickler (which has no ``__main__`` check)."""
    def reduce(arr: np.ndarray) -> Any:
        r = _reduce_array(arr, inband_below)
        if r is not NotImplemented:
            return r
        if arr.dtype.hasobject:  # its objects may be of __main__: the general path checks them
            raise _ByValue
        return arr.__reduce_ex__(PROTOCOL)  # strings, dates, structured, strided: NumPy's own
    return reduce


def _override(pickler: Any, obj: Any) -> Any:
    t = type(obj)
    if t is np.ndarray:
        return _reduce_array(obj, pickler.inband_below)
    share = _SHARED_TYPES.get(t)
    if share is not None:
        reduced = share(obj, pickler.on_shared)
        if reduced is not None:
            return reduced
    elif isinstance(obj, (type, FunctionType)) and getattr(obj, "__module__", None) == "__main__":
        raise _ByValue
    return NotImplemented


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, buffer_callback: Any, on_shared: Callable[[Any], bool],
                 inband_below: int = 0):
        super().__init__(file, PROTOCOL, buffer_callback=buffer_callback)
        self.on_shared = on_shared
        self.inband_below = inband_below

    def reducer_override(self, obj: Any) -> Any:  # not called for int, float, str, list, dict, ...
        return _override(self, obj)


PLAIN_TYPES = _PLAIN = frozenset({type(None), bool, int, float, str, bytes})


def is_plain(payload: Any) -> bool:
    """Whether ``payload`` is built of plain values, two tuple levels deep at most: a call such as
    ``("step", (1, 0.5), None)`` or a reply such as ``None`` or ``3.0``.  Those need no buffer
    callback, shared-memory hook or ``__main__`` check, which saves ~1 us per message."""
    t = type(payload)
    if t in _PLAIN:
        return True
    if t is not tuple:
        return False
    for item in payload:
        t = type(item)
        if t in _PLAIN:
            continue
        if t is not tuple:
            return False
        for sub in item:
            if type(sub) not in _PLAIN:
                return False
    return True


_ARRAY = np.ndarray


def is_plain_or_arrays(payload: Any, depth: int = 4) -> bool:
    """Whether ``payload`` is built of plain values and exact NumPy arrays in tuples, lists and dicts
    with str keys, ``depth`` levels deep at most: a call such as ``("set", ({"w": [w1, w2]},), None)`` or a reply
    such as ``(obs, reward, done)``.  Those hold no class, function or shared-memory object, so they can
    be pickled without :meth:`_Pickler.reducer_override`, a Python call for every container."""
    t = type(payload)
    if t in _PLAIN or t is _ARRAY:
        return True
    if depth == 0:
        return False
    depth -= 1
    if t is tuple or t is list:
        for item in payload:
            t = type(item)
            if not (t in _PLAIN or t is _ARRAY or is_plain_or_arrays(item, depth)):
                return False
        return True
    if t is dict:
        for k, v in payload.items():
            if type(k) is not str:
                return False
            t = type(v)
            if not (t in _PLAIN or t is _ARRAY or is_plain_or_arrays(v, depth)):
                return False
        return True
    return False


# Arrays smaller than this arrive as the receiver's own writable arrays on every backend; larger ones
# may be read-only views of the sender's buffer (local: from 128 KB, zmq: from 64 KB, Ray: any size,
# from its object store), which the receiver copies to write.  README "Arrays" states the rule.
WRITABLE_BELOW = 64 << 10


def own_small_arrays(value: Any, depth: int = 4) -> Any:
    """``value`` with each read-only array under :data:`WRITABLE_BELOW` bytes replaced by a writable copy,
    inside tuples, lists and dicts ``depth`` levels deep; containers are rebuilt only where an array was.

    For backends whose deserialiser returns read-only views of every array (Ray), so that small
    results behave as on the local and zmq backends."""
    t = type(value)
    if t is _ARRAY:
        return value.copy() if not value.flags.writeable and value.nbytes < WRITABLE_BELOW else value
    if depth == 0:
        return value
    if t is tuple or t is list:
        items = [own_small_arrays(v, depth - 1) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return t(items)
        return value
    if t is dict:
        changed = {k: v2 for k, v in value.items() if (v2 := own_small_arrays(v, depth - 1)) is not v}
        if changed:
            return {**value, **changed}
    return value


def _code_reduce(code: CodeType) -> Any:
    """cloudpickle's code reducer, but keeping the file name: it writes ``<dynamic-code>`` instead,
    which would leave remote tracebacks of classes shipped by value without files or source lines."""
    fn, args = cloudpickle.cloudpickle._code_reduce(code)
    return fn, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)


class _CloudPickler(cloudpickle.Pickler):
    dispatch_table = ChainMap({CodeType: _code_reduce}, cloudpickle.Pickler.dispatch_table)

    def __init__(self, file: io.BytesIO, buffer_callback: Any, on_shared: Callable[[Any], bool],
                 inband_below: int = 0):
        super().__init__(file, PROTOCOL, buffer_callback=buffer_callback)
        self.on_shared = on_shared
        self.inband_below = inband_below

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is np.ndarray:
            return _reduce_array(obj, self.inband_below)
        share = _SHARED_TYPES.get(t)
        if share is not None:
            reduced = share(obj, self.on_shared)
            if reduced is not None:
                return reduced
        return super().reducer_override(obj)


class Encoder:
    """A reusable pickler for one transport's messages.

    Args:
        buffer_callback: pickle's out-of-band buffer callback (returns True to keep a buffer in band).
        on_shared: told of each shared-memory object a message holds (see the module docstring).
        on_retry: called before a message is pickled again by cloudpickle, so that the owner can
            forget what the failed attempt collected.
        inband_below: arrays smaller than this many bytes are copied into the message without a
            buffer callback (which would keep them in band anyway).
    """

    def __init__(self, buffer_callback: Any, on_shared: Callable[[Any], bool], on_retry: Callable[[], None],
                 inband_below: int = 0):
        # The picklers write to a list: pickle's own output buffers and large in-band buffers (array
        # memory, as PickleBuffers) are kept as they are, for the transport to send without joining them.
        self._parts: list[Any] = []
        sink = _Sink(self._parts.append)
        self._pickler = _Pickler(sink, buffer_callback, on_shared, inband_below)  # type: ignore[arg-type]
        # plain values and arrays only (see is_plain_or_arrays): no reducer_override, arrays by dispatch table
        self._fast = pickle.Pickler(sink, PROTOCOL, buffer_callback=buffer_callback)
        self._fast.dispatch_table = {np.ndarray: _array_reducer(inband_below)}
        self._args = (buffer_callback, on_shared, inband_below)
        self._on_retry = on_retry

    def dumps(self, obj: Any) -> bytes:
        """Pickle ``obj`` into one bytes object."""
        parts = self.dumps_parts(obj)
        return parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)

    def dumps_parts(self, obj: Any) -> list[Any]:
        """Pickle ``obj`` into a list of buffers to be sent in order (bytes, and large in-band buffers
        such as PickleBuffers of array memory: valid only until that memory changes)."""
        parts = self._parts
        p: pickle.Pickler = self._fast if is_plain_or_arrays(obj) else self._pickler
        try:
            p.dump(obj)
            return parts[:]
        except FastparlError:  # e.g. shared memory refused by the transport: not a pickling problem
            raise
        except Exception:  # noqa: BLE001 - _ByValue, or anything the C pickler refuses: use cloudpickle
            pass
        finally:
            p.clear_memo()  # hold no reference to the message's objects
            parts.clear()
        self._on_retry()
        f = io.BytesIO()
        _CloudPickler(f, *self._args).dump(obj)
        return [f.getvalue()]


class _Sink:
    """A file object for the pickler whose ``write`` keeps each buffer it is given, uncopied."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[Any], Any]):
        self.write = write


def cloud_dumps(obj: Any) -> bytes:
    """cloudpickle ``obj`` by value (classes and functions included), keeping code file names."""
    f = io.BytesIO()
    _CloudPickler(f, None, lambda seg: False).dump(obj)
    return f.getvalue()


def dumps(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
          on_retry: Callable[[], None] | None = None, on_shared: Callable[[Any], bool] | None = None) -> bytes:
    """Pickle ``obj`` (protocol 5) once; see :class:`Encoder` for the arguments.

    Without ``on_shared``, shared objects pickle as plain values (e.g. for a file).
    """
    if on_shared is not None:
        return Encoder(buffer_callback, on_shared, on_retry or (lambda: None)).dumps(obj)
    try:
        data = pickle.dumps(obj, PROTOCOL, buffer_callback=buffer_callback)
        if _MAIN not in data:
            return data
    except Exception:  # noqa: BLE001 - any failure means: try the general pickler
        pass
    if on_retry is not None:
        on_retry()
    f = io.BytesIO()
    _CloudPickler(f, buffer_callback, lambda seg: False).dump(obj)
    return f.getvalue()


def loads(data: Any, buffers: Any = None) -> Any:
    return pickle.loads(data, buffers=buffers)
