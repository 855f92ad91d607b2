"""``@remote_class(max_restarts=k, max_task_retries=m)``: a dead actor is re-created from its constructor;
calls in flight fail unless retries are allowed; the proxy stays valid; a kill is final (fastparl/remote/restarts.py).
On a zmq cluster, a restart on another host when the actor's host is lost: tests/backends/zmq/test_netns_hosts.py.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

import fastparl
from fastparl.errors import ActorDiedError

pytestmark = [pytest.mark.backends("local"), pytest.mark.timeout(60)]


class _Counter:
    def __init__(self, start: int = 0):
        self.n = start

    def incr(self) -> int:
        self.n += 1
        return self.n

    def pid(self) -> int:
        return os.getpid()

    def slow_incr(self, s: float) -> int:
        time.sleep(s)
        return self.incr()


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.01)


def test_a_dead_actor_is_restarted_from_its_constructor(clean):
    Counter = fastparl.remote_class(max_restarts=2)(_Counter)
    c = Counter(10)
    assert c.incr() == 11 and c.incr() == 12
    first = c.pid()
    clean.track(first)
    _kill(first)
    time.sleep(0.3)  # the death is noticed between calls: the next call goes to the new instance
    assert c.incr() == 11  # the state is lost: it starts from Counter(10) again
    assert c.pid() != first
    clean.track(c.pid())


def test_a_call_in_flight_fails_and_later_calls_go_to_the_new_instance(clean):
    Counter = fastparl.remote_class(max_restarts=1, wait=False)(_Counter)
    c = Counter()
    first = c.pid().result(timeout=10)
    running = c.slow_incr(30)
    time.sleep(0.3)
    _kill(first)
    with clean.fails(ActorDiedError, match="max_task_retries=0", within=5):
        running.result(timeout=20)
    assert c.incr().result(timeout=10) == 1
    clean.track(c.pid().result(timeout=10))


def test_a_call_in_flight_is_retried_when_allowed(clean):
    Counter = fastparl.remote_class(max_restarts=1, max_task_retries=1, wait=False)(_Counter)
    c = Counter(100)
    first = c.pid().result(timeout=10)
    running = c.slow_incr(1.0)
    time.sleep(0.3)
    _kill(first)
    assert running.result(timeout=20) == 101  # ran again, on the new instance
    assert fastparl.get([c.incr(), c.incr()]) == [102, 103]
    clean.track(c.pid().result(timeout=10))


def test_an_actor_that_keeps_dying_gives_up_naming_every_cause(clean):
    Counter = fastparl.remote_class(max_restarts=1)(_Counter)
    c = Counter()
    for _ in range(2):
        pid = c.pid()
        clean.track(pid)
        _kill(pid)
        time.sleep(0.3)
        if _ == 0:
            assert c.incr() == 1  # the one restart
    with clean.fails(ActorDiedError, match=r"died 2 time\(s\) and was restarted 1 time\(s\)") as info:
        c.incr()
    text = str(info.value)
    assert "1. " in text and "2. " in text, text
    with pytest.raises(ActorDiedError, match="no more restarts"):
        c.incr()  # final


def test_kill_is_final(clean):
    Counter = fastparl.remote_class(max_restarts=-1)(_Counter)
    c = Counter()
    clean.track(c.pid())
    fastparl.kill(c)
    with clean.fails(ActorDiedError, match="not restarted|fastparl.kill"):
        c.incr()


def test_bad_restart_options_are_refused():
    for bad in (-2, 1.5, True, "3"):
        with pytest.raises(ValueError, match="max_restarts"):
            fastparl.remote_class(max_restarts=bad)(_Counter)
        with pytest.raises(ValueError, match="max_task_retries"):
            fastparl.remote_class(max_task_retries=bad)(_Counter)
