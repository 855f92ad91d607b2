"""Pickling for messages: protocol 5, the C pickler first, cloudpickle only when needed.

The standard pickler costs ~0.4 us for a small call and cloudpickle ~1.7 us, so cloudpickle is
a fallback: for objects the standard pickler refuses (lambdas, local classes) and for objects it
would pickle by reference to ``__main__``, which the actor cannot import.

Objects that live in shared memory (a backend's shared arrays and ``put()`` references) register
a *share reducer* with :func:`register_shared_type`.  When a transport pickles a message with an
``on_shared`` callback, such objects travel as small handles and the callback learns which memory
they need (so that the transport can make it visible to the peer, or refuse: another host cannot
map it).  Without ``on_shared`` they pickle as ordinary values, e.g. to a file.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Callable

import cloudpickle

from fastparl.errors import FastparlError, SerializationError

__all__ = ["dumps", "loads", "describe_unpicklable", "register_shared_type", "PROTOCOL"]

PROTOCOL = 5
_MAIN = b"__main__"

# type -> reducer(obj, on_shared) returning a pickle reduce tuple, or None to pickle obj as usual.
ShareReducer = Callable[[Any, Callable[[Any], None]], "tuple | None"]
_SHARED_TYPES: dict[type, ShareReducer] = {}


def register_shared_type(cls: type, reducer: ShareReducer) -> None:
    """Send instances of exactly ``cls`` as handles (see the module docstring)."""
    _SHARED_TYPES[cls] = reducer


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, buffer_callback: Any, on_shared: Callable[[Any], None]):
        super().__init__(file, PROTOCOL, buffer_callback=buffer_callback)
        self.on_shared = on_shared

    def reducer_override(self, obj: Any) -> Any:  # not called for int, float, str, list, dict, ...
        share = _SHARED_TYPES.get(type(obj))
        if share is not None:
            reduced = share(obj, self.on_shared)
            if reduced is not None:
                return reduced
        return NotImplemented


class _CloudPickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, buffer_callback: Any, on_shared: Callable[[Any], None]):
        super().__init__(file, PROTOCOL, buffer_callback=buffer_callback)
        self.on_shared = on_shared

    def reducer_override(self, obj: Any) -> Any:
        share = _SHARED_TYPES.get(type(obj))
        if share is not None:
            reduced = share(obj, self.on_shared)
            if reduced is not None:
                return reduced
        return super().reducer_override(obj)


def _dump_with(pickler_cls: type, obj: Any, buffer_callback: Any, on_shared: Callable[[Any], None]) -> bytes:
    f = io.BytesIO()
    pickler_cls(f, buffer_callback, on_shared).dump(obj)
    return f.getvalue()


def dumps(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
          on_retry: Callable[[], None] | None = None, on_shared: Callable[[Any], None] | None = None) -> bytes:
    """Pickle ``obj`` (protocol 5).

    Args:
        buffer_callback: pickle's out-of-band buffer callback.
        on_retry: called before falling back to cloudpickle, so that the caller can forget what the
            failed attempt collected (buffers, shared objects).
        on_shared: see the module docstring; None pickles shared objects as plain values.
    """
    try:
        if on_shared is None:
            data = pickle.dumps(obj, PROTOCOL, buffer_callback=buffer_callback)
        else:
            data = _dump_with(_Pickler, obj, buffer_callback, on_shared)
        if _MAIN not in data:
            return data
    except FastparlError:  # e.g. shared memory refused by the transport: not a pickling problem
        raise
    except Exception:  # noqa: BLE001 - any other failure means: try the general pickler
        pass
    if on_retry is not None:
        on_retry()
    if on_shared is None:
        return cloudpickle.dumps(obj, PROTOCOL, buffer_callback=buffer_callback)
    return _dump_with(_CloudPickler, obj, buffer_callback, on_shared)


def loads(data: Any, buffers: Any = None) -> Any:
    return pickle.loads(data, buffers=buffers)


def describe_unpicklable(what: str, args: tuple = (), kwargs: dict | None = None, exc: BaseException | None = None,
                         value: Any = None) -> SerializationError:
    """Build a :class:`SerializationError` that names the culprit (which argument) and the fix."""
    culprit = ""
    for i, a in enumerate(args):
        if _fails(a):
            culprit = f"positional argument {i} ({type(a).__name__})"
            break
    else:
        for k, v in (kwargs or {}).items():
            if _fails(v):
                culprit = f"keyword argument {k!r} ({type(v).__name__})"
                break
    if not culprit and value is not None:
        culprit = f"value of type {type(value).__name__}"
    where = f"{what}: {culprit}" if culprit else what
    return SerializationError(
        f"could not pickle {where}: {type(exc).__name__ if exc else 'error'}: {exc}. "
        "Arguments and results of remote calls must be picklable (by pickle or cloudpickle): pass plain data "
        "(NumPy arrays, numbers, lists, dicts) instead of open files, locks, sockets, generators or live "
        "paddle tensors, or create such objects inside the actor.")


def _fails(obj: Any) -> bool:
    try:
        cloudpickle.dumps(obj, PROTOCOL, buffer_callback=lambda b: False)
        return False
    except Exception:  # noqa: BLE001
        return True
