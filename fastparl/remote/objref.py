"""``fastparl.put``: store an object once, let many actors read it without a copy each."""

from __future__ import annotations

from typing import Any

__all__ = ["ObjectRef", "put"]


class ObjectRef:
    """A handle to an object stored once by :func:`put`.

    Pass it as an argument to any number of actor calls: each actor receives the object itself.
    On this machine the object lives once in shared memory and each actor process rebuilds it
    once (its NumPy arrays are read-only views of the shared copy); a backend without shared
    memory sends it by value.  ``fastparl.get(ref)`` returns the object in the driver.
    """

    __slots__ = ("value", "__weakref__")

    def __init__(self, value: Any):
        self.value = value

    def __reduce__(self) -> Any:  # outside a transport that shares memory: the object itself travels
        return _identity, (self.value,)

    def __repr__(self) -> str:
        return f"<fastparl.ObjectRef {type(self.value).__name__}>"


def _identity(value: Any) -> Any:
    return value


def put(obj: Any) -> ObjectRef:
    """Store ``obj`` once and return a reference to pass to actors.

    Use it to broadcast the same large data (weights, a dataset) to many actors: one write,
    then each actor reads it in place instead of receiving its own copy.
    """
    from fastparl.remote.api import backend

    return backend().put(obj)
