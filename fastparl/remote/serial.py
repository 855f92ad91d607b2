"""The serial backend: actors are plain objects in the driver process (for pdb and for tests).

Calls still go through a pickle round trip, so that argument copying, unpicklable values and
read-only received arrays behave as in the local backend; only the process is missing.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

from fastparl.errors import ActorDiedError, SerializationError
from fastparl.remote import actor as actor_mod
from fastparl.remote import serialization
from fastparl.remote.futures import Future
from fastparl.remote.handle import CALLABLE_ATTR, build_error
from fastparl.remote.resources import GpuPool
from fastparl.remote.serialization import describe_unpicklable

__all__ = ["SerialBackend", "SerialActor"]


def _roundtrip(value: Any) -> Any:
    bufs: list[Any] = []

    def out_of_band(buf: Any) -> bool:
        bufs.append(buf)
        return False

    data = serialization.dumps(value, out_of_band, bufs.clear)
    views = []
    for b in bufs:  # copy, and make read-only, like a view of the sender's arena
        m = memoryview(bytes(b.raw()))
        views.append(m)
    return pickle.loads(data, buffers=views)


class SerialBackend:
    name = "serial"

    def __init__(self, gpus: list[str]):
        self.gpus = GpuPool(gpus)

    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict) -> "SerialActor":
        return SerialActor(self, cls, args, kwargs, opts)

    def shutdown(self) -> None:
        pass


class SerialActor:
    fileno = -1

    def __init__(self, backend: SerialBackend, cls: type, args: tuple, kwargs: dict, opts: dict):
        self.backend = backend
        self.cls_name = cls.__name__
        self.pid = os.getpid()
        self.error: Exception | None = None
        self.gpus = backend.gpus.acquire(int(opts.get("n_gpu") or 0), self.cls_name)
        what = f"{self.cls_name}.__init__()"
        args, kwargs = self._copy_in((args, kwargs), what, args, kwargs)
        try:
            self.obj = cls(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            self.close()
            raise build_error(actor_mod.error_info(e), what) from None

    def _copy_in(self, value: Any, what: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        try:
            return _roundtrip(value)
        except Exception as e:  # noqa: BLE001
            raise describe_unpicklable(f"the arguments of {what}", args, kwargs, e) from e

    def _run(self, fn: Any, what: str) -> tuple[bool, Any]:
        if self.error is not None:
            return False, self.error
        try:
            result = fn()
        except AttributeError as e:
            return False, build_error(actor_mod.error_info(e, "attr"), what)
        except Exception as e:  # noqa: BLE001
            return False, build_error(actor_mod.error_info(e), what)
        if result is CALLABLE_ATTR:
            return True, result
        try:
            return True, _roundtrip(result)
        except Exception as e:  # noqa: BLE001
            return False, SerializationError(f"the result of {what} could not be pickled: {type(e).__name__}: {e}")

    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        what = f"{self.cls_name}.{name}()"
        if self.error is not None:
            raise self.error
        args, kwargs = self._copy_in((args, kwargs or {}), what, args, kwargs)
        try:
            fn = getattr(self.obj, name)
        except AttributeError as e:
            ok, value = False, build_error(actor_mod.error_info(e, "attr"), what)
        else:
            ok, value = self._run(lambda: fn(*args, **kwargs), what)
        if not wait:
            return Future(self, 0, name, value, ok)
        if ok:
            return value
        raise value

    def getattr(self, name: str) -> Any:
        ok, value = self._run(lambda: _attr(self.obj, name), f"{self.cls_name}.{name}")
        if ok:
            return value
        raise value

    def setattr(self, name: str, value: Any) -> None:
        value = self._copy_in(value, f"setting {self.cls_name}.{name}", (value,))
        ok, err = self._run(lambda: setattr(self.obj, name, value), f"setting {self.cls_name}.{name}")
        if not ok:
            raise err

    def poll_reply(self, seq: int, name: str = "?") -> None:
        return None

    def drop_reply(self, seq: int) -> None:
        pass

    def kill(self, reason: Exception | None = None) -> None:
        self.error = reason or ActorDiedError(f"actor {self.cls_name} was stopped by fastparl.kill(); create a new one")
        self.close()

    def close(self) -> None:
        if self.error is None:
            self.error = ActorDiedError(f"actor {self.cls_name} was released; create a new one")
        self.obj = None
        gpus, self.gpus = getattr(self, "gpus", []), []
        if gpus:
            self.backend.gpus.release(gpus)


def _attr(obj: Any, name: str) -> Any:
    value = getattr(obj, name)
    if callable(value) and not isinstance(value, type):
        return CALLABLE_ATTR
    return value
