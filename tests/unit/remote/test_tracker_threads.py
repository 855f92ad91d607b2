"""Request tracking under threads, over a scripted transport: the races that a real actor shows only
now and then (tests/reliability/test_faults.py::test_16_threads_on_one_actor) made to happen every time."""

from __future__ import annotations

import inspect
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

    def __init__(self, auto: bool = False) -> None:
        self.frames: list[tuple] = []
        self.cv = threading.Condition()
        self.auto = auto  # each request is answered at once

    def send(self, op, seq, payload, *rest) -> None:
        if self.auto:
            self.deliver((OK, seq, f"reply {seq}", None))

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
    def __init__(self, auto: bool = False) -> None:
        super().__init__(_Backend(), "Scripted")  # type: ignore[arg-type]
        self.transport = _Transport(auto)

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
        _wait_until(lambda: actor._reader)
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


class _Interrupted(BaseException):
    """Stands for KeyboardInterrupt."""


def _lines(fn) -> list[int]:
    """The lines of ``fn`` where an interrupt can land: not ``try:`` lines (a no-op instruction, where
    a signal is never acted on, but where a tracer's exception skips the enclosing handlers)."""
    source, first = inspect.getsourcelines(fn)
    return [first + i for i, text in enumerate(source) if i and text.strip() != "try:"]


def _interrupt_at(filename: str, line: int):
    """A trace function that raises _Interrupted the first time ``filename:line`` is about to run."""
    fired = []

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != filename:
            return None
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(line)
            raise _Interrupted
        return tracer

    return tracer, fired


def _call_in_thread(actor: _Actor, wait: bool, tracer=None) -> list:
    """Call (and, for a future, ask done()) on a thread of its own; returns [result] or [] if it hangs."""
    out: list = []

    def run() -> None:
        sys.settrace(tracer)
        try:
            out.append(actor.call("m", (), None, True) if wait else actor.call("m", (), None, False).done())
        except _Interrupted:
            out.append("interrupted")
        finally:
            sys.settrace(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(2)
    return out


def _stuck_after_interrupt(method: str, line: int) -> bool | None:
    """Interrupt a call at ``line`` (of the tracker's ``method``), then make another: does it hang?
    None when the call never ran that line."""
    import fastparl.remote.tracker as tracker

    actor = _Actor(auto=True)
    tracer, fired = _interrupt_at(tracker.__file__, line)
    if not _call_in_thread(actor, method != "poll", tracer):
        return True  # the interrupted thread itself hangs (e.g. on a lock it holds)
    if not fired:
        return None
    if not actor._lock.acquire(timeout=1):
        return True
    actor._lock.release()
    seq = actor._seq + 1
    return _call_in_thread(actor, True) != [f"reply {seq}"]


@pytest.mark.parametrize("method", ["call", "result", "poll", "_stop_reading", "_read_until", "_store", "_drain"])
def test_an_interrupt_anywhere_in_a_call_leaves_the_actor_usable(method):
    """Ctrl-C can land between any two lines of the tracker: whatever line it interrupts, the lock is
    free afterwards and the next calls work (no hang at the next call, nor at exit's disconnect)."""
    stuck = [line for line in _lines(getattr(TrackedActor, method)) if _stuck_after_interrupt(method, line)]
    assert stuck == [], f"interrupted at these lines of TrackedActor.{method}, the actor is stuck: {stuck}"


def test_a_future_finalised_while_its_thread_holds_the_lock_is_dropped_without_a_deadlock():
    """The garbage collector may finalise a Future (its ``__del__`` drops the request) inside a ``with actor._lock:``
    block of the very thread it interrupts, when an allocation there starts a collection: the drop must get in."""
    actor = _Actor()
    futures = [actor.call("m", (), None, False)]
    done: list[bool] = []

    def collect_under_the_lock() -> None:
        with actor._lock:
            futures.clear()  # the future's last reference: its __del__ runs here, as a collection would run it
        done.append(True)

    t = threading.Thread(target=collect_under_the_lock, daemon=True)
    t.start()
    t.join(2)
    assert done, "the thread waits for a lock it holds itself"
    assert actor._idle(), "the request was not dropped"
