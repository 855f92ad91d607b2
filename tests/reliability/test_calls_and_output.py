"""Calls and their results under stress: a fast reply never waits for the next call, timeouts hold across
threads, wait() takes plain values, an unpicklable reply names its method, a class of __main__ ships
with the globals of now, and progress-bar output is forwarded as it comes at linear cost.

Each test here failed on the runtime of commit a5e996e (issue 9; see perf/results/reliability.md),
and uses only the public API, so it runs on every backend it applies to."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _drive import driver

import fastparl
from _actors import AsyncFaulty, RemoteFaulty
from fastparl.errors import ActorDiedError, FutureTimeoutError, SerializationError

pytestmark = [pytest.mark.backends("local", "serial"), pytest.mark.timeout(60)]


# ------------------------------------------------------------------ replies are never held back
@pytest.mark.timeout(30)
@pytest.mark.requires("processes", "shared_memory")
def test_a_fast_reply_does_not_wait_for_the_next_call(clean):
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


# ------------------------------------------------------------------ timeouts across threads
@pytest.mark.timeout(30)
@pytest.mark.requires("processes")
def test_timeouts_hold_while_another_thread_waits_on_the_same_actor(clean):
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


# ------------------------------------------------------------------ waiting and unpicklable replies
def test_wait_treats_plain_values_as_done(backend):
    assert fastparl.wait([1, 2]) == ([1, 2], [])
    f = AsyncFaulty().add(5)
    done, pending = fastparl.wait([7, f], num_returns=2, timeout=10)
    assert done == [7, f] and pending == [] and fastparl.get(done) == [7, 5]


@pytest.mark.requires("processes")
def test_an_unpicklable_reply_names_the_method(clean):
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


# ------------------------------------------------------------------ classes of __main__
def test_a_main_class_ships_with_the_globals_of_now():
    with driver("main-globals") as proc:
        out, err = proc.communicate(timeout=60)
    assert "greetings: first second" in out, out + err


# ------------------------------------------------------------------ output: progress bars
@pytest.mark.timeout(60)
def test_carriage_return_updates_are_forwarded_as_they_come_at_linear_cost(tmp_path):
    n = 250_000  # 25 MB of "\r" updates in one line: the old monitor took ~3.3 s of CPU (quadratic), then ~1.4
    # printing each one; now the latest is shown ~10 times a second (issue 17)
    out = tmp_path / "out"
    with open(out, "wb") as f, driver("progress", str(n), "2", stdout=f, text=False) as proc:
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
        shown = data.count(f"(Faulty pid={pid}) ".encode())
        assert 1 <= shown <= 200, shown  # at a display rate (~10 a second), not each of the 250,000
        _, err = proc.communicate(timeout=30)
    data = out.read_bytes()
    cpu = float(data.rsplit(b"driver cpu", 1)[1].split()[0])
    assert cpu < 1.5, f"the driver spent {cpu} s of CPU on 25 MB of progress updates"
    assert proc.returncode == 0, err


def read_pid(data: bytes) -> int:
    import json

    return int(json.loads(data.split(b"\n", 1)[0])["actors"][0])
