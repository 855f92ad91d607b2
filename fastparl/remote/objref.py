"""The reference :func:`fastparl.put` returns: an object stored once, read by many actors without a copy each."""

from __future__ import annotations

from typing import Any

__all__ = ["ObjectRef"]


class ObjectRef:
    """A handle to an object stored once by :func:`fastparl.put` (a backend's ``put``).

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
