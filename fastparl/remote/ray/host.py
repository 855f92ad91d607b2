"""The actor side of the Ray backend: a Ray actor class that hosts fastparl's Dispatcher.

Ray charges for every argument and every wrapper around a result (about 0.1 ms for one extra
argument on 2 cores), so each user class gets a generated subclass of :class:`Host` with one Ray
method per user method (:func:`host_class`): ``Plain.add(3)`` becomes the Ray task ``Plain.add(3)``
with the user's own arguments, and its result comes back as is.  Only an error comes back wrapped,
as an :class:`ErrorReply` carrying fastparl's error report.  Attribute access and methods not on
the class (callables set on the instance) go through the generic :meth:`Host._fp_handle`.

Kept free of driver-side imports: it runs in Ray's worker processes.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from fastparl.remote.dispatcher import Dispatcher
from fastparl.remote.protocol import CALL, OK

__all__ = ["Host", "ErrorReply", "host_class"]


class ErrorReply:
    """A call's reply that is an error: fastparl's error report (``error_messages.error_info``), not a result."""

    __slots__ = ("info",)

    def __init__(self, info: tuple):
        self.info = info


class Host:
    """Runs one fastparl actor inside a Ray actor.

    Args:
        cls_name: the user's class name, shown by Ray in output prefixes (``(Plain pid=123)``).
        path: the driver's ``sys.path`` when the actor runs on the driver's machine, so that its
            modules import here as they do there (``None`` on other hosts: keep ours).
        cwd: the driver's working directory, under the same condition.
        hide_gpus: the actor asked for no GPU: hide them all, as the other backends do (Ray leaves them
            visible to actors without GPUs).
    """

    def __init__(self, cls_name: str, path: list[str] | None, cwd: str | None, hide_gpus: bool):
        self._fp_name = cls_name
        if hide_gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if path is not None:
            sys.path[:] = list(path) + [p for p in sys.path if p not in path]
        if cwd is not None:
            try:
                os.chdir(cwd)
            except OSError:
                pass
        # Remote classes used inside this actor become Ray actors of the same cluster (connect() reads this).
        os.environ["FASTPARL_BACKEND"] = "ray"
        self._fp_dispatcher = Dispatcher()

    def _fp_start(self, op: int, payload: Any) -> tuple[int, Any, int]:
        """The INIT request; also returns this process's pid."""
        rop, result = self._fp_dispatcher.handle(op, payload)
        return rop, result, os.getpid()

    def _fp_handle(self, op: int, payload: Any) -> tuple[int, Any]:
        """Any request (CALL of a name the class lacks, GETATTR, SETATTR) -> (reply op, reply payload)."""
        return self._fp_dispatcher.handle(op, payload)

    def _fp_call(self, name: str, args: tuple, kwargs: dict) -> Any:
        rop, result = self._fp_dispatcher.handle(CALL, (name, args, kwargs or None))
        return result if rop == OK else ErrorReply(result)

    def __repr__(self) -> str:  # Ray prefixes the actor's output with this
        return self._fp_name


def _forwarder(name: str) -> Callable[..., Any]:
    def method(self: Host, *args: Any, **kwargs: Any) -> Any:
        return self._fp_call(name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def host_class(cls: type, names: list[str]) -> type:
    """A subclass of :class:`Host` named after the user's ``cls``, with one forwarding method for each of
    ``names`` (Ray then shows the user's names: ``ray::Plain.add``)."""
    ns: dict[str, Any] = {name: _forwarder(name) for name in names}
    ns["__module__"] = __name__
    return type(cls.__name__, (Host,), ns)
