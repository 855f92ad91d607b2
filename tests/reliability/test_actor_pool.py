"""``fastparl.ActorPool``: calls go to the healthy actors, a dead one's result is dropped whole, dead ones
are re-created (with ``on_restore`` before their first call), user errors propagate (fastparl/remote/pool.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import fastparl
from fastparl.errors import ActorDiedError, RemoteError

pytestmark = [pytest.mark.backends("local"), pytest.mark.timeout(60)]


class _Sampler:
    def __init__(self, i: int):
        self.i = i
        self.weights = None

    def set_weights(self, w):
        self.weights = w

    def sample(self, s: float = 0.0):
        time.sleep(s)
        return {"i": self.i, "weights": self.weights, "batch": list(range(4))}

    def pid(self):
        return os.getpid()

    def broken(self):
        raise ValueError("a bug in the sampler")


Sampler = fastparl.remote_class(wait=False)(_Sampler)


def _kill(pid):
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)


def test_a_round_goes_on_with_the_healthy_actors_and_restores_the_dead_one(clean):
    weights = {"v": 0}
    pool = fastparl.ActorPool(Sampler, 3, on_restore=lambda a: a.set_weights(dict(weights)), retry_s=0.5)
    pool.foreach("set_weights", dict(weights))
    pids = pool.foreach("pid")
    clean.track(*pids)
    threading.Timer(0.3, _kill, (pids[1],)).start()  # actor 1 dies in the middle of this round
    results = pool.foreach_indexed("sample", 1.0)
    assert [i for i, _ in results] == [0, 2]  # actor 1's batch is dropped whole
    assert all(r["batch"] == [0, 1, 2, 3] for _, r in results)
    assert pool.healthy == [0, 2] and pool.events[-1].kind == "died" and pool.events[-1].index == 1
    weights["v"] = 7  # the latest weights, pushed to the restored actor before its first batch
    time.sleep(0.6)
    results = pool.foreach_indexed("sample")
    assert [i for i, _ in results] == [0, 1, 2]
    assert dict(results)[1]["weights"] == {"v": 7} and dict(results)[1]["i"] == 1
    assert pool.events[-1].kind == "restored"
    clean.track(*pool.foreach("pid"))
    pool.close()


def test_asynchronous_calls_drop_a_dead_actors_call_and_resubmit(clean):
    pool = fastparl.ActorPool(Sampler, 2, retry_s=0.2)
    pids = pool.foreach("pid")
    clean.track(*pids)
    assert pool.submit("sample", 2.0) == 2
    _kill(pids[0])
    got = pool.ready(num_returns=2, timeout=20)
    assert [i for i, _ in got] == [1] and pool.healthy == [1]
    time.sleep(0.3)
    assert pool.submit("sample") == 2  # actor 0 restored, and actor 1 idle again
    got = []
    while len(got) < 2:
        got += pool.ready(num_returns=2, timeout=20)
    assert sorted(i for i, _ in got) == [0, 1]
    clean.track(*pool.foreach("pid"))
    pool.close()


def test_a_user_error_is_not_a_death(clean):
    pool = fastparl.ActorPool(Sampler, 2)
    clean.track(*pool.foreach("pid"))
    with pytest.raises(RemoteError, match="a bug in the sampler"):
        pool.foreach("broken")
    assert pool.healthy == [0, 1]
    pool.close()


def test_a_pool_with_every_actor_dead_says_so(clean):
    made = []

    def factory(i):
        if made:
            raise fastparl.errors.ResourceError("no free slot")
        made.append(i)
        return Sampler(i)

    pool = fastparl.ActorPool(factory, 1, retry_s=0.0)
    pid = pool.foreach("pid")[0]
    clean.track(pid)
    _kill(pid)
    with pytest.raises(ActorDiedError, match="every actor of the pool"):
        pool.foreach("sample")
    assert pool.events[-1].kind in ("died", "restore-failed")
    pool.close()
