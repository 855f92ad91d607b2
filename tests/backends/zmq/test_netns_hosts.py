"""Workers on separate network hosts (Linux network namespaces, see tests/_netns.py): partitions, restarts,
paused daemons and hosts that vanish cost time, never calls, replies or the driver's use of the host.

Run as root (or with CAP_NET_ADMIN + CAP_SYS_ADMIN); skipped with the reason elsewhere.  The driver's
FASTPARL_HOST_TIMEOUT is TIMEOUT s here (default 20 s).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _netns import NetHost, available

import fastparl
from fastparl.errors import ActorDiedError

REASON = available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"namespace hosts unavailable: {REASON}")
TIMEOUT = 6.0


class _Counter:
    def __init__(self):
        self.calls = []

    def work(self, i):
        self.calls.append(i)
        return i * i

    def history(self):
        return self.calls

    def pid(self):
        return os.getpid()


Counter = fastparl.remote_class(wait=False)(_Counter)


@pytest.fixture(scope="module")
def hosts(token_file, tmp_path_factory):
    with open(token_file) as f:
        token = f.read().strip()
    logs = str(tmp_path_factory.mktemp("netns"))
    made = []
    try:
        for _ in range(2):
            made.append(NetHost(token, logs))
            made[-1].start_worker(cpus=2)
        yield made
    finally:
        for h in made:
            h.close()
    for h in made:
        assert h.pids() == [], f"processes left in {h.name}"


@pytest.fixture
def driver(hosts, monkeypatch, token_file, tmp_path):
    monkeypatch.setenv("FASTPARL_LOG_DIR", str(tmp_path / "logs"))  # hosts.json: `fastparl status --driver`
    with open(token_file) as f:
        monkeypatch.setenv("FASTPARL_TOKEN", f.read().strip())
    monkeypatch.delenv("FASTPARL_TOKEN_FILE", raising=False)
    monkeypatch.setenv("FASTPARL_HOST_TIMEOUT", str(TIMEOUT))
    for h in hosts:  # a test that broke a host leaves it for the next one healed and running
        h.heal()
        if h.proc is None or h.proc.poll() is not None:
            h.start_worker(cpus=2)
    fastparl.disconnect()
    fastparl.connect(",".join(h.address for h in hosts))
    yield fastparl.remote.current_backend()
    fastparl.disconnect()


def _driver_view():
    out = subprocess.run([sys.executable, "-m", "fastparl", "status", "--driver", "--json"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def _on(host, actor):
    return actor.pid().result(timeout=30) in host.pids()


def _one_on_each(hosts):
    a, b = Counter(), Counter()
    if _on(hosts[1], a):
        a, b = b, a
    assert _on(hosts[0], a) and _on(hosts[1], b), "one actor per host expected (2 free slots each)"
    return a, b


def _state(backend, host):
    return next(h for h in backend.hosts() if h["address"] == host.address)


def _wait_state(backend, host, state, timeout):
    deadline = time.monotonic() + timeout
    while _state(backend, host)["state"] != state:
        assert time.monotonic() < deadline, f"{host.address} not {state}: {_state(backend, host)}"
        time.sleep(0.1)


def test_a_partition_shorter_than_the_timeout_loses_nothing(hosts, driver):
    a, b = _one_on_each(hosts)
    before = [a.work(i) for i in range(20)]
    hosts[0].partition()
    try:
        during = [a.work(i) for i in range(20, 40)]  # sent into the partition
        assert b.work(7).result(timeout=5) == 49  # the other host is not affected
        time.sleep(2.0)
        assert _state(driver, hosts[0])["state"] == "suspect"
    finally:
        hosts[0].heal()
    assert [f.result(timeout=30) for f in before + during] == [i * i for i in range(40)]
    assert a.history().result(timeout=10) == list(range(40))  # each call ran once: none lost, none twice
    _wait_state(driver, hosts[0], "alive", 5)
    assert _state(driver, hosts[0])["sessions"] == 1


def test_a_partition_longer_than_the_timeout_fails_calls_and_the_host_is_used_again(hosts, driver):
    a, b = _one_on_each(hosts)
    hosts[0].partition()
    try:
        t0 = time.monotonic()
        pending = a.work(1)
        with pytest.raises(ActorDiedError) as info:
            pending.result(timeout=60)
        waited = time.monotonic() - t0
        assert TIMEOUT - 1 <= waited <= TIMEOUT + 3, waited
        assert hosts[0].address in str(info.value) and "no answer" in str(info.value)
        assert b.work(3).result(timeout=5) == 9
        view = _driver_view()  # what `fastparl status --driver` shows, from another process
        assert [h["state"] for h in view["hosts"]] == ["lost", "alive"], view
    finally:
        hosts[0].heal()
    _wait_state(driver, hosts[0], "alive", 15)  # re-admitted by the same driver
    assert _state(driver, hosts[0])["sessions"] == 2
    c = Counter()  # the healed host has 2 free slots (its old actor was ended), the other 1
    assert _on(hosts[0], c) and c.work(4).result(timeout=10) == 16


def test_a_restarted_worker_is_used_again(hosts, driver):
    a, _ = _one_on_each(hosts)
    pending = a.work(2)
    assert pending.result(timeout=10) == 4
    t0 = time.monotonic()
    os.kill(hosts[0].worker_pid(), signal.SIGKILL)  # its fork server and actors end with it (a call sent at
    with pytest.raises(ActorDiedError):            # once may still be answered by the actor)
        while time.monotonic() - t0 < 30:
            a.work(5).result(timeout=30)
            time.sleep(0.05)
    assert time.monotonic() - t0 < 2.5  # a closed connection is death, noticed at once
    hosts[0].proc.wait(10)
    hosts[0].start_worker(cpus=2)  # the same address
    _wait_state(driver, hosts[0], "alive", 15)
    c = Counter()
    assert _on(hosts[0], c) and c.work(3).result(timeout=10) == 9


def test_a_paused_worker_is_suspect_then_alive_and_keeps_its_actors(hosts, driver):
    a, _ = _one_on_each(hosts)
    pid = a.pid().result(timeout=10)
    wpid = hosts[0].worker_pid()
    os.kill(wpid, signal.SIGSTOP)
    try:
        time.sleep(3.0)
        assert _state(driver, hosts[0])["state"] == "suspect"
        assert a.work(6).result(timeout=10) == 36  # the actor runs; only its daemon is paused
    finally:
        os.kill(wpid, signal.SIGCONT)
    _wait_state(driver, hosts[0], "alive", 5)
    assert a.pid().result(timeout=10) == pid and a.work(7).result(timeout=10) == 49


def test_a_vanished_host_fails_calls_after_the_timeout(hosts, driver):
    a, b = _one_on_each(hosts)
    hosts[0].partition()
    hosts[0].kill_all()  # power cut: nothing says goodbye
    t0 = time.monotonic()
    with pytest.raises(ActorDiedError) as info:
        a.work(1).result(timeout=60)
    assert TIMEOUT - 1 <= time.monotonic() - t0 <= TIMEOUT + 3
    assert hosts[0].address in str(info.value)
    assert b.work(2).result(timeout=5) == 4 and Counter().work(3).result(timeout=10) == 9  # placed on the live host
    hosts[0].heal()
    hosts[0].start_worker(cpus=2)
    _wait_state(driver, hosts[0], "alive", 15)


def test_a_restartable_actor_moves_off_a_vanished_host(hosts, driver):
    Restartable = fastparl.remote_class(wait=False, max_restarts=1)(_Counter)
    a, b = Restartable(), Restartable()
    if _on(hosts[1], a):
        a, b = b, a
    assert _on(hosts[0], a) and _on(hosts[1], b)
    assert a.work(1).result(timeout=10) == 1
    hosts[0].partition()
    hosts[0].kill_all()
    with pytest.raises(ActorDiedError, match="max_task_retries"):
        a.work(2).result(timeout=60)  # in flight when its host was lost: not sent again
    assert a.work(3).result(timeout=30) == 9 and _on(hosts[1], a)  # the same proxy, restarted on the live host
    assert a.history().result(timeout=10) == [3]  # from its constructor: the old state is gone
    hosts[0].heal()
    hosts[0].start_worker(cpus=2)
    _wait_state(driver, hosts[0], "alive", 15)
