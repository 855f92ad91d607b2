"""Ctrl-C at every point of a driver's waits: ``python interrupts_driver.py all|WAIT...`` (test_interrupts.py).

For each kind of wait (``WAITS``), a KeyboardInterrupt is raised at its k-th interruptible point, for k = 1, 2, ...
until the wait ends before a k-th point.  After each one, the wait must have raised that KeyboardInterrupt at once
(not hung, not turned into another error), and the actors must still answer new calls.  At the end,
``fastparl.disconnect()`` must return within 20 s and leave no process and no shared-memory segment.  Prints one
JSON line per wait (up to the first that fails), then one for the shutdown.

The interruptible points are where CPython runs a pending signal's handler: at the start of a Python function, just
after a call returns, and at a loop's back edge (never inside C code, so not between a lock's C ``__enter__`` and its
``with`` body, nor between two instructions without a call).  ``sys.settrace`` events find them in the frames of the
code a wait runs (``TRACED``: the tracker and its gates, futures, the backend's wait, the output monitor, and
``threading``, whose Condition takes and releases locks in Python code), and the trace function raises the
KeyboardInterrupt there (see :class:`Interrupt`).
"""

from __future__ import annotations

import dis
import faulthandler
import functools
import gc
import inspect
import json
import os
import select
import sys
import threading
import time
from types import CodeType, FrameType
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastparl  # noqa: E402
from _actors import AsyncFaulty, RemoteFaulty  # noqa: E402
from _procs import descendants, memfd_segments, pooled_memfds, still_alive  # noqa: E402
from fastparl.remote import backend, futures, tracker, waiting  # noqa: E402
from fastparl.remote.local import monitor  # noqa: E402

TRACED = {m.__file__ for m in (tracker, waiting, futures, backend, monitor, threading)}
DEADLINE_S = 3.0  # a wait's timeout; it counts as hung after twice that, and the checks after it get three times
_CALLS = {"CALL", "CALL_FUNCTION_EX", "CALL_KW"}  # a signal is acted on when one returns (3.11-3.13)
_steps_of: dict[CodeType, tuple[dict[int, tuple[str, int]], list[Any]]] = {}


def _steps(code: CodeType) -> tuple[dict[int, tuple[str, int]], list[Any]]:
    """``{offset: (opname, offset of the next instruction)}`` of ``code``, and its exception table."""
    steps = _steps_of.get(code)
    if steps is None:
        ins = list(dis.get_instructions(code))
        steps = _steps_of[code] = ({a.offset: (a.opname, b.offset) for a, b in zip(ins, ins[1:])},
                                   dis.Bytecode(code).exception_entries)
    return steps


def _handler(table: list[Any], offset: int) -> int | None:
    return next((e.target for e in table if e.start <= offset < e.end), None)


