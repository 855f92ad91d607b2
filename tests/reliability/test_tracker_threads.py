"""Request tracking under threads, over a scripted transport: the races that a real actor shows only
now and then (tests/reliability/test_faults.py::test_16_threads_on_one_actor) made to happen every time."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from fastparl.remote.protocol import CALL, OK
from fastparl.remote.tracker import TrackedActor

pytestmark = pytest.mark.timeout(30)


class _Backend:
    def wake_waiters(self) -> None:
        pass


class _Transport:
    """Replies are handed over by the test, several at once (``deliver``)."""

    closed = False

    def __init__(self) -> None:
        self.frames: list[tuple] = []
        self.cv = threading.Condition()

    def send(self, op, seq, payload, *rest) -> None:
        pass

    def deliver(self, *frames: tuple) -> None:
        with self.cv:
            self.frames.extend(frames)
            self.cv.notify_all()

    def recv(self, timeout=None):
        with self.cv:
            if not self.cv.wait_for(lambda: self.frames, timeout):
                return None
            return self.frames.pop(0)

    def poll(self) -> list:
        with self.cv:
            out, self.frames = self.frames, []
            return out

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


class _Actor(TrackedActor):
    def __init__(self) -> None:
        super().__init__(_Backend(), "Scripted")  # type: ignore[arg-type]
        self.transport = _Transport()

    def _lost(self, what):
        raise AssertionError("the link never closes here")

    def _terminate(self) -> None:
        pass


def _wait_until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "the threads did not get where the script needs them"
        time.sleep(0.001)


def test_a_hand_over_to_a_thread_whose_reply_is_in_is_passed_on():
    """The reader reads A's reply, then its own, and stops: it hands the reading over to A, the first
    waiter, who was woken for its reply already.  A must pass the hand-over on to B, or nobody reads
    B's reply and B waits for ever."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # the reader runs on, without a thread switch, from A's reply to its stop
    try:
        actor = _Actor()
        seqs = [actor._request(CALL, ("m", (), None), "m", (), None) for _ in range(3)]  # reader, A, B
        results: dict[str, object] = {}

        def wait_for(name: str, seq: int) -> None:
            results[name] = actor.result(seq, None)

        threads = {name: threading.Thread(target=wait_for, args=(name, seq), daemon=True)
                   for name, seq in zip(("reader", "A", "B"), seqs)}
        threads["reader"].start()
        _wait_until(lambda: actor._reading)
        threads["A"].start()
        _wait_until(lambda: seqs[1] in actor._waiting)
        threads["B"].start()
        _wait_until(lambda: seqs[2] in actor._waiting)
        actor.transport.deliver((OK, seqs[1], "a", None), (OK, seqs[0], "r", None))
        threads["reader"].join(5)
        threads["A"].join(5)
        actor.transport.deliver((OK, seqs[2], "b", None))
        threads["B"].join(5)
    finally:
        sys.setswitchinterval(interval)
    assert results == {"reader": (True, "r"), "A": (True, "a"), "B": (True, "b")}, "a thread waits for ever"
