"""The parallel interface: remote classes, futures, shared arrays.  Needs no deep-learning framework.

Layers: :mod:`.proxy` (``@remote_class``) and :mod:`.futures` sit on the declared backend
interface of :mod:`.backend`; :mod:`.tracker` (request tracking over a transport) and
:mod:`.dispatcher` (the actor side) are shared by the backends; :mod:`.local` holds the local
backend's machinery, :mod:`.serial` the in-process backend.
"""

from fastparl.remote.api import backend, connect, disconnect, is_connected, kill, shared_array
from fastparl.remote.backend import ActorHandle, Backend, Capabilities, register_backend
from fastparl.remote.futures import Future, get, wait
from fastparl.remote.local.shm import SharedArray
from fastparl.remote.objref import ObjectRef, put
from fastparl.remote.proxy import RemoteProxy, remote_class

__all__ = [
    "ActorHandle",
    "Backend",
    "Capabilities",
    "Future",
    "ObjectRef",
    "RemoteProxy",
    "SharedArray",
    "backend",
    "connect",
    "disconnect",
    "get",
    "is_connected",
    "kill",
    "put",
    "register_backend",
    "remote_class",
    "shared_array",
    "wait",
]
