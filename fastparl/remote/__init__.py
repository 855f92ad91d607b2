"""The parallel interface: remote classes, futures, shared arrays.  Needs no deep-learning framework.

Layers, top down: :mod:`.api` (``connect``, ``put``, ``shared_array``, ...), :mod:`.proxy`
(``@remote_class``) and :mod:`.futures` sit on the declared backend interface, the *seam*
(:mod:`.backend`).  Below it each backend is a package with the same roles: ``backend.py`` (the
:class:`Backend`), ``handle.py`` (the driver's :class:`ActorHandle`), ``host.py`` (what runs in the
actor's process): :mod:`.local`, :mod:`.serial`, :mod:`.zmq`, :mod:`.ray`.  Shared by the backends:
:mod:`.tracker` (request tracking over a :mod:`.transport`), :mod:`.dispatcher` (the actor side),
:mod:`.class_transfer`, :mod:`.protocol`, :mod:`.serialization`, :mod:`.error_messages`,
:mod:`.hosts`, :mod:`.resources` and :mod:`.system` (the operating system).  On top of the API:
:mod:`.restarts` (``max_restarts``) and :mod:`.pool` (``ActorPool``: samplers that survive deaths).
"""

import sys as _sys
import types as _types
import warnings as _warnings

from fastparl.remote.api import connect, current_backend, disconnect, is_connected, kill, put, shared_array
from fastparl.remote.backend import ActorHandle, Backend, Capabilities, register_backend
from fastparl.remote.futures import Future, get, wait
from fastparl.remote.local.shm import SharedArray
from fastparl.remote.objref import ObjectRef
from fastparl.remote.pool import ActorPool
from fastparl.remote.proxy import RemoteProxy, remote_class

__all__ = [
    "ActorHandle",
    "ActorPool",
    "Backend",
    "Capabilities",
    "Future",
    "ObjectRef",
    "RemoteProxy",
    "SharedArray",
    "connect",
    "current_backend",
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


class _SeamModule(_types.ModuleType):
    """The class of the module :mod:`fastparl.remote.backend`, which may also be called, for one release,
    as the function ``fastparl.remote.backend()`` it used to shadow (now :func:`current_backend`)."""

    def __call__(self) -> Backend:
        _warnings.warn("fastparl.remote.backend() is deprecated and will be removed in the next release: use "
                       "fastparl.remote.current_backend() (fastparl.remote.backend is the backend interface module)",
                       DeprecationWarning, stacklevel=2)
        return current_backend()


_sys.modules["fastparl.remote.backend"].__class__ = _SeamModule
