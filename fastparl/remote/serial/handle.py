"""The serial backend's handle: the actor is a plain object in this process, run by a
:class:`~fastparl.remote.dispatcher.Dispatcher` here, its arguments and results pickled both ways."""

from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from fastparl.errors import ActorDiedError, FastparlError, SerializationError
from fastparl.remote import serialization
from fastparl.remote.backend import ActorHandle, Backend
from fastparl.remote.dispatcher import Dispatcher
from fastparl.remote.error_messages import build_error, describe_request, describe_unpicklable
from fastparl.remote.futures import Future
from fastparl.remote.local.channel import OOB_THRESHOLD
from fastparl.remote.protocol import CALL, CALLABLE, CALLABLE_ATTR, ERR, GETATTR, INIT, SETATTR
from fastparl.remote.resources import GpuPool

__all__ = ["SerialActor"]


def _roundtrip(value: Any) -> Any:
    bufs: list[Any] = []

    def out_of_band(buf: Any) -> bool:
        if buf.raw().nbytes < OOB_THRESHOLD:  # as the local backend: small arrays are the receiver's own
            return True
        bufs.append(buf)
        return False

    data = serialization.dumps(value, out_of_band, bufs.clear, on_shared=lambda seg: True)
    views = [memoryview(bytes(b.raw())) for b in bufs]  # copies, read-only, like views of the sender's arena
    return pickle.loads(data, buffers=views)


class SerialActor(ActorHandle):
    def __init__(self, backend: Backend, gpu_pool: GpuPool, cls: type, args: tuple, kwargs: dict,
                 opts: dict[str, Any]):
        self.backend = backend
        self.gpu_pool = gpu_pool
        self.cls_name = cls.__name__
        self.pid = os.getpid()
        self.error: FastparlError | None = None
        self.gpus = gpu_pool.acquire(int(opts.get("n_gpu") or 0), self.cls_name)
        self.dispatcher = Dispatcher()
        self._lock = threading.RLock()  # one call at a time, as in an actor process, whatever the threads
        try:
            ok, value = self._run(INIT, (args, kwargs), "__init__", args, kwargs,
                                  lambda a_kw: (("obj", cls), *a_kw))
        except BaseException:
            self.release()
            raise
        if not ok:
            self.release()
            raise value

    def _run(self, op: int, payload: Any, name: str, args: tuple = (), kwargs: dict | None = None,
             wrap: Any = None) -> tuple[bool, Any]:
        what = describe_request(self.cls_name, op, name)
        if self.error is not None:
            raise self.error
        try:
            payload = _roundtrip(payload)
        except FastparlError:
            raise
        except Exception as e:  # noqa: BLE001
            raise describe_unpicklable(f"the arguments of {what}", args, kwargs, e) from e
        with self._lock:
            rop, result = self.dispatcher.handle(op, wrap(payload) if wrap else payload)
        if rop == ERR:
            return False, build_error(result, what)
        if rop == CALLABLE:
            return True, CALLABLE_ATTR
        try:
            return True, _roundtrip(result)
        except Exception as e:  # noqa: BLE001
            return False, SerializationError(f"the result of {what} could not be pickled: {type(e).__name__}: {e}")

    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        ok, value = self._run(CALL, (name, args, kwargs), name, args, kwargs)
        if not wait:
            return Future(self, 0, name, value, ok)
        if ok:
            return value
        raise value

    def getattr(self, name: str) -> Any:
        ok, value = self._run(GETATTR, name, name)
        if ok:
            return value
        raise value

    def setattr(self, name: str, value: Any) -> None:
        ok, err = self._run(SETATTR, (name, value), name, (value,))
        if not ok:
            raise err

    def result(self, seq: int, timeout: float | None) -> tuple[bool, Any]:
        raise FastparlError("a serial actor's futures are resolved when created")  # Future holds the value

    def poll(self, seq: int) -> tuple[bool, Any] | None:
        return None

    def drop(self, seq: int) -> None:
        pass

    def kill(self, reason: FastparlError | None = None) -> None:
        self.error = reason or ActorDiedError(f"actor {self.cls_name} was stopped by fastparl.kill(); create a new one")
        self._free()

    def release(self) -> None:
        if self.error is None:
            self.error = ActorDiedError(f"actor {self.cls_name} was released; create a new one")
        self._free()

    close = release

    def _free(self) -> None:
        self.dispatcher.obj = None
        gpus, self.gpus = getattr(self, "gpus", []), []
        if gpus:
            self.gpu_pool.release(gpus)
