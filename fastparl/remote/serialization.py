"""Pickling for messages: protocol 5, the C pickler first, cloudpickle only when needed.

The standard pickler costs ~0.4 us for a small call and cloudpickle ~1.7 us, so cloudpickle is
a fallback: for objects the standard pickler refuses (lambdas, local classes) and for objects it
would pickle by reference to ``__main__``, which the actor cannot import.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable

import cloudpickle

from fastparl.errors import SerializationError

__all__ = ["dumps", "loads", "describe_unpicklable", "PROTOCOL"]

PROTOCOL = 5
_MAIN = b"__main__"


def dumps(obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
          on_retry: Callable[[], None] | None = None) -> bytes:
    """Pickle ``obj`` (protocol 5).  ``on_retry`` is called before falling back to cloudpickle,
    so that the caller can forget out-of-band buffers collected by the failed attempt."""
    try:
        data = pickle.dumps(obj, PROTOCOL, buffer_callback=buffer_callback)
        if _MAIN not in data:
            return data
    except Exception:  # noqa: BLE001 - any failure means: try the general pickler
        pass
    if on_retry is not None:
        on_retry()
    return cloudpickle.dumps(obj, PROTOCOL, buffer_callback=buffer_callback)


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
