"""The fault suite: each case breaks something and checks the error (type, message, how fast), that
live actors lose no result, and (fixture ``clean``) that no process, descriptor or segment leaks.

Runs on the local and serial backends (tests/_backends.py) where the case applies.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import numpy as np
import pytest
from _drive import driver, read_json_line

import fastparl
from _actors import AsyncFaulty, FailsInit, Faulty, RemoteFaulty
from _procs import descendants, memfd_segments, session_pids, still_alive
from fastparl.errors import ActorDiedError, RemoteError, ResourceError, SerializationError

pytestmark = [pytest.mark.backends("local", "serial"), pytest.mark.timeout(60)]


# ------------------------------------------------------------------ user errors
def test_exception_in_init(clean):
    Remote = fastparl.remote_class(FailsInit)
    for _ in range(3):  # and again: a failed start leaves nothing behind
        with clean.fails(KeyError, match="no config abc") as info:
            Remote("abc")
    err = info.value
    assert isinstance(err, RemoteError) and "FailsInit.__init__()" in str(err)
    assert "Remote traceback" in str(err) and 'raise KeyError(f"no config {x}")' in str(err)


def test_exception_in_a_method(clean, bystander):
    a = RemoteFaulty()
    for i in range(20):
        with clean.fails(ValueError, match=f"broken {i}") as info:
            a.fail(f"broken {i}")
    assert "raise ValueError(msg)" in str(info.value)  # the remote traceback, in the message itself
    assert a.add() == 1
    bystander.check()


def test_unpicklable_arguments_and_results(clean, bystander):
    a = AsyncFaulty()
    before = a.add()
    with clean.fails(SerializationError, match=r"positional argument 0 \(lock\)"):
        a.identity(threading.Lock())
    with clean.fails(SerializationError, match=r"Faulty\.unpicklable\(\).*could not be pickled"):
        a.unpicklable().result(timeout=10)
    after = a.add()
    assert (before.result(timeout=10), after.result(timeout=10)) == (1, 2)  # nothing lost around them
    bystander.check()


# ------------------------------------------------------------------ the actor's process dies
@pytest.mark.requires("processes")
@pytest.mark.parametrize("when", ["mid-call", "between-calls"])
def test_actor_sigkill(clean, bystander, when):
    a = AsyncFaulty()
    pid = a.pid().result(timeout=10)
    if when == "mid-call":
        fut = a.sleep(30)
        time.sleep(0.1)
        t_fault = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        with clean.fails(ActorDiedError, match=r"died from SIGKILL .*during Faulty\.sleep\(\)", within=3, since=t_fault):
            fut.result(timeout=20)
    else:
        os.kill(pid, signal.SIGKILL)
        assert still_alive([pid], 3) == []
        with clean.fails(ActorDiedError, match="SIGKILL", within=3):  # from the next call
            a.add().result(timeout=20)
    with clean.fails(ActorDiedError, within=1):
        a.add().result(timeout=20)  # and every later call, at once
    bystander.check()


@pytest.mark.requires("processes")
def test_max_memory(clean, bystander):
    Hog = fastparl.remote_class(max_memory=100)(Faulty)
    h = Hog()
    with clean.fails(ResourceError, match=r"over its max_memory=100 MB", within=5):
        h.allocate(300)  # the monitor samples every 50 ms: stopped during this call or soon after
        while True:
            h.add()
            time.sleep(0.01)
    bystander.check()


@pytest.mark.requires("processes")
@pytest.mark.parametrize("how,code", [("sys.exit", 5), ("os._exit", 7)])
def test_exit_in_a_method(clean, bystander, how, code):
    a = RemoteFaulty()
    with clean.fails(ActorDiedError, match=f"with exit code {code}", within=3) as info:
        a.sys_exit(code) if how == "sys.exit" else a.die(code)
    assert info.value.exitcode == code
    bystander.check()


@pytest.mark.requires("processes")
def test_segfault(clean, bystander):
    a = RemoteFaulty()
    with clean.fails(ActorDiedError, match=r"SIGSEGV \(segmentation fault in native code\)", within=3):
        a.segfault()
    bystander.check()


# ------------------------------------------------------------------ what an actor started
@pytest.mark.requires("processes")
@pytest.mark.parametrize("end", ["kill", "release", "disconnect"])
def test_actor_children_end_with_the_actor(clean, end):
    a = RemoteFaulty()
    kids = [a.child(kind) for kind in ("mp", "fork", "popen", "daemon")]
    clean.track(*kids)
    t0 = time.monotonic()
    if end == "kill":
        fastparl.kill(a)
    elif end == "release":
        del a
        gc.collect()
    else:
        fastparl.disconnect()
    assert still_alive(kids, 3) == [], f"children of the actor outlived fastparl.{end}"
    clean.record("time_to_end_s", round(time.monotonic() - t0, 3))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signame", ["SIGINT", "SIGKILL"])
def test_driver_dies_with_8_busy_actors_and_shared_memory(signame, record_property):
    with driver("eight", "signal") as proc:  # killed, with all it started, however the test ends
        info = read_json_line(proc)
        assert proc.stdout.readline().strip() == "busy"
        os.killpg(proc.pid, getattr(signal, signame))  # the whole group, as a terminal or a job killer does
        t0 = time.monotonic()
        proc.communicate(timeout=30)
        pids = [info["server"], *info["actors"]]
        assert still_alive(pids, 5) == [], f"processes outlived a {signame} of the driver"
        record_property("time_to_end_s", round(time.monotonic() - t0, 3))
        assert time.monotonic() - t0 < 6
        assert memfd_segments(pids) == {}
        assert session_pids(proc.pid) == [], "processes of the driver's session still run"


# ------------------------------------------------------------------ scale and concurrency
@pytest.mark.timeout(120)
@pytest.mark.requires("processes")
def test_100_actors_on_2_cores(clean):
    t0 = time.monotonic()
    actors = [AsyncFaulty() for _ in range(100)]
    started = time.monotonic() - t0
    data = np.arange(1 << 15, dtype=np.float64)  # 256 KB each: out of band, one arena per actor
    futs = [[a.add(i) for i in range(10)] + [a.total(data)] for a in actors]
    expect = [i * (i + 1) // 2 for i in range(10)] + [float(data.sum())]
    assert all(fastparl.get(f, timeout=60) == expect for f in futs)
    clean.record("start_100_s", round(started, 2))
    clean.record("total_s", round(time.monotonic() - t0, 2))
    pids = [a._fp_actor.pid for a in actors]
    del actors, futs
    gc.collect()
    assert still_alive(pids, 10) == []


def test_16_threads_on_one_actor(clean):
    sync, futs = RemoteFaulty(), AsyncFaulty()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(100):
                assert sync.alone((t, i)) == (t, i)
                f = futs.alone((t, -i))
                if i % 10 == 0:
                    done, _ = fastparl.wait([f], timeout=10)
                    assert done == [f]
                assert f.result(timeout=10) == (t, -i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(50)
    assert not any(th.is_alive() for th in threads), "a thread hangs"
    assert errors == []
    assert sync.add() == 1 and futs.add().result(timeout=10) == 1


def test_dropped_futures(clean):
    a = AsyncFaulty()
    pid = a.pid().result(timeout=10)
    held = []
    for _ in range(3):
        for _ in range(50):
            a.make(1 << 18)  # 1 MB replies nobody reads (50 MB in flight at once)
        for _ in range(300):
            a.add()
        a.add(0).result(timeout=30)
        held.append(sum(memfd_segments([os.getpid(), pid]).values()))
    assert a.add(0).result(timeout=30) == 900  # every call ran, in order
    if fastparl.remote.current_backend().capabilities.processes:
        assert held[2] <= held[0] + (8 << 20), f"replies nobody reads are kept: {[h >> 20 for h in held]} MB"
        b = AsyncFaulty()
        b.sleep(0.2)
        bpid = b._fp_actor.pid
        del a, b  # proxies gone, futures dropped: the actors end (b once its call is done)
        gc.collect()
        assert still_alive([pid, bpid], 5) == []


class _Interrupted(BaseException):
    """Stands for KeyboardInterrupt (which, escaping by mistake, would stop the whole test run)."""


@pytest.mark.requires("processes")
def test_an_interrupted_call_keeps_no_reply(clean):
    """Ctrl-C while waiting for a call: its reply, when it comes, must not be kept (it would pin the
    actor's shared memory for the actor's life)."""
    a = RemoteFaulty()
    pid = a.pid()

    def interrupt(*_):
        raise _Interrupted

    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        held = []
        for _ in range(3):
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            with pytest.raises(_Interrupted):
                a.slow_make(0.8, 16 << 20)  # the reply: a 16 MB view of the actor's arena
            assert a.add() > 0  # the late reply arrives before this one, and is dropped
            gc.collect()
            held.append(sum(memfd_segments([os.getpid(), pid]).values()) >> 20)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert held[2] <= held[0], f"shared memory held after each interrupted call: {held} MB"


@pytest.mark.requires("processes")
def test_kill_ends_a_busy_actor_within_a_second(clean):
    a = AsyncFaulty()
    pid = a.pid().result(timeout=10)
    busy = a.busy(30)
    time.sleep(0.2)
    t0 = time.monotonic()
    fastparl.kill(a)
    assert still_alive([pid], 1.0) == [], "fastparl.kill left the actor running"
    clean.record("time_to_end_s", round(time.monotonic() - t0, 3))
    with clean.fails(ActorDiedError, match="fastparl.kill", within=1, since=t0):
        busy.result(timeout=10)


@pytest.mark.requires("processes")
def test_descriptors_per_actor(clean):
    """Each actor costs the driver 2 descriptors, arrays or not (the old runtime: 4, plus one per
    mapped arena segment)."""
    import psutil

    me = psutil.Process()
    RemoteFaulty().add()  # the first actor may set up lasting things (threads, pipes)
    gc.collect()
    before, helpers = me.num_fds(), descendants()
    actors = [RemoteFaulty() for _ in range(10)]
    for a in actors:
        assert a.total(np.ones(1 << 16)) == float(1 << 16)  # 512 KB each way: both arenas
        assert a.make(1 << 17)[-1] == (1 << 17) - 1
    assert me.num_fds() - before <= 2 * len(actors)
    del actors, a
    gc.collect()
    assert still_alive(descendants() - helpers, 5) == []
    assert me.num_fds() <= before