class Interrupt:
    """A trace function that raises KeyboardInterrupt at the ``k``-th interruptible point of the ``TRACED`` code.

    A point is a function's start (its "call" event), just after a call returns, or a loop's back edge.  CPython
    acts on the signal *in* the call (or jump) instruction, so the exception must look as if raised there, where
    the instruction's ``try`` (or ``with``) blocks see it: after a traced function, at its "return" event (the
    exception leaves it and appears at the call); after any other call, or a jump, at the next instruction's
    "opcode" event if the same handler covers both, else nowhere (for lack of a way to raise it there).
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = 0
        self.skipped = 0  # points where an interrupt cannot be raised faithfully (see above)
        self.at: str | None = None  # where it raised: "file:function:line (what)"
        self._last: dict[FrameType, int] = {}  # frame -> offset of the instruction it ran last
        self._returned: set[FrameType] = set()  # frames into which a traced function just returned
        self._unwinding: set[FrameType] = set()  # frames an exception is leaving

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self.at is not None or frame.f_code.co_filename not in TRACED:
            return None
        if event == "call":  # a function starts (also a generator resuming)
            frame.f_trace_opcodes = True
            self._point(frame, "start")
        elif event == "opcode":
            self._unwinding.discard(frame)  # a handler runs
            prev, now = self._last.get(frame), frame.f_lasti
            self._last[frame] = now
            if prev is not None:
                steps, table = _steps(frame.f_code)
                op, after = steps.get(prev, ("", -1))
                if op in _CALLS and now == after and frame in self._returned:
                    self._returned.discard(frame)  # its return was the point
                elif op in _CALLS and now == after or op == "JUMP_BACKWARD":
                    if _handler(table, prev) == _handler(table, now):
                        self._point(frame, "after a call" if op in _CALLS else "loop")
                    else:
                        self.skipped += 1
        elif event == "exception":
            self._unwinding.add(frame)
        elif event == "return":
            self._last.pop(frame, None)
            self._returned.discard(frame)
            if frame in self._unwinding:
                self._unwinding.discard(frame)
            elif frame.f_code.co_flags & inspect.CO_GENERATOR:
                pass  # a yield: no point there
            elif frame.f_back is not None and frame.f_back.f_code.co_filename in TRACED:
                self._returned.add(frame.f_back)
                self._point(frame, "return")
        return self

    def _point(self, frame: FrameType, what: str) -> None:
        self.seen += 1
        if self.seen == self.k:
            self.at = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}:{frame.f_lineno} ({what})"
            self._last.clear()
            self._returned.clear()
            self._unwinding.clear()
            raise KeyboardInterrupt


def within(fn: Callable[[], Any], seconds: float, tracer: Interrupt | None = None) -> tuple[bool, Any]:
    """Run ``fn`` on a thread of its own (traced by ``tracer``, with the garbage collector off: a ``__del__`` run by
    it would be traced too): (ended, its result or exception).  Prints every thread's stack if it hangs."""
    out: list[Any] = []

    def run() -> None:
        sys.settrace(tracer)
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            out.append(e)
        finally:
            sys.settrace(None)

    t = threading.Thread(target=run, daemon=True)
    if tracer is not None:
        gc.disable()
    t.start()
    t.join(seconds)
    gc.enable()
    if not out:
        faulthandler.dump_traceback(sys.stderr)
    return bool(out), (out[0] if out else None)


# ------------------------------------------------------------------ the waits
# Each sets up its wait on an async actor ``a`` and a blocking one ``s``: returns the wait, and what must end after.
def _arrived(a: Any, tag: str, n: int = 3) -> list[Any]:
    """``n`` calls whose replies are (at least in part) in, read by nobody yet."""
    futs = [a.identity(f"{tag}-{i}") for i in range(n)]
    select.select([a._fp_actor.waitable()], [], [], DEADLINE_S)
    return futs


def _follower(a: Any, tag: str) -> tuple[Callable[[], Any], list[threading.Thread]]:
    """Another thread reads the link (waiting for a slow call) while ours waits for a reply behind it."""
    slow = a.sleep(0.05)
    futs = _arrived(a, tag, 1)
    reader = threading.Thread(target=slow.result, args=(DEADLINE_S,), daemon=True)
    reader.start()
    deadline = time.monotonic() + DEADLINE_S
    while not a._fp_actor._reader and reader.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)
    return (lambda: futs[0].result(DEADLINE_S)), [reader]


def _timeout(a: Any, tag: str) -> tuple[Callable[[], Any], list[threading.Thread]]:
    slow = a.sleep(0.02)

    def wait() -> Any:
        try:
            return slow.result(0.005)
        except fastparl.errors.FutureTimeoutError:
            return "timed out"
    return wait, []


