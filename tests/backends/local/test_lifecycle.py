"""Nothing outlives a run: normal exit, exception, Ctrl-C, a killed actor, a killed driver or fork
server, ``fastparl.disconnect()``; and no shared memory leaks in a driver that keeps running."""

import gc
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _procs import (descendants, kill_session, memfd_fds, memfd_segments, own_memfds, pooled_memfds, session_pids,
                    still_alive)

import fastparl
from _actors import AsyncFaulty, RemoteFaulty, RemotePlain

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.timeout(120)


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _kill_what_the_test_started():
    """However a test ends (a failure, a timeout), its driver program and all that started are killed."""
    yield
    while _started:
        kill_session(_started.pop())


def _start(mode, **kw):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "driver.py"), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)
    _started.append(proc)
    info = json.loads(proc.stdout.readline())
    return proc, info


def _finish(proc):
    # Not communicate(): it would skip what readline() already buffered in proc.stdout.
    out = proc.stdout.read()
    err = proc.stderr.read()  # small: the driver cannot block on a full stderr pipe before stdout's EOF
    return proc.wait(timeout=60), out, err


def _nothing_left(proc, info):
    """Every process the driver made has ended (memfds die with the last process that maps them)."""
    pids = [info["server"], *info["actors"]]
    assert still_alive(pids, 10) == []
    assert still_alive(session_pids(proc.pid), 5) == [], "processes of the driver's session still run"
    assert memfd_segments(pids) == {}


@pytest.mark.parametrize("mode,code", [("normal", 0), ("exception", 1)])
def test_exit_leaves_nothing(mode, code):
    proc, info = _start(mode)
    rc, out, err = _finish(proc)
    assert rc == code, err
    if mode == "exception":
        assert "the driver fails" in err
    _nothing_left(proc, info)


def test_ctrl_c_to_the_process_group():
    proc, info = _start("sigint")
    assert len(info["actors"]) == 4  # the one with a call in flight is checked too
    assert proc.stdout.readline().strip() == "busy"
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: every process in the group gets it
    rc, out, err = _finish(proc)
    assert rc != 0 and "KeyboardInterrupt" in err
    _nothing_left(proc, info)


def test_the_driver_catches_ctrl_c_and_goes_on_calling_its_actors():
    proc, info = _start("ctrl-c-then-call")
    assert proc.stdout.readline().strip() == "busy"
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "interrupted\nafter: 1 2 True\nend" in out, out + err  # actors ignore Ctrl-C; replies stay matched
    _nothing_left(proc, info)


def test_actors_ignore_sigint(local):
    """Ctrl-C is the driver's: an actor that gets SIGINT anyway (sent to it, or to a group it shares)
    goes on working."""
    a = RemoteFaulty()
    os.kill(a.pid(), signal.SIGINT)
    assert a.sleep(0.1) == 0.1 and a.add() == 1


def test_sigkill_of_the_driver():
    proc, info = _start("sigkill-driver")
    assert proc.stdout.readline().strip() == "busy"
    proc.kill()
    proc.wait()
    _nothing_left(proc, info)


def test_sigkill_of_an_actor_is_reported():
    proc, info = _start("kill-actor")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "DIED: -9" in out and "SIGKILL" in out
    assert "others: 2 3" in out
    _nothing_left(proc, info)


def test_actor_exit_reports_code_and_stderr():
    proc, info = _start("actor-exit")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "DIED: 7 | about to die" in out
    assert "others: 2" in out
    _nothing_left(proc, info)


def test_actor_output_is_forwarded_with_a_prefix():
    proc, info = _start("output")
    rc, out, err = _finish(proc)
    pid = info["actors"][1]
    assert f"(Plain pid={pid}) hello from the actor" in out
    assert f"(Plain pid={pid}) err:hello from the actor" in err
    _nothing_left(proc, info)


def test_max_memory_stops_the_actor_and_spares_the_driver():
    proc, info = _start("max-memory")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "RESOURCE:" in out and "max_memory=150" in out, out
    assert "others: 2" in out
    _nothing_left(proc, info)


# ------------------------------------------------------------------ in this (long-lived) driver
def _memfds_of(pid):
    return memfd_fds(pid), len(memfd_segments([pid]))


