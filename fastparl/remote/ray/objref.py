"""``fastparl.put`` over Ray's object store."""

from __future__ import annotations

from typing import Any

from fastparl.remote.objref import ObjectRef

__all__ = ["RayObjectRef"]


class RayObjectRef(ObjectRef):
    """An object stored once in Ray's object store.

    It pickles to the Ray reference: each actor that receives it fetches the object from the
    store of its own node (NumPy arrays come out as read-only views of that store, shared by the
    actors of a node), instead of receiving a copy in every call.  The driver keeps the object
    itself in :attr:`value`, so ``fastparl.get(ref)`` costs nothing.
    """

    __slots__ = ("ray_ref",)

    def __init__(self, value: Any, ray_ref: Any):
        super().__init__(value)
        self.ray_ref = ray_ref

    def __reduce__(self) -> Any:
        return _fetch, (self.ray_ref,)

    def __repr__(self) -> str:
        return f"<fastparl.ObjectRef {type(self.value).__name__} in Ray's object store>"


def _fetch(ray_ref: Any) -> Any:
    import ray

    return ray.get(ray_ref)
