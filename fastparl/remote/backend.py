"""The backend seam: what every backend (local, serial, zmq, ray) provides, declared once.

Nothing above this module knows which backend runs.  Proxies, futures, ``fastparl.get`` /
``wait`` / ``put`` / ``shared_array`` and ``kill`` talk to a :class:`Backend` and to the
:class:`ActorHandle` objects it creates.  A backend registers under a name
(:func:`register_backend`); :func:`fastparl.connect` turns the user's target into a name
(:func:`backend_for_target`) and builds it.

What only some backends can promise is stated as :class:`Capabilities`; an unsupported use raises a
:class:`~fastparl.errors.FastparlError` that names the alternative (see :meth:`Backend.require`).
"""

from __future__ import annotations

import importlib
import os
import select
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol, Sequence

from fastparl.errors import FastparlError
from fastparl.remote.hosts import is_host_list
from fastparl.remote.objref import ObjectRef
from fastparl.remote.system import portable

__all__ = ["ActorHandle", "Backend", "Capabilities", "PendingResult", "register_backend", "backend_for_target",
           "create_backend", "registered_backends"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can promise.  The contract tests skip what a backend declares it lacks.

    Attributes:
        processes: actors run in other processes (the serial backend runs them in the caller's).
        shared_memory: ``shared_array()`` memory is seen in place by every actor (writes included).
        zero_copy: large arrays arrive as read-only views of shared memory, not private copies.
        interrupt_timeouts: ``Future.result(timeout)`` can time out (the serial backend runs calls at once).
        exit_signals: a dead actor's error names the signal that killed it (Ray does not report it).
    """

    processes: bool = True
    shared_memory: bool = True
    zero_copy: bool = True
    interrupt_timeouts: bool = True
    exit_signals: bool = True

    def has(self, name: str) -> bool:
        return bool(getattr(self, name))


class PendingResult(Protocol):
    """What a backend's waiting (:meth:`Backend.wait`, :meth:`Backend.get_many`) sees of a call's
    pending result: the handle that made the call and the id it gave the call.  A
    :class:`fastparl.Future` is one; the backend never needs to know more of it."""

    @property
    def actor(self) -> "ActorHandle":
        """The handle of the actor running the call."""

    @property
    def call_id(self) -> Any:
        """The id the handle gave the call (the ``seq`` of :meth:`ActorHandle.result`)."""

    def done(self) -> bool:
        """Whether the outcome is in (never blocks)."""

    def resolve(self, ok: bool, value: Any) -> None:
        """Set the outcome, fetched by the backend for many results at once (``get_many``)."""


class ActorHandle(ABC):
    """The driver's handle on one actor: what a proxy and its futures call.

    Request tracking (sequence numbers, reply matching, waiting, death) is shared by the
    backends that send messages (:class:`fastparl.remote.tracker.TrackedActor`); others, such as
    the serial backend, implement these methods directly.
    """

    backend: "Backend"
    cls_name: str
    pid: int  # of the actor's process where there is one (-1 if unknown)

    @abstractmethod
    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        """Run ``name(*args, **kwargs)`` in the actor; a pending result at once if not ``wait`` (a
        :class:`fastparl.Future` holding this handle and the call's id)."""

    @abstractmethod
    def getattr(self, name: str) -> Any:
        """The actor's attribute ``name``, or ``CALLABLE_ATTR`` when it is a method to call by name."""

    @abstractmethod
    def setattr(self, name: str, value: Any) -> None:
        """Set the actor's attribute ``name``."""

    # ``seq`` below is the call id the handle gave its future: a sequence number, or any token of its own.
    @abstractmethod
    def result(self, seq: Any, timeout: float | None) -> tuple[bool, Any]:
        """(ok, value or exception) of call ``seq``, waiting up to ``timeout`` s (FutureTimeoutError)."""

    @abstractmethod
    def poll(self, seq: Any) -> tuple[bool, Any] | None:
        """The reply of call ``seq`` if it is in; never blocks (not even on another thread's wait)."""

    @abstractmethod
    def drop(self, seq: Any) -> None:
        """Nobody will read the reply of call ``seq`` (its future was garbage-collected)."""

    @abstractmethod
    def release(self) -> None:
        """The proxy is gone: end the actor once no future waits on it any more."""

    @abstractmethod
    def kill(self, reason: FastparlError | None = None) -> None:
        """Stop the actor now; pending and later calls raise ``reason`` (an ActorDiedError by default)."""

    def waitable(self) -> int | None:
        """A descriptor that becomes readable when a reply may have arrived (None: poll instead)."""
        return None


class Backend(ABC):
    """Where actors run.  One instance per :func:`fastparl.connect`."""

    name: ClassVar[str]
    capabilities: Capabilities = Capabilities()  # a class default; a backend may set its own per instance
    # What to use instead, per capability this backend lacks (the text of the FastparlError require() raises).
    instead: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        # Threads reading replies on behalf of others write here, so that fastparl.wait() wakes up
        # when a reply it waits for was taken off the wire by someone else (see TrackedActor).
        self._wake_r, self._wake_w = _wake_pipe()
        # The threads in wait().  A set, changed by one C call each (no lock, nothing a Ctrl-C can cut in two).
        self.waiters: set[int] = set()

    # ------------------------------------------------------------------ actors
    @abstractmethod
    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> ActorHandle:
        """Start an actor of ``cls`` (the user's class) with ``opts`` from ``@remote_class(...)``."""

    @abstractmethod
    def shutdown(self) -> None:
        """End every actor and helper process; nothing may outlive this."""

    # ------------------------------------------------------------------ data
    @abstractmethod
    def put(self, obj: Any) -> ObjectRef:
        """Store ``obj`` once for many actors to read (see :func:`fastparl.put`)."""

    @abstractmethod
    def shared_array(self, shape: int | tuple[int, ...], dtype: Any, fill: Any) -> Any:
        """An array whose memory actors see in place (see :func:`fastparl.shared_array`)."""

    def require(self, capability: str, what: str, instead: str) -> None:
        """Raise a FastparlError naming what to do instead (this backend's own advice, or ``instead``)
        unless this backend has ``capability``."""
        if not self.capabilities.has(capability):
            raise FastparlError(f"{what} is not possible on the {self.name!r} backend. "
                                f"{self.instead.get(capability, instead)}")

    # ------------------------------------------------------------------ resources
    @abstractmethod
    def gpus(self) -> list[str]:
        """The GPU ids this backend can hand out (``n_gpu=``)."""

    def rendezvous(self, world_size: int) -> tuple[str, int]:
        """Where a group of ``world_size`` collective processes (data-parallel learners) meets: the
        (address, port) rank 0 serves, reachable by every member.  The default: all members on this
        machine, a free port on loopback.  A backend that places actors on other hosts overrides it
        or raises a FastparlError saying what is possible."""
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return "127.0.0.1", int(s.getsockname()[1])

    # ------------------------------------------------------------------ waiting
    def get_many(self, futures: Sequence[PendingResult], deadline: float | None) -> None:
        """Resolve ``futures`` (all of this backend) before ``deadline``, for ``fastparl.get(list)``.

        The default asks each in turn; a backend that can fetch many replies at once overrides it.
        Errors and timeouts are left to each future's ``result()``.
        """
        return None

    def wait(self, futures: Sequence[PendingResult], num_returns: int, deadline: float | None) -> None:
        """Block until at least ``num_returns`` of ``futures`` may be done, or ``deadline`` passes.

        The default waits on each pending actor's :meth:`ActorHandle.waitable` plus this backend's
        wake-up pipe with ``select``.  Backends with their own waiting primitive override it.
        """
        pending = [f for f in futures if not f.done()]
        if len(futures) - len(pending) >= num_returns:
            return
        fds = {fd for fd in (f.actor.waitable() for f in pending) if fd is not None}
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not fds:
            time.sleep(0.001 if remaining is None else min(0.001, remaining))
            return
        me = threading.get_ident()
        try:
            self.waiters.add(me)
            if any(f.done() for f in pending):  # a reply stored before we registered
                return
            r, _, _ = select.select([*fds, self._wake_r], [], [], remaining)
            if self._wake_r in r:
                _drain_pipe(self._wake_r)
        finally:
            self.waiters.discard(me)

    def wake_waiters(self) -> None:
        """Called by a thread that stored a reply for another thread."""
        if self.waiters:
            try:
                os.write(self._wake_w, b"x")
            except (BlockingIOError, OSError):
                pass

    def close_wake_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _wake_pipe() -> tuple[int, int]:
    return portable.pipe(nonblocking=True)


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


# ---------------------------------------------------------------------------------------- registry
# name -> "module:Class", imported on first use so that unused backends cost nothing.
_REGISTRY: dict[str, str] = {}
# Target matchers, tried in order: (predicate on the target string, backend name).
_MATCHERS: list[tuple[Callable[[str], bool], str]] = []


def register_backend(name: str, location: str, matches: Callable[[str], bool] | None = None) -> None:
    """Make a backend available to :func:`fastparl.connect`.

    Args:
        name: the backend's name, also accepted as a connect target (``connect("serial")``).
        location: ``"package.module:ClassName"`` of the :class:`Backend` subclass.
        matches: optional predicate for other targets this backend serves (e.g. ``"ray://..."``).
    """
    _REGISTRY[name] = location
    if matches is not None:
        _MATCHERS.append((matches, name))


def registered_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_for_target(target: str) -> str:
    """The name of the backend that serves ``target``; raises FastparlError when none does."""
    if target in _REGISTRY:
        return target
    for matches, name in _MATCHERS:
        if matches(target):
            return name
    raise FastparlError(f"no fastparl backend serves {target!r}; known backends: {registered_backends()}, "
                        "or 'host:port[,host:port...]' for worker daemons")


def create_backend(name: str, target: str, **options: Any) -> Backend:
    module, _, cls_name = _REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(target=target, **options)


register_backend("local", "fastparl.remote.local.backend:LocalBackend")
register_backend("serial", "fastparl.remote.serial.backend:SerialBackend")
register_backend("zmq", "fastparl.remote.zmq.backend:ZmqBackend", is_host_list)
register_backend("ray", "fastparl.remote.ray.backend:RayBackend", lambda t: t.startswith("ray://"))