def test_no_memfd_leaks_in_a_long_lived_driver_and_its_actors(local):
    """Create and drop actors, shared arrays, put() objects and large messages again and again: the
    fastparl memfds that this driver and a long-lived actor hold come back to the same count."""
    keeper = RemoteFaulty()
    kpid = keeper.pid()

    def cycle():
        actors = [RemoteFaulty() for _ in range(3)]
        arrays = [fastparl.shared_array(1 << 16, fill=float(i)) for i in range(4)]
        refs = [fastparl.put({"w": np.full(1 << 15, float(i))}) for i in range(3)]
        for a in [keeper, *actors]:
            assert a.total(arrays[1]) == float(1 << 16)
            assert [a.mean_of(r) for r in refs] == [0.0, 1.0, 2.0]
            assert a.total(np.ones(1 << 16)) == float(1 << 16)  # large messages: arenas both ways
            assert a.make(1 << 16)[-1] == (1 << 16) - 1
        keeper.keep(refs[2])  # held by the actor past the call, then let go below
        keeper.keep({"w": arrays[3]})
        keeper.keep({"w": np.zeros(1)})
        pids = [a.pid() for a in actors]
        del actors, arrays, refs, a
        gc.collect()
        for _ in range(2):  # the releases and forgets ride on the next messages, both ways
            keeper.add()
        assert still_alive(pids, 5) == []

    cycle()  # warm up: arenas and the pool of reusable put() memory exist from now on
    driver0, pooled0, actor0 = own_memfds(), pooled_memfds(), _memfds_of(kpid)
    segs0 = len(memfd_segments([os.getpid()]))
    for _ in range(3):
        cycle()
    assert own_memfds() == driver0, "memfd descriptors leak in the driver"
    assert len(memfd_segments([os.getpid()])) - pooled_memfds() == segs0 - pooled0, "segments leak in the driver"
    assert _memfds_of(kpid) == actor0, "memfds leak in the actor"


def test_disconnect_ends_the_fork_server_and_every_actor(local):
    gc.collect()
    fds0, segs0 = memfd_fds(), len(memfd_segments([os.getpid()]))
    server = fastparl.remote.current_backend().server.pid
    others = descendants() - {server}  # processes of other tests in this session (e.g. a Ray instance)
    actors = [RemoteFaulty() for _ in range(3)]
    kids = [actors[0].child("popen"), actors[1].child("mp")]
    futs = AsyncFaulty()
    pids = [server, *(a.pid() for a in actors), *kids, futs.pid().result(timeout=10)]
    busy = futs.sleep(60)
    shared = fastparl.shared_array(1 << 16)
    actors[2].fill(shared, 1.0)
    fastparl.disconnect()  # this driver goes on running
    assert still_alive(pids, 5) == []
    with pytest.raises(fastparl.errors.ActorDiedError):
        busy.result(timeout=5)
    assert shared.sum() == len(shared)  # our own memory stays usable
    del shared, actors, busy, futs
    gc.collect()
    assert (memfd_fds(), len(memfd_segments([os.getpid()]))) == (fds0, segs0)
    assert still_alive(descendants() - others, 5) == []
    assert RemotePlain().add() == 1  # and a new connection works


@pytest.mark.parametrize("log_to_driver", [False, True])
def test_sigkill_of_the_fork_server_ends_its_actors(log_to_driver):
    """Without output forwarding, only the actors' parent-death signal can end them; with it, the
    driver also sees the server's pipe close and ends the actors' process groups (their children too)."""
    fastparl.disconnect()
    fastparl.connect("local", log_to_driver=log_to_driver)
    kid = None
    try:
        a = AsyncFaulty()
        pid = a.pid().result(timeout=10)
        kid = a.child("popen").result(timeout=10)
        pending = a.sleep(60)
        os.kill(fastparl.remote.current_backend().server.pid, signal.SIGKILL)
        assert still_alive([pid], 3) == [], "the actor outlived its fork server"
        if log_to_driver:
            assert still_alive([kid], 3) == [], "the actor's child outlived the fork server"
        with pytest.raises(fastparl.errors.ActorDiedError):
            pending.result(timeout=5)
    finally:
        fastparl.disconnect()
        if kid is not None and still_alive([kid], 0):  # without forwarding nothing ends it (see the docstring)
            os.kill(kid, signal.SIGKILL)


def test_runtime_never_imports_paddle():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == 'paddle' or name.startswith('paddle.'):
            raise ImportError('paddle is blocked')
sys.meta_path.insert(0, Block())
import fastparl, numpy as np
sys.path.insert(0, %r)
from _actors import RemotePlain
p = RemotePlain()
assert p.total(np.ones(10)) == 10.0
print('paddle' in sys.modules, p.env('MKL_DEBUG_CPU_TYPE'))
""" % os.path.dirname(os.path.dirname(HERE))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "5"]
