"""Actors that come back: ``@remote_class(max_restarts=k, max_task_retries=m)`` (Ray's names).

A :class:`RestartingActor` is the handle a proxy holds when ``max_restarts`` is not 0.  It wraps the
backend's own handle and, when that actor dies, creates a new one from the same constructor
arguments, placed by the backend like any new actor (on a zmq cluster: any live worker with a free
slot, so not a lost host).  The proxy object stays valid; later calls go to the new instance.

What a restart keeps and loses, stated once:

* The new instance starts from its constructor: the dead one's state is lost.
* A call that was in flight when the actor died raises :class:`~fastparl.errors.ActorDiedError`,
  unless ``max_task_retries`` allows retrying it: then it is sent again to the new instance, so a
  retried call may have run (partly) twice — at-least-once; mark only idempotent classes.
* A call made after the death was noticed was never sent: it goes to the new instance (no retry
  is spent on it).
* ``k = -1`` restarts for ever; after ``k`` restarts the next death is final, and its error lists
  every cause.  ``fastparl.kill`` is final too.

Futures stay the backend's own (:class:`RetryingFuture` holds the current instance's handle and
call id), so ``fastparl.get`` / ``wait`` batch them as before.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastparl.errors import ActorDiedError, FastparlError
from fastparl.remote.backend import ActorHandle, Backend
from fastparl.remote.error_messages import first_line
from fastparl.remote.futures import Future

__all__ = ["RestartingActor", "RetryingFuture"]

log = logging.getLogger("fastparl.remote")


class RestartingActor(ActorHandle):
    """A handle that re-creates its actor when it dies (see the module docstring)."""

    def __init__(self, backend: Backend, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]):
        self.backend = backend
        self._spec = (cls, args, kwargs, opts)
        self.max_restarts = int(opts.get("max_restarts", 0))
        self.max_task_retries = int(opts.get("max_task_retries", 0))
        self.restarts = 0
        self.causes: list[str] = []
        self._final: ActorDiedError | None = None
        self._lock = threading.Lock()
        self.inner: ActorHandle = backend.create_actor(cls, args, kwargs, opts)

    # ------------------------------------------------------------------ what a proxy sees
    @property
    def cls_name(self) -> str:  # type: ignore[override]
        return self.inner.cls_name

    @property
    def pid(self) -> int:  # type: ignore[override]
        return self.inner.pid

    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        future = RetryingFuture(self, self._send(name, args, kwargs), name, args, kwargs)
        return future.result() if wait else future

    def _send(self, name: str, args: tuple, kwargs: dict | None) -> Future:
        """Send the call to the current instance (a new one first if this one is known dead)."""
        inner = self.inner
        try:
            return inner.call(name, args, kwargs, False)
        except ActorDiedError as e:  # known dead before the call left: not a retry
            return self.after_death(inner, e).call(name, args, kwargs, False)

    def getattr(self, name: str) -> Any:
        inner = self.inner
        try:
            return inner.getattr(name)
        except ActorDiedError as e:  # reading an attribute is idempotent: ask the new instance
            return self.after_death(inner, e).getattr(name)

    def setattr(self, name: str, value: Any) -> None:
        inner = self.inner
        try:
            inner.setattr(name, value)
        except ActorDiedError as e:
            self.after_death(inner, e).setattr(name, value)

    def after_death(self, dead: ActorHandle, error: ActorDiedError) -> ActorHandle:
        """The instance behind ``dead`` died of ``error``: the current instance (a new one if this is
        the first to notice), or the final error once the restarts are spent."""
        with self._lock:
            if self.inner is not dead:
                return self.inner  # another thread restarted it already
            if self._final is not None:
                raise self._final
            self.causes.append(first_line(error))
            if self.max_restarts >= 0 and self.restarts >= self.max_restarts:
                causes = "".join(f"\n  {i + 1}. {c}" for i, c in enumerate(self.causes))
                self._final = ActorDiedError(
                    f"actor {dead.cls_name} died {len(self.causes)} time(s) and was restarted {self.restarts} "
                    f"time(s) (max_restarts={self.max_restarts}); no more restarts. Causes:{causes}",
                    error.exitcode, error.stderr_tail)
                raise self._final
            self.restarts += 1
            cls, args, kwargs, opts = self._spec
            try:
                new = self.backend.create_actor(cls, args, kwargs, opts)
            except FastparlError as e:
                self.causes.append(f"the restart failed: {first_line(e)}")
                raise ActorDiedError(f"actor {dead.cls_name} died ({self.causes[-2]}) and could not be restarted: "
                                     f"{e}") from e
            self.inner = new
            log.warning("fastparl: actor %s died (%s); restarted from its constructor as pid %s (restart %d of %s; "
                        "its state is lost)", dead.cls_name, self.causes[-1], new.pid, self.restarts,
                        "unlimited" if self.max_restarts < 0 else self.max_restarts)
        try:
            dead.release()
        except Exception:  # noqa: BLE001 - it is dead already
            pass
        return new

    # ------------------------------------------------------------------ the rest goes to the current instance
    def result(self, seq: Any, timeout: float | None) -> tuple[bool, Any]:
        return self.inner.result(seq, timeout)

    def poll(self, seq: Any) -> tuple[bool, Any] | None:
        return self.inner.poll(seq)

    def drop(self, seq: Any) -> None:
        self.inner.drop(seq)

    def release(self) -> None:
        self.inner.release()

    def kill(self, reason: FastparlError | None = None) -> None:
        with self._lock:  # a kill is final
            self._final = reason if isinstance(reason, ActorDiedError) else ActorDiedError(
                f"actor {self.inner.cls_name} was stopped by fastparl.kill(); it is not restarted")
        self.inner.kill(reason)

    def waitable(self) -> int | None:
        return self.inner.waitable()


class RetryingFuture(Future):
    """A future of a restartable actor: an ``ActorDiedError`` restarts the actor and, while
    ``max_task_retries`` allows, sends the call again to the new instance."""

    __slots__ = ("_owner", "_args", "_kwargs", "_tries")

    def __init__(self, owner: RestartingActor, inner: Future, name: str, args: tuple, kwargs: dict | None):
        super().__init__(inner._actor, inner._seq, name, inner._value, inner._ok)
        inner._actor = None  # type: ignore[assignment]  # this future holds the call now (no drop at its __del__)
        self._owner, self._args, self._kwargs, self._tries = owner, args, kwargs, 0

    def _retry(self) -> bool:
        """The call died with its actor: restart it and resend if allowed (True), else keep the error."""
        error = self._value
        if self._ok or not isinstance(error, ActorDiedError):
            return False
        owner = self._owner
        try:
            new = owner.after_death(self._actor, error)
        except ActorDiedError as final:
            if final is not error:
                self._value = final
            return False
        retries = owner.max_task_retries
        if retries >= 0 and self._tries >= retries:
            self._value = ActorDiedError(
                f"{error} The actor was restarted (restart {owner.restarts}); this call was running when it died and "
                f"is not sent again (max_task_retries={retries}: set it for classes whose methods may run twice).",
                error.exitcode, error.stderr_tail)
            return False
        self._tries += 1
        inner = new.call(self._name, self._args, self._kwargs, False)
        self._actor, self._seq, self._value, self._ok = inner._actor, inner._seq, inner._value, inner._ok
        inner._actor = None  # type: ignore[assignment]
        return True

    def result(self, timeout: float | None = None) -> Any:
        while True:
            try:
                return super().result(timeout)
            except ActorDiedError:
                if not self._retry():
                    raise self._value from None

    def done(self) -> bool:
        if not super().done():
            return False
        if self._retry():  # a retried call is pending again
            return False
        return True

