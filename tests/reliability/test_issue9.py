"""Issue 9's numbered problems, one test (or a few) each.  Every test here failed on the runtime of
commit a5e996e (see perf/results/reliability.md) and uses only the public API, so it runs on both."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import numpy as np
import pytest
from _drive import read_json_line, run_driver

import fastparl
from _actors import AsyncFaulty, Faulty, RemoteFaulty, RemotePlain
from _procs import alive, descendants, still_alive
from fastparl.errors import ActorDiedError, FastparlError, FutureTimeoutError, ResourceError, SerializationError

pytestmark = pytest.mark.timeout(60)


# ------------------------------------------------------------------ 1. an actor's children
@pytest.mark.timeout(30)
@pytest.mark.requires("processes")
@pytest.mark.parametrize("kind", ["mp", "fork", "popen", "daemon"])
def test_1_a_dying_actor_takes_its_children_and_fails_the_call_at_once(kind, clean):
    a = RemoteFaulty()
    kid = a.child(kind)
    clean.track(kid)
    with clean.fails(ActorDiedError, match="exit code 3", within=3):
        a.die(3)  # a forked child holds the actor's socket: the old runtime waited for it (120 s)
    assert still_alive([kid], 3) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("end", ["normal", "exception", "sigint", "sigkill", "sigkill-group"])
def test_1_nothing_an_actor_started_outlives_the_driver(end):
    proc = run_driver("children", end.partition("-")[0], start_new_session=True)
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


# ------------------------------------------------------------------ 2. replies are never held back
@pytest.mark.timeout(30)
@pytest.mark.requires("processes", "shared_memory")
def test_2_a_fast_reply_does_not_wait_for_the_next_call(clean):
    a = AsyncFaulty()
    flag = fastparl.shared_array(1, np.int64)
    quick = a.add()
    slow = a.wait_flag(flag, 10.0)  # finishes only once the driver has seen quick's reply
    assert quick.result(timeout=3) == 1
    flag[0] = 1
    assert slow.result(timeout=10) is True
    plain = a.add(), a.sleep(5)
    assert plain[0].result(timeout=3) == 2
    fastparl.kill(a)


# ------------------------------------------------------------------ 3. timeouts across threads
@pytest.mark.timeout(30)
@pytest.mark.requires("processes")
def test_3_timeouts_hold_while_another_thread_waits_on_the_same_actor(clean):
    a = AsyncFaulty()
    assert a.add().result(timeout=10) == 1
    stuck = a.sleep(60)  # an actor that does not answer in time
    other = a.add()
    seen = []

    def blocked():
        try:
            seen.append(stuck.get())
        except ActorDiedError as e:
            seen.append(e)

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    time.sleep(0.2)  # thread reads the wire now
    with clean.fails(FutureTimeoutError, within=2):
        other.result(timeout=0.5)
    t0 = time.monotonic()
    assert other.done() is False
    assert time.monotonic() - t0 < 1.0, "done() blocked"
    t0 = time.monotonic()
    done, pending = fastparl.wait([other, stuck], timeout=0.5)
    assert (done, pending) == ([], [other, stuck]) and time.monotonic() - t0 < 2
    fastparl.kill(a)
    t.join(5)
    assert not t.is_alive() and isinstance(seen[0], ActorDiedError)


# ------------------------------------------------------------------ 4. kept arrays pin little memory
# (tests/reliability/test_memory.py: test_4_kept_arrays_pin_only_their_regions)


# ------------------------------------------------------------------ 5. progress bars
@pytest.mark.timeout(60)
def test_5_carriage_return_updates_are_forwarded_as_they_come_at_linear_cost(tmp_path):
    n = 250_000  # 25 MB of "\r" updates in one line: the old monitor took ~3.3 s of CPU (quadratic), now ~0.3
    out = tmp_path / "out"
    with open(out, "wb") as f:
        proc = run_driver("progress", str(n), "2", stdout=f, text=False)
    deadline = time.monotonic() + 40
    last = f" {n - 1}\r".encode()
    while time.monotonic() < deadline:
        data = out.read_bytes()
        if last in data or b"driver cpu" in data:
            break
        time.sleep(0.05)
    assert b"driver cpu" not in data, "the updates came out only after the call ended"
    assert last in data, data[-300:]
    pid = read_pid(data)
    assert data.count(f"(Faulty pid={pid}) ".encode()) >= n // 2  # each update shown with its prefix
    _, err = proc.communicate(timeout=30)
    data = out.read_bytes()
    cpu = float(data.rsplit(b"driver cpu", 1)[1].split()[0])
    assert cpu < 1.5, f"the driver spent {cpu} s of CPU on 25 MB of progress updates"
    assert proc.returncode == 0, err


def read_pid(data: bytes) -> int:
    import json

    return int(json.loads(data.split(b"\n", 1)[0])["actors"][0])


# ------------------------------------------------------------------ 6. a fork server that answers late
@pytest.mark.timeout(90)
def test_6_a_late_fork_server_reply_is_never_taken_for_the_next(local, monkeypatch):
    backend = fastparl.remote.backend()
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


# ------------------------------------------------------------------ 7. descriptors
@pytest.mark.timeout(120)
def test_7_300_actors_under_a_1024_descriptor_limit_then_a_clear_error():
    proc = run_driver("fd-limit", "300")
    info = read_json_line(proc)
    out, err = proc.communicate(timeout=100)
    assert info["ok"], err
    assert info["fds"] < 700, f"the driver holds {info['fds']} descriptors for 300 actors"
    assert "ResourceError after" in out and "out of file descriptors" in out and "ulimit -n" in out, out + err
    assert out.count("still works: ") == 2, out + err
    assert "ResourceError for actors after" in out, out + err
    assert "out of file descriptors while creating the sockets" in out.split("for actors after")[1], out + err
    assert proc.returncode == 0, err
    assert still_alive([info["server"], *info["actors"]], 10) == []


@pytest.mark.timeout(30)
@pytest.mark.requires("processes", "shared_memory")
def test_7_an_actor_out_of_descriptors_says_so(clean):
    a = RemoteFaulty()
    a.lower_fd_limit(64)
    arrays = [fastparl.shared_array(8) for _ in range(80)]
    with clean.fails(ActorDiedError, match="(?s)out of file descriptors.*ulimit -n"):
        a.identity(arrays)
    del arrays


# ------------------------------------------------------------------ 8. a future keeps its actor
def test_8_a_pending_future_keeps_its_actor_alive(clean):
    assert AsyncFaulty().sleep(0.3).get() == 0.3
    futs = [AsyncFaulty().add(i) for i in range(3)]
    gc.collect()
    assert fastparl.get(futs) == [0, 1, 2]


# ------------------------------------------------------------------ 9. GPUs come back when the process ended
@pytest.mark.timeout(60)
@pytest.mark.requires("processes")
def test_9_a_gpu_is_handed_out_again_only_once_its_process_ended(backend, monkeypatch):
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


# ------------------------------------------------------------------ 10. smaller ones
@pytest.mark.requires("processes")
def test_10_actors_get_the_environment_of_now(clean, monkeypatch):
    monkeypatch.setenv("FP_GONE_LATER", "1")
    first = RemoteFaulty()
    monkeypatch.setenv("FP_SET_LATER", "yes")
    monkeypatch.delenv("FP_GONE_LATER")
    second = RemoteFaulty()
    assert (second.env("FP_SET_LATER"), second.env("FP_GONE_LATER")) == ("yes", None)
    assert first.env("FP_GONE_LATER") == "1"


def test_10_a_main_class_ships_with_the_globals_of_now():
    proc = run_driver("main-globals")
    out, err = proc.communicate(timeout=60)
    assert "greetings: first second" in out, out + err


def test_10_wait_treats_plain_values_as_done(backend):
    assert fastparl.wait([1, 2]) == ([1, 2], [])
    f = AsyncFaulty().add(5)
    done, pending = fastparl.wait([7, f], num_returns=2, timeout=10)
    assert done == [7, f] and pending == [] and fastparl.get(done) == [7, 5]


@pytest.mark.requires("processes")
def test_10_an_unpicklable_reply_names_the_method(clean):
    a = RemoteFaulty()
    with clean.fails(SerializationError, match=r"Faulty\.foreign\(\)") as info:
        a.foreign()
    assert "fp_only_in_the_actor" in str(info.value)
    assert a.add() == 1
    w = AsyncFaulty()
    futs = [w.add(), w.foreign(), w.add()]
    with pytest.raises(SerializationError, match=r"Faulty\.foreign\(\)"):
        futs[2].result(timeout=10) and futs[1].result(timeout=10)
    assert futs[0].result(timeout=10) == 1


def test_10_too_many_gpus_names_how_many_exist(backend, monkeypatch):
    fastparl.disconnect()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    fastparl.connect(backend)
    with pytest.raises(ResourceError, match=r"n_gpu=3, but only 2 GPU\(s\) are visible"):
        fastparl.remote_class(n_gpu=3)(Faulty)()
