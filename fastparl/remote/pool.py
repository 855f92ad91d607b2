"""``ActorPool``: samplers that survive their deaths — training goes on with the healthy ones.

In the spirit of RLlib's fault-tolerant actor manager: the pool makes ``size`` actors with
``factory(i)``, sends calls only to the healthy ones, and marks an actor dead when a call on it
raises :class:`~fastparl.errors.ActorDiedError` (its process crashed, its host was lost).  That
call's result is dropped whole: a batch from a dead sampler is never half-used.  Dead actors are
re-created with ``factory(i)`` at most every ``retry_s`` seconds (when a host comes back, or a slot
frees up); ``on_restore(actor)`` runs before a restored actor's first call, so it samples with the
latest weights.  Errors raised by the user's code inside an actor (``RemoteError``) are bugs, not
faults: they propagate.

Two ways to use it:

* synchronous rounds (A2C, ES): ``pool.foreach("sample")`` calls every healthy actor and returns
  the results of those that answered;
* asynchronous (IMPALA): ``pool.submit("sample", ref)`` keeps one call in flight on each healthy
  idle actor, and ``pool.ready()`` returns ``(index, result)`` of the calls that finished.

Events (deaths, restores, failed restores) are kept in ``pool.events`` with their times, so a run
can show when its capacity changed (``perf.chaos`` plots them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from fastparl.errors import ActorDiedError, FastparlError
from fastparl.remote import api
from fastparl.remote.error_messages import first_line
from fastparl.remote.futures import Future, get
from fastparl.remote.futures import wait as wait_futures

__all__ = ["ActorPool", "PoolEvent"]

log = logging.getLogger("fastparl.pool")


@dataclass
class PoolEvent:
    time: float  # time.time()
    kind: str  # "died", "restored", "restore-failed"
    index: int
    detail: str


class ActorPool:
    """``size`` actors made by ``factory(i)``; see the module docstring.

    Args:
        factory: ``factory(i) -> proxy`` makes actor ``i`` (a ``@remote_class`` instance).
        size: how many actors the pool keeps.
        on_restore: called with a re-created actor before its first call (push the latest weights).
        retry_s: seconds between attempts to re-create dead actors.
    """

    def __init__(self, factory: Callable[[int], Any], size: int, on_restore: Callable[[Any], Any] | None = None,
                 retry_s: float = 2.0):
        if size < 1:
            raise ValueError(f"ActorPool needs size >= 1, got {size}")
        self.factory = factory
        self.size = size
        self.on_restore = on_restore
        self.retry_s = retry_s
        self.events: list[PoolEvent] = []
        self._actors: list[Any | None] = [factory(i) for i in range(size)]
        self._next_retry = 0.0
        self._in_flight: dict[int, Future] = {}

    # ------------------------------------------------------------------ state
    @property
    def healthy(self) -> list[int]:
        """Indices of the actors in service."""
        return [i for i, a in enumerate(self._actors) if a is not None]

    def actor(self, i: int) -> Any | None:
        """Actor ``i``, or None while it is dead."""
        return self._actors[i]

    def mark_dead(self, i: int, error: BaseException) -> None:
        """Take actor ``i`` out of service (its pending result is dropped); it is re-created later."""
        a = self._actors[i]
        if a is None:
            return
        self._actors[i] = None
        self._in_flight.pop(i, None)
        self._event("died", i, first_line(error))
        log.warning("fastparl.ActorPool: actor %d died (%s); going on with %d of %d", i, self.events[-1].detail,
                    len(self.healthy), self.size)
        try:
            api.kill(a)
        except Exception:  # noqa: BLE001 - dead already
            pass

    def restore(self, force: bool = False) -> list[int]:
        """Re-create dead actors (at most every ``retry_s`` s unless ``force``); returns those restored."""
        dead = [i for i, a in enumerate(self._actors) if a is None]
        now = time.monotonic()
        if not dead or (not force and now < self._next_retry):
            return []
        self._next_retry = now + self.retry_s
        restored = []
        for i in dead:
            try:
                a = self.factory(i)
                if self.on_restore is not None:
                    _resolve(self.on_restore(a))  # e.g. set_weights: done before its first batch
            except (FastparlError, OSError) as e:  # no slot yet, host still lost, ...: later
                self._event("restore-failed", i, first_line(e, empty=""))
                continue
            self._actors[i] = a
            restored.append(i)
            self._event("restored", i, "")
            log.warning("fastparl.ActorPool: actor %d restored; %d of %d in service", i, len(self.healthy), self.size)
        return restored

    def _event(self, kind: str, i: int, detail: str) -> None:
        self.events.append(PoolEvent(time.time(), kind, i, detail))

    # ------------------------------------------------------------------ synchronous rounds
    def foreach(self, method: str | Callable[[Any, int], Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Call ``method`` (a name, or ``fn(actor, index)``) on every healthy actor at once; the results of
        those that answered, in index order (see :meth:`foreach_indexed` for the indices)."""
        return [r for _, r in self.foreach_indexed(method, *args, **kwargs)]

    def foreach_indexed(self, method: str | Callable[[Any, int], Any], *args: Any,
                        **kwargs: Any) -> list[tuple[int, Any]]:
        """As :meth:`foreach`, with each result's actor index.  Restores dead actors first (when due)."""
        self.restore()
        calls: list[tuple[int, Any]] = []
        for i in self.healthy:
            a = self._actors[i]
            try:
                calls.append((i, getattr(a, method)(*args, **kwargs) if isinstance(method, str) else method(a, i)))
            except ActorDiedError as e:  # a wait=True actor, or one known dead at the call
                self.mark_dead(i, e)
        results = []
        for i, pending in calls:
            try:
                results.append((i, _resolve(pending)))
            except ActorDiedError as e:
                self.mark_dead(i, e)
        if not results and not self.healthy:
            raise ActorDiedError(f"every actor of the pool ({self.size}) is dead and none could be restored yet: "
                                 + "; ".join(f"{e.index}: {e.detail}" for e in self.events[-self.size:]))
        return results

    # ------------------------------------------------------------------ asynchronous
    def submit(self, method: str, *args: Any, **kwargs: Any) -> int:
        """Start ``method`` on every healthy actor that has no call in flight; returns how many started."""
        self.restore()
        started = 0
        for i in self.healthy:
            if i in self._in_flight:
                continue
            try:
                f = getattr(self._actors[i], method)(*args, **kwargs)
            except ActorDiedError as e:
                self.mark_dead(i, e)
                continue
            if not isinstance(f, Future):
                raise TypeError("ActorPool.submit needs actors of a @remote_class(wait=False) class")
            self._in_flight[i] = f
            started += 1
        return started

    @property
    def in_flight(self) -> int:
        """Calls started by :meth:`submit` whose result :meth:`ready` has not returned yet."""
        return len(self._in_flight)

    def ready(self, num_returns: int = 1, timeout: float | None = None) -> list[tuple[int, Any]]:
        """``(index, result)`` of the calls in flight that finished (at least ``num_returns`` of them
        unless actors died or ``timeout`` passed); the others stay in flight.  With nothing in flight:
        ``[]``, or ``ActorDiedError`` if every actor is dead and none can be restored now."""
        pending = list(self._in_flight.items())
        if not pending:
            if not self.healthy and not self.restore(force=True):
                raise ActorDiedError(f"every actor of the pool ({self.size}) is dead and none could be restored: "
                                     + "; ".join(f"{e.index}: {e.detail}" for e in self.events[-self.size:]))
            return []
        done, _ = wait_futures([f for _, f in pending], num_returns=min(num_returns, len(pending)), timeout=timeout)
        done_ids = {id(f) for f in done}
        out = []
        for i, f in pending:
            if id(f) not in done_ids:
                continue
            del self._in_flight[i]
            try:
                out.append((i, f.result(0)))
            except ActorDiedError as e:
                self.mark_dead(i, e)
        return out

    # ------------------------------------------------------------------ end
    def close(self, method: str | None = None) -> None:
        """Call ``method`` (e.g. ``"close"``) on the healthy actors, then end them all."""
        if method:
            try:
                self.foreach(method)
            except ActorDiedError:
                pass
        for i, a in enumerate(self._actors):
            if a is not None:
                try:
                    api.kill(a)
                except Exception:  # noqa: BLE001
                    pass
            self._actors[i] = None
        self._in_flight.clear()


def _resolve(value: Any) -> Any:
    return get(value) if isinstance(value, Future) else value
