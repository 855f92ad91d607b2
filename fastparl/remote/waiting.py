"""Threads that wait for a change of state guarded by a plain lock, without ``threading.Condition``: Ctrl-C safe.

CPython runs a signal's handler (for SIGINT, the one that raises KeyboardInterrupt) at the start of a Python
function, just after a call returns and at a loop's back edge.  ``with lock:`` on a ``threading.Lock`` (or ``RLock``)
is safe against it: the lock's ``__enter__`` and ``__exit__`` are C, and the block's cleanup is in place as soon as
``__enter__`` returns.  ``threading.Condition`` is not.  Its ``__enter__`` and ``__exit__`` are Python functions: a
KeyboardInterrupt just after the first took the lock, or as the second starts, leaves the lock held for good, and
the next ``with`` on it, in any thread (the cleanup of the interrupted call, or exit's ``fastparl.disconnect()``),
waits for ever.  Its ``wait()`` releases and re-takes the caller's lock in Python calls: interrupted in between,
the caller's ``with`` block releases a lock it does not hold (someone else's, or a RuntimeError).

So here a thread never waits inside the lock.  Under the lock it checks the state and, to wait, registers a *gate*
(:func:`closed_gate`: a plain lock, taken); it leaves the ``with`` block, blocks on the gate (:func:`wait_at`),
then takes the lock again in a new ``with`` block and unregisters.  Whoever changes the state opens gates, under
the lock.  A gate opened before its thread blocks on it lets the thread through at once, so no wake-up is lost.
A waiter unregisters in a ``finally`` (made ``gate = closed_gate()`` before ``add``, so it knows what to remove).
"""

from __future__ import annotations

import threading
from threading import get_ident
from typing import Hashable

__all__ = ["Flag", "Waiters", "closed_gate", "wait_at"]


def closed_gate() -> threading.Lock:
    """A gate for one wait: a plain lock, taken; opening it (releasing) lets its thread through."""
    gate = threading.Lock()
    gate.acquire()
    return gate


def wait_at(gate: threading.Lock, timeout: float | None) -> None:
    """Block until ``gate`` is opened or ``timeout`` s pass (called without the guarding lock)."""
    gate.acquire(True, -1 if timeout is None else max(0.0, timeout))


def _open(gate: threading.Lock) -> None:
    if gate.locked():  # openers hold the guarding lock, and the waiter only ever takes it: no race
        gate.release()


class Waiters:
    """The gates of the threads waiting on one lock's state, by key (the request a thread waits for, or the
    thread's id).  Every method is called with the guarding lock held."""

    __slots__ = ("_gates",)

    def __init__(self) -> None:
        self._gates: dict[Hashable, threading.Lock] = {}

    def add(self, key: Hashable, gate: threading.Lock) -> None:
        self._gates[key] = gate

    def remove(self, key: Hashable, gate: threading.Lock) -> None:
        """Unregister ``gate`` (a no-op if another gate replaced it, or it is gone already)."""
        if self._gates.get(key) is gate:
            del self._gates[key]

    def wake(self, key: Hashable) -> None:
        gate = self._gates.get(key)
        if gate is not None:
            _open(gate)

    def wake_one(self) -> None:
        """Wake the longest-waiting thread (a hand-over: it takes the place of the thread that stops)."""
        for gate in self._gates.values():
            _open(gate)
            return

    def wake_all(self) -> None:
        for gate in self._gates.values():
            _open(gate)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._gates

    def __len__(self) -> int:
        return len(self._gates)


class Flag:
    """``threading.Event``'s ``set`` / ``is_set`` / ``wait``, Ctrl-C safe: an Event's ``wait()`` interrupted in its
    Condition can leave the Event's lock held, and then ``set()`` (another thread's) blocks for ever."""

    __slots__ = ("_lock", "_set", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._waiters = Waiters()

    def set(self) -> None:
        with self._lock:
            self._set = True
            self._waiters.wake_all()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` s pass; returns whether it is set."""
        me = get_ident()
        gate: threading.Lock | None = None
        try:
            with self._lock:
                if self._set:
                    return True
                gate = closed_gate()
                self._waiters.add(me, gate)
            wait_at(gate, timeout)
            return self._set
        finally:
            if gate is not None:
                with self._lock:
                    self._waiters.remove(me, gate)
