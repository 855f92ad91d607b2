"""Futures returned by ``wait=False`` remote classes, and ``fastparl.get`` / ``fastparl.wait``."""

from __future__ import annotations

import time
from typing import Any, Sequence

from fastparl.errors import SerializationError
from fastparl.remote.backend import ActorHandle
from fastparl.remote.objref import ObjectRef

__all__ = ["Future", "get", "wait"]

_PENDING = object()


class Future:
    """The result of a call that is still running (PARL's ``future.get()``, plus ``result``/``done``).

    Results arrive in call order per actor; reading one never blocks other actors.  A pending
    future keeps its actor alive: ``Worker().work().get()`` works although the proxy is gone.
    """

    __slots__ = ("_actor", "_seq", "_name", "_value", "_ok", "__weakref__")

    def __init__(self, actor: ActorHandle, seq: Any, name: str, value: Any = _PENDING, ok: bool = True):
        self._actor, self._seq, self._name = actor, seq, name
        self._value, self._ok = value, ok

    def result(self, timeout: float | None = None) -> Any:
        """Block until the call finishes and return its value (or raise its error).

        Args:
            timeout: seconds to wait at most; ``None`` waits for ever.

        Raises:
            FutureTimeoutError: the call did not finish in time (it keeps running; ask again later).
            RemoteError, ActorDiedError, SerializationError: the call failed.
        """
        if self._value is _PENDING:
            self._ok, self._value = self._actor.result(self._seq, timeout)
        if self._ok:
            return self._value
        raise self._value

    def get(self, timeout: float | None = None) -> Any:
        """PARL's name for :meth:`result`."""
        return self.result(timeout)

    # ------------------------------------------------------------------ what a backend sees (backend.PendingResult)
    @property
    def actor(self) -> ActorHandle:
        """The handle of the actor running the call."""
        return self._actor

    @property
    def call_id(self) -> Any:
        """The id the handle gave the call."""
        return self._seq

    def resolve(self, ok: bool, value: Any) -> None:
        """Set the outcome (a backend's get_many fetched it)."""
        if self._value is _PENDING:
            self._ok, self._value = ok, value

    def done(self) -> bool:
        """Whether the result is in (never blocks)."""
        if self._value is _PENDING:
            reply = self._actor.poll(self._seq)
            if reply is None:
                return False
            self._ok, self._value = reply
        return True

    def __reduce__(self) -> Any:
        raise SerializationError(f"{self!r} cannot be pickled or sent to an actor: pass its value "
                                 "(future.get()) instead")

    def __del__(self) -> None:
        if self._value is _PENDING and self._actor is not None:
            try:
                self._actor.drop(self._seq)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        state = "pending" if self._value is _PENDING else ("done" if self._ok else "failed")
        return f"<fastparl.Future {getattr(self._actor, 'cls_name', '?')}.{self._name}() {state}>"


def get(objects: Any, timeout: float | None = None) -> Any:
    """Resolve a future, an object reference from :func:`fastparl.put`, or a list/tuple of them.

    Other values pass through unchanged, so ``fastparl.get([f1, 3, f2])`` works.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if isinstance(objects, (list, tuple)):  # let each backend fetch its replies together where it can
        groups: dict[int, tuple[Any, list[Future]]] = {}
        for x in objects:
            if isinstance(x, Future) and x._value is _PENDING:
                groups.setdefault(id(x._actor.backend), (x._actor.backend, []))[1].append(x)
        for backend, group in groups.values():
            if len(group) > 1:
                backend.get_many(group, deadline)

    def one(x: Any) -> Any:
        if isinstance(x, Future):
            return x.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if isinstance(x, ObjectRef):
            return x.value
        return x

    if isinstance(objects, list):
        return [one(x) for x in objects]
    if isinstance(objects, tuple):
        return tuple(one(x) for x in objects)
    return one(objects)


def wait(futures: Sequence[Any], num_returns: int = 1, timeout: float | None = None) -> tuple[list[Any], list[Any]]:
    """Wait until ``num_returns`` of ``futures`` are done (Ray's ``ray.wait``).

    Plain values (anything that is not a :class:`Future`) count as done, as in :func:`get`.

    Returns:
        ``(done, not_done)``, each in the order of ``futures``.  On timeout, fewer may be done.
    """
    futures = list(futures)
    if not 0 <= num_returns <= len(futures):
        raise ValueError(f"num_returns={num_returns} must be between 0 and len(futures)={len(futures)}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        is_done = [not isinstance(f, Future) or f.done() for f in futures]
        pending = [f for f, d in zip(futures, is_done) if not d]
        need = num_returns - sum(is_done)
        if need <= 0 or not pending or (deadline is not None and time.monotonic() >= deadline):
            break
        backends: dict[int, tuple[Any, list[Future]]] = {}
        for f in pending:
            backends.setdefault(id(f._actor.backend), (f._actor.backend, []))[1].append(f)
        if len(backends) == 1:
            backend, group = next(iter(backends.values()))
            backend.wait(group, need, deadline)
        else:  # futures of several backends (rare): wait on each in turn, briefly
            for backend, group in backends.values():
                backend.wait(group, need, min(time.monotonic() + 0.01, deadline or float("inf")))
    return [f for f, d in zip(futures, is_done) if d], [f for f, d in zip(futures, is_done) if not d]
