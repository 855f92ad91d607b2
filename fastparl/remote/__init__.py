"""The parallel interface: remote classes, futures, shared arrays.  Needs no deep-learning framework."""

from fastparl.remote.api import backend, connect, disconnect, is_connected, kill
from fastparl.remote.futures import Future, get, wait
from fastparl.remote.objref import ObjectRef, put
from fastparl.remote.proxy import RemoteProxy, remote_class
from fastparl.remote.shm import SharedArray, shared_array

__all__ = [
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
    "remote_class",
    "shared_array",
    "wait",
]