def _one(make: Callable[[Any, str], list[Any]], wait: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def setup(a: Any, s: Any, tag: str) -> tuple[Callable[[], Any], list[threading.Thread]]:
        futs = make(a, tag)
        return (lambda: wait(futs)), []
    return setup


WAITS: dict[str, Callable[[Any, Any, str], tuple[Callable[[], Any], list[threading.Thread]]]] = {
    "future.done()": _one(_arrived, lambda f: f[0].done()),
    "future.result()": _one(_arrived, lambda f: f[1].result(DEADLINE_S)),
    "fastparl.wait()": _one(lambda a, tag: [a.sleep(0.005), a.identity(tag)],  # select()s for the replies
                            lambda f: fastparl.wait(f, num_returns=len(f), timeout=DEADLINE_S)),
    "fastparl.get()": _one(_arrived, lambda f: fastparl.get(f, timeout=DEADLINE_S)),
    "a blocking call": lambda a, s, tag: ((lambda: s.identity(tag)), []),
    "a call that printed": lambda a, s, tag: ((lambda: s.progress(2, 8)), []),
    "a follower's wait": lambda a, s, tag: _follower(a, tag),
    "result(timeout) running out": lambda a, s, tag: _timeout(a, tag),
}


def _still_answer(a: Any, s: Any, others: list[threading.Thread]) -> None:
    """The actors answer new calls, and the threads that waited beside the interrupted one end."""
    assert a.identity("after").result(DEADLINE_S) == "after"
    assert s.identity("after") == "after"
    for t in others:
        t.join(DEADLINE_S)
        assert not t.is_alive(), "a thread that waited beside the interrupted one hangs"


_stuck: list[Any] = []


def interrupt_everywhere(name: str) -> dict:
    """Interrupt wait ``name`` at each of its points in turn; stops at the first failure."""
    a, s = AsyncFaulty(), RemoteFaulty()
    t0 = time.monotonic()
    failure = None
    k = 0
    while failure is None:
        k += 1
        outcome = None  # (its traceback holds the last wait's frames)
        gc.collect()
        wait, others = WAITS[name](a, s, f"k{k}")
        tracer = Interrupt(k)
        ended, outcome = within(wait, 2 * DEADLINE_S, tracer)
        where = f"interrupted at point {k}, {tracer.at}"
        if not ended:
            failure = f"{where}: the wait hung"
        elif tracer.at is None:  # it ended before a k-th point: every point was tried
            if isinstance(outcome, BaseException):
                failure = f"without an interrupt, the wait failed: {outcome!r}"
            break
        elif not isinstance(outcome, KeyboardInterrupt):
            failure = f"{where}: the wait ended with {outcome!r}, not the KeyboardInterrupt"
        else:
            ended, outcome = within(functools.partial(_still_answer, a, s, others), 3 * DEADLINE_S)
            if not ended or outcome is not None:
                failure = f"{where}: then the actors did not answer ({repr(outcome) if ended else 'a hang'})"
    if failure:
        _stuck.append((a, s))  # releasing them could hang this thread too: the shutdown shows what is left
    return {"wait": name, "points": k - 1, "not_raisable": tracer.skipped, "failures": [failure] if failure else [],
            "seconds": round(time.monotonic() - t0, 2)}


def _segments() -> int:
    return len(memfd_segments([os.getpid()])) - pooled_memfds()


def main() -> None:
    fastparl.connect("local", log_to_driver="file")  # actors' output: sync() runs, stdout stays ours
    segments = _segments()
    for name in WAITS if sys.argv[1:] == ["all"] else sys.argv[1:]:
        result = interrupt_everywhere(name)
        print(json.dumps(result), flush=True)
        if result["failures"]:
            break  # threads are stuck: the next waits would only add their hangs
    procs = descendants()
    t0 = time.monotonic()
    ended, outcome = within(fastparl.disconnect, 20.0)
    print(json.dumps({"shutdown": ended and outcome is None, "shutdown_s": round(time.monotonic() - t0, 2),
                      "outcome": repr(outcome), "processes_left": still_alive(procs, 5),
                      "segments_left": _segments() - segments}), flush=True)
    if not ended:
        os._exit(3)  # a thread is stuck on a lock: exit's disconnect would be too


if __name__ == "__main__":
    main()
