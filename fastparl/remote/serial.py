"""The serial backend: actors are plain objects in the driver process (for pdb and for tests).

Requests run through the same :class:`~fastparl.remote.dispatcher.Dispatcher` as in an actor
process, and arguments and results make a pickle round trip, so that argument copying,
unpicklable values and read-only received arrays behave as on the local backend; only the
process is missing.  Calls run at once, so futures are always done.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from fastparl.errors import ActorDiedError, FastparlError, SerializationError
from fastparl.remote import serialization
from fastparl.remote.backend import ActorHandle, Backend, Capabilities
from fastparl.remote.dispatcher import Dispatcher
from fastparl.remote.errinfo import CALLABLE_ATTR, build_error
from fastparl.remote.futures import Future
from fastparl.remote.local import portable
from fastparl.remote.local.objref import ThisMachineBackend
from fastparl.remote.protocol import CALL, CALLABLE, ERR, GETATTR, INIT, SETATTR
from fastparl.remote.local.channel import OOB_THRESHOLD
from fastparl.remote.resources import GpuPool, visible_gpus
from fastparl.remote.serialization import describe_unpicklable
from fastparl.remote.tracker import describe_request

__all__ = ["SerialBackend", "SerialActor"]


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


class SerialBackend(ThisMachineBackend, Backend):
    name = "serial"
    capabilities = Capabilities(processes=False, shared_memory=True, zero_copy=False, interrupt_timeouts=False)

    def __init__(self, target: str = "serial", gpus: list[str] | None = None, **_options: Any):
        super().__init__()
        portable.configure()
        self.gpu_pool = GpuPool(visible_gpus() if gpus is None else gpus)

    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> "SerialActor":
        return SerialActor(self, cls, args, kwargs, opts)

    def shutdown(self) -> None:
        self.close_wake_pipe()


class SerialActor(ActorHandle):
    backend: SerialBackend

    def __init__(self, backend: SerialBackend, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]):
        self.backend = backend
        self.cls_name = cls.__name__
        self.pid = os.getpid()
        self.error: FastparlError | None = None
        self.gpus = backend.gpu_pool.acquire(int(opts.get("n_gpu") or 0), self.cls_name)
        self.dispatcher = Dispatcher(setup_process=False)
        self._lock = threading.RLock()  # one call at a time, as in an actor process, whatever the threads
        try:
            ok, value = self._run(INIT, (args, kwargs), "__init__", args, kwargs,
                                  lambda a_kw: (("obj", cls), *a_kw, None, None))
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
            self.backend.gpu_pool.release(gpus)
