"""An actor's processes and what they hold: its children end with it or with the driver, a fork server
that answers late, running out of descriptors, a pending future that keeps its actor, GPUs handed out
again only once a process ended, and the environment an actor starts with.

Each test here failed on the runtime of commit a5e996e (issue 9; see perf/results/reliability.md),
and uses only the public API, so it runs on every backend it applies to."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest
from _drive import driver, read_json_line

import fastparl
from _actors import AsyncFaulty, Faulty, RemoteFaulty, RemotePlain
from _procs import alive, descendants, still_alive
from fastparl.errors import ActorDiedError, FastparlError, ResourceError

pytestmark = [pytest.mark.backends("local", "serial"), pytest.mark.timeout(60)]


# ------------------------------------------------------------------ an actor's children
@pytest.mark.timeout(30)
@pytest.mark.requires("processes")
@pytest.mark.parametrize("kind", ["mp", "fork", "popen", "daemon"])
def test_a_dying_actor_takes_its_children_and_fails_the_call_at_once(kind, clean):
    a = RemoteFaulty()
    kid = a.child(kind)
    clean.track(kid)
    with clean.fails(ActorDiedError, match="exit code 3", within=3):
        a.die(3)  # a forked child holds the actor's socket: the old runtime waited for it (120 s)
    assert still_alive([kid], 3) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("end", ["normal", "exception", "sigint", "sigkill", "sigkill-group"])
def test_nothing_an_actor_started_outlives_the_driver(end):
    with driver("children", end.partition("-")[0]) as proc:  # killed, with all it started, however the test ends
        info = read_json_line(proc)
        if end != "normal" and end != "exception":
            assert proc.stdout.readline().strip() == "busy"
            time.sleep(0.1)
            if end == "sigkill":
                proc.kill()  # the driver alone
            else:  # the whole process group, as a terminal (Ctrl-C) or `kill -9 -PGID` does
                os.killpg(proc.pid, signal.SIGINT if end == "sigint" else signal.SIGKILL)
        proc.communicate(timeout=30)
        pids = [info["server"], *info["actors"], *info["children"]]
        assert still_alive(pids, 5) == []


# ------------------------------------------------------------------ the fork server
@pytest.mark.timeout(90)
def test_a_late_fork_server_reply_is_never_taken_for_the_next(local, monkeypatch):
    backend = fastparl.remote.current_backend()
    server = backend.server.pid
    if hasattr(backend, "request_timeout"):
        monkeypatch.setattr(backend, "request_timeout", 0.5)
    stall = getattr(backend, "request_timeout", 30) + 0.5
    a = RemotePlain()
    os.kill(server, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(FastparlError, match="did not answer"):
            RemotePlain()  # its SPAWN times out; the reply comes later
        assert time.monotonic() - t0 < stall + 5
    finally:
        os.kill(server, signal.SIGCONT)
    b = RemotePlain()
    c = RemotePlain()
    assert b.pid() == b._fp_actor.pid and c.pid() == c._fp_actor.pid != b.pid()
    fastparl.kill(c)
    assert b.add() == 1 and a.add() == 1  # kill(c) killed c, not b
    assert still_alive([c._fp_actor.pid], 3) == []
    late = descendants(server) - {a.pid(), b.pid()}
    assert still_alive(late, 3) == [], "the actor spawned for the timed-out request still runs"


# ------------------------------------------------------------------ descriptors
@pytest.mark.timeout(120)
def test_300_actors_under_a_1024_descriptor_limit_then_a_clear_error():
    with driver("fd-limit", "300") as proc:
        info = read_json_line(proc)
        out, err = proc.communicate(timeout=100)
        assert still_alive([info["server"], *info["actors"]], 10) == []  # by themselves, before the block kills
    assert info["ok"], err
    assert info["fds"] < 700, f"the driver holds {info['fds']} descriptors for 300 actors"
    assert "ResourceError after" in out and "out of file descriptors" in out and "ulimit -n" in out, out + err
    assert out.count("still works: ") == 2, out + err
    assert "ResourceError for actors after" in out, out + err
    assert "out of file descriptors while creating the sockets" in out.split("for actors after")[1], out + err
    assert proc.returncode == 0, err


@pytest.mark.timeout(30)
@pytest.mark.requires("processes", "shared_memory")
def test_an_actor_out_of_descriptors_says_so(clean):
    a = RemoteFaulty()
    a.lower_fd_limit(64)
    arrays = [fastparl.shared_array(8) for _ in range(80)]
    with clean.fails(ActorDiedError, match="(?s)out of file descriptors.*ulimit -n"):
        a.identity(arrays)
    del arrays


# ------------------------------------------------------------------ a future keeps its actor
def test_a_pending_future_keeps_its_actor_alive(clean):
    assert AsyncFaulty().sleep(0.3).get() == 0.3
    futs = [AsyncFaulty().add(i) for i in range(3)]
    gc.collect()
    assert fastparl.get(futs) == [0, 1, 2]


# ------------------------------------------------------------------ GPUs
@pytest.mark.timeout(60)
@pytest.mark.requires("processes")
def test_a_gpu_is_handed_out_again_only_once_its_process_ended(backend, monkeypatch):
    fastparl.disconnect()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    fastparl.connect(backend)
    Gpu = fastparl.remote_class(wait=False, n_gpu=1)(Faulty)
    a = Gpu()
    old = a.pid().result(timeout=10)
    a.sleep(1.5)  # proxy and future dropped at once: the actor ends after this call
    del a
    gc.collect()
    b = Gpu()  # waits for the device
    assert not alive(old), "the GPU was handed to a new actor while the old process still ran on it"
    assert b.env("CUDA_VISIBLE_DEVICES").result(timeout=10) == "7"
    busy = b.busy(30)
    fastparl.kill(b)
    c = Gpu()
    assert not alive(b._fp_actor.pid)
    assert c.env("CUDA_VISIBLE_DEVICES").result(timeout=10) == "7"
    with pytest.raises(ActorDiedError):
        busy.result(timeout=5)


def test_too_many_gpus_names_how_many_exist(backend, monkeypatch):
    fastparl.disconnect()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    fastparl.connect(backend)
    with pytest.raises(ResourceError, match=r"n_gpu=3, but only 2 GPU\(s\) are visible"):
        fastparl.remote_class(n_gpu=3)(Faulty)()


# ------------------------------------------------------------------ the environment
@pytest.mark.requires("processes")
def test_actors_get_the_environment_of_now(clean, monkeypatch):
    monkeypatch.setenv("FP_GONE_LATER", "1")
    first = RemoteFaulty()
    monkeypatch.setenv("FP_SET_LATER", "yes")
    monkeypatch.delenv("FP_GONE_LATER")
    second = RemoteFaulty()
    assert (second.env("FP_SET_LATER"), second.env("FP_GONE_LATER")) == ("yes", None)
    assert first.env("FP_GONE_LATER") == "1"
