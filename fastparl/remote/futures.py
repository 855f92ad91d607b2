"""Futures returned by ``wait=False`` remote classes, and ``fastparl.get`` / ``fastparl.wait``."""

from __future__ import annotations

import select
import time
from typing import Any, Iterable, Sequence

from fastparl.errors import FutureTimeoutError, SerializationError

__all__ = ["Future", "get", "wait"]

_PENDING = object()


class Future:
    """The result of a call that is still running (PARL's ``future.get()``, plus ``result``/``done``).

    Results arrive in call order per actor; reading one never blocks other actors.
    """

    __slots__ = ("_actor", "_seq", "_name", "_value", "_ok", "__weakref__")

    def __init__(self, actor: Any, seq: int, name: str, value: Any = _PENDING, ok: bool = True):
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
            self._ok, self._value = self._actor.wait_reply(self._seq, timeout, self._name)
        if self._ok:
            return self._value
        raise self._value

    def get(self, timeout: float | None = None) -> Any:
        """PARL's name for :meth:`result`."""
        return self.result(timeout)

    def done(self) -> bool:
        """Whether the result is in (never blocks)."""
        if self._value is _PENDING:
            reply = self._actor.poll_reply(self._seq, self._name)
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
                self._actor.drop_reply(self._seq)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        state = "pending" if self._value is _PENDING else ("done" if self._ok else "failed")
        return f"<fastparl.Future {getattr(self._actor, 'cls_name', '?')}.{self._name}() {state}>"


def get(objects: Any, timeout: float | None = None) -> Any:
    """Resolve a future, an object reference from :func:`fastparl.put`, or a list of them.

    Other values pass through unchanged, so ``fastparl.get([f1, 3, f2])`` works.
    """
    from fastparl.remote.objref import ObjectRef

    deadline = None if timeout is None else time.monotonic() + timeout

    def one(x: Any) -> Any:
        if isinstance(x, Future):
            return x.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if isinstance(x, ObjectRef):
            return x.value
        return x

    if isinstance(objects, (list, tuple)):
        return type(objects)(one(x) for x in objects) if isinstance(objects, list) else tuple(one(x) for x in objects)
    return one(objects)


def wait(futures: Sequence[Future], num_returns: int = 1, timeout: float | None = None
         ) -> tuple[list[Future], list[Future]]:
    """Wait until ``num_returns`` of ``futures`` are done (Ray's ``ray.wait``).

    Returns:
        ``(done, not_done)``, each in the order of ``futures``.  On timeout, fewer may be done.
    """
    futures = list(futures)
    if not 0 <= num_returns <= len(futures):
        raise ValueError(f"num_returns={num_returns} must be between 0 and len(futures)={len(futures)}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done = [f for f in futures if f.done()]
        if len(done) >= num_returns:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        fds = _fds(f for f in futures if f._value is _PENDING)
        if not fds:
            time.sleep(0.001 if remaining is None else min(0.001, remaining))
            continue
        select.select(fds, [], [], remaining)
    done_ids = {id(f) for f in done}
    return done, [f for f in futures if id(f) not in done_ids]


def _fds(futures: Iterable[Future]) -> list[int]:
    out = set()
    for f in futures:
        fd = getattr(f._actor, "fileno", None)
        if fd is not None and fd >= 0:
            out.add(fd)
    return list(out)


def timeout_error(what: str, timeout: float | None) -> FutureTimeoutError:
    return FutureTimeoutError(f"{what} did not finish within {timeout} s; it is still running: call .result() "
                              "again later, or fastparl.kill() the actor to stop it")
