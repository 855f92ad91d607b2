"""The driver's handle on one fastparl actor running as a Ray actor, and Ray's errors in fastparl's terms."""

from __future__ import annotations

import re
from typing import Any

from fastparl.errors import ActorDiedError, FastparlError, ResourceError, SerializationError
from fastparl.remote.backend import ActorHandle, Backend
from fastparl.remote.error_messages import build_error, describe_request, describe_unpicklable, timeout_error, \
    unpicklable_reply
from fastparl.remote.futures import Future
from fastparl.remote.protocol import CALL, CALLABLE, CALLABLE_ATTR, ERR, GETATTR, INIT, SETATTR
from fastparl.remote.ray.host import ErrorReply
from fastparl.remote.serialization import own_small_arrays

__all__ = ["RayActor", "PendingCall"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PendingCall:
    """What a ``wait=False`` future holds in place of a sequence number: the Ray reference of its reply.

    Ray keeps replies until their reference is dropped, so there is no table of pending calls to
    keep in step: the reply lives exactly as long as the future that may read it.
    """

    __slots__ = ("ref", "name", "direct")

    def __init__(self, ref: Any, name: str, direct: bool):
        self.ref, self.name, self.direct = ref, name, direct


class RayActor(ActorHandle):
    """One fastparl actor as a Ray actor (a generated subclass of :class:`~fastparl.remote.ray.host.Host`).

    A method of the user's class is called as the Ray method of the same name, with the user's own
    arguments ("direct": its reply is the result, or an :class:`ErrorReply`); anything else goes
    through ``Host._fp_handle`` as a request ``(op, payload)``.  Ray runs an actor's tasks one at
    a time, in the order they were submitted.
    """

    def __init__(self, backend: Backend, ray: Any, handle: Any, cls_name: str, methods: set[str], spec: tuple,
                 args: tuple, kwargs: dict, start_timeout: float | None, needs: str):
        self.backend = backend  # the RayBackend that made it (which imports this module, not the reverse)
        self.ray = ray
        self.cls_name = cls_name
        self.pid = -1
        self.error: FastparlError | None = None
        self._handle: Any = handle
        self._names = methods
        self._methods: dict[str, Any] = {}  # name -> the Ray method's bound submit function
        self._generic: Any = handle._fp_handle.remote
        what = describe_request(cls_name, INIT, "__init__")
        try:
            ref = handle._fp_start.remote(INIT, (spec, args, kwargs))
        except Exception as e:  # noqa: BLE001
            self._stop()
            raise describe_unpicklable(f"the arguments of {what}", args, kwargs, _submit_cause(e)) from None
        try:
            reply = self.ray.get(ref, timeout=start_timeout)
        except self.ray.exceptions.GetTimeoutError:
            self._stop()
            raise ResourceError(
                f"Ray did not start actor {cls_name}{needs} within {start_timeout} s. The cluster may lack free "
                "resources for it (see `ray status`): release actors, add nodes, ask for less, or pass a longer "
                "start_timeout= to fastparl.connect()") from None
        except Exception as e:  # noqa: BLE001
            self._stop()
            raise self._error_of(e, what)  # noqa: B904 - its cause is Ray's error, set by _error_of
        rop, result, self.pid = reply
        if rop == ERR:
            self._stop()
            raise build_error(result, what)

    # ------------------------------------------------------------------ requests
    def _submit(self, op: int, payload: Any, name: str, args: tuple, kwargs: dict | None) -> tuple[Any, bool]:
        """Send a request; returns (Ray reference of the reply, whether it went to the method of that name)."""
        if self.error is not None:
            raise self.error
        try:
            if op == CALL:
                submit = self._methods.get(name)
                if submit is None and name in self._names:
                    submit = self._methods[name] = getattr(self._handle, name).remote
                if submit is not None:
                    if kwargs and "_ray_trace_ctx" in kwargs:  # ray.remote(cls) added it to cls's methods
                        kwargs = {k: v for k, v in kwargs.items() if k != "_ray_trace_ctx"}
                    return (submit(*args, **kwargs) if kwargs else submit(*args)), True
            return self._generic(op, payload), False
        except Exception as e:  # noqa: BLE001 - Ray could not pickle the arguments
            if self.error is not None:
                raise self.error from None
            what = describe_request(self.cls_name, op, name)
            raise describe_unpicklable(f"the arguments of {what}", args, kwargs, _submit_cause(e)) from None

    def _wait_reply(self, ref: Any, op: int, name: str, direct: bool, timeout: float | None = None
                    ) -> tuple[bool, Any]:
        try:
            reply = self.ray.get(ref, timeout=timeout)
        except self.ray.exceptions.GetTimeoutError:
            raise timeout_error(describe_request(self.cls_name, op, name), timeout) from None
        except Exception as e:  # noqa: BLE001 - Ray's errors: the actor died, a reply could not be pickled, ...
            return False, self._error_of(e, describe_request(self.cls_name, op, name))
        if direct:
            if type(reply) is ErrorReply:
                return False, build_error(reply.info, describe_request(self.cls_name, op, name))
            return True, own_small_arrays(reply)
        rop, payload = reply
        if rop == ERR:
            return False, build_error(payload, describe_request(self.cls_name, op, name))
        if rop == CALLABLE:
            return True, CALLABLE_ATTR
        return True, own_small_arrays(payload)

    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        ref, direct = self._submit(CALL, (name, args, kwargs), name, args, kwargs)
        if not wait:
            return Future(self, PendingCall(ref, name, direct), name)
        ok, value = self._wait_reply(ref, CALL, name, direct)
        if ok:
            return value
        raise value

    def getattr(self, name: str) -> Any:
        ok, value = self._wait_reply(self._submit(GETATTR, name, name, (), None)[0], GETATTR, name, False)
        if ok:
            return value
        raise value

    def setattr(self, name: str, value: Any) -> None:
        ok, err = self._wait_reply(self._submit(SETATTR, (name, value), name, (value,), None)[0], SETATTR, name,
                                   False)
        if not ok:
            raise err

    def result(self, seq: Any, timeout: float | None) -> tuple[bool, Any]:
        return self._wait_reply(seq.ref, CALL, seq.name, seq.direct, timeout)

    def poll(self, seq: Any) -> tuple[bool, Any] | None:
        ready, _ = self.ray.wait([seq.ref], num_returns=1, timeout=0, fetch_local=False)
        if not ready:
            return None
        return self._wait_reply(seq.ref, CALL, seq.name, seq.direct)

    def drop(self, seq: Any) -> None:
        pass  # the Ray reference goes with the future

    # ------------------------------------------------------------------ ending
    def release(self) -> None:
        """The proxy is gone.  Nothing to do: this handle (and with it the Ray actor handle) lives on only
        in pending futures, and Ray ends the actor when the last of them is garbage-collected."""
        if self.error is None:
            self.error = ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) was released; create a new one")

    def kill(self, reason: FastparlError | None = None) -> None:
        if self.error is None:
            self.error = reason or ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid}) was stopped by fastparl.kill(); create a new one")
        self._stop()

    def _stop(self) -> None:
        handle, self._handle = self._handle, None
        self._methods, self._generic = {}, None
        if handle is not None:
            try:
                self.ray.kill(handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone, or Ray was shut down
                pass

    # ------------------------------------------------------------------ errors
    def _error_of(self, exc: BaseException, what: str) -> BaseException:
        """Ray's exception for request ``what``, as the fastparl error users catch (Ray's as the cause)."""
        exceptions = self.ray.exceptions
        if self.error is not None and isinstance(exc, exceptions.RayActorError):
            return self.error  # killed or released by us: say so, not "died"
        if isinstance(exc, exceptions.OutOfMemoryError):
            err: FastparlError = ResourceError(
                f"{what}: Ray's memory monitor stopped actor {self.cls_name} (pid {self.pid}) because its node ran "
                f"out of memory: {_ray_text(exc)}")
        elif isinstance(exc, exceptions.RayActorError):
            err = ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) died before {what} returned: "
                                 f"{_ray_text(exc)}")
            if isinstance(exc, exceptions.ActorDiedError):
                self.error = err
        elif isinstance(exc, exceptions.RayTaskError):
            # The Host never lets the user's exceptions out, so this is Ray's own (un)pickling around the call.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, exceptions.RaySystemError):
                err = SerializationError(
                    f"could not unpickle the arguments of {what} in the actor: {_ray_text(cause)}. Is the module "
                    "that defines their type importable there (on another node: ship it with runtime_env)?")
            else:
                err = SerializationError(
                    f"the result of {what} could not be pickled: {type(cause).__name__}: {cause}. Return plain data "
                    "(NumPy arrays, numbers, lists, dicts) from actor methods.")
        elif isinstance(exc, exceptions.RaySystemError):
            err = unpicklable_reply(what, exc)
        elif isinstance(exc, FastparlError):
            return exc
        else:
            err = FastparlError(f"{what} failed in Ray: {type(exc).__name__}: {_ray_text(exc)}")
        err.__cause__ = exc
        return err


def _submit_cause(exc: BaseException) -> BaseException:
    """The error behind Ray's "Could not serialize the argument ..." TypeError (Ray chains the original)."""
    if isinstance(exc, TypeError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _ray_text(exc: BaseException) -> str:
    """Ray's message without colour codes, from its explanation on when it has one."""
    text = _ANSI.sub("", str(exc)).strip()
    for marker in ("The actor is dead because", "The actor died because"):
        at = text.find(marker)
        if at >= 0:
            return text[at:]
    return text
