"""Several loopback worker daemons standing in for hosts: authentication, failures, placement, status."""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zmq
from _cluster import ROOT, WorkerProc
from _procs import alive, still_alive

import fastparl
from fastparl.learners.rendezvous import free_port
from fastparl.remote.zmq.auth import load_token
from fastparl.remote.zmq.gate import plain_client, ticket
from fastparl.remote.zmq.wire import HEADER
from fastparl.errors import ActorDiedError, AuthenticationError, ConnectionError, FastparlError, ResourceError

from _actors import AsyncWorker, Plain, RemotePlain  # noqa: I001

TESTS = os.path.join(ROOT, "tests")  # _actors.py and friends, for the scripts below


@pytest.fixture
def fresh(token_file, use_token, tmp_path):
    """Workers started for one test (so that the test may kill them)."""
    started = []

    def start(**kw):
        kw.setdefault("host_id", f"fresh-{len(started)}")
        w = WorkerProc(token_file, log_dir=str(tmp_path), **kw)
        started.append(w)
        return w

    yield start
    fastparl.disconnect()
    pids = [p for w in started for p in w.pids()]
    for w in started:
        w.stop()
    assert still_alive(pids) == []


def _connect(*workers, **kw):
    fastparl.disconnect()
    fastparl.connect(",".join(w.address for w in workers), **kw)


def test_actors_are_placed_on_both_workers(cluster, use_token):
    _connect(*cluster)
    try:
        actors = [RemotePlain(i) for i in range(6)]
        pids = {a.pid() for a in actors}
        workers = [set(w.pids()) for w in cluster]
        assert all(pids & w for w in workers), "actors should spread over both workers"
        assert pids <= workers[0] | workers[1]
        assert [a.add() for a in actors] == list(range(1, 7))
    finally:
        fastparl.disconnect()


def test_wrong_token_is_refused_and_the_worker_keeps_serving(cluster, use_token, monkeypatch):
    fastparl.disconnect()
    monkeypatch.setenv("FASTPARL_TOKEN", "not-the-token")
    with pytest.raises(AuthenticationError, match="FASTPARL_TOKEN"):
        fastparl.connect(cluster[0].address)
    assert not fastparl.remote.is_connected()
    monkeypatch.delenv("FASTPARL_TOKEN")
    _connect(cluster[0])
    try:
        assert RemotePlain(1).add() == 2
    finally:
        fastparl.disconnect()


def test_token_file_readable_by_others_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text("x")
    path.chmod(0o644)
    monkeypatch.setenv("FASTPARL_TOKEN_FILE", str(path))
    monkeypatch.delenv("FASTPARL_TOKEN", raising=False)
    fastparl.disconnect()
    with pytest.raises(AuthenticationError, match="chmod 600"):
        fastparl.connect("192.0.2.1:9")  # the token is checked before anything is sent


def test_nothing_answers_at_a_remote_address(use_token, monkeypatch):
    """When no worker answers, connect() raises, naming each address (a loopback-only list instead falls
    back to local actors: PARL's connect("localhost:PORT") without a cluster).  Traffic stays on loopback:
    the addresses are treated as remote ones."""
    import fastparl.remote.api

    monkeypatch.setattr(fastparl.remote.api, "all_loopback", lambda target: False)
    fastparl.disconnect()
    dead = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="no worker of .* answered") as info:
        fastparl.connect(",".join(dead), connect_timeout=0.5)
    assert all(d in str(info.value) for d in dead) and "fastparl worker --port" in str(info.value)
    assert time.monotonic() - t0 < 5
    assert not fastparl.remote.is_connected()


def test_a_dead_worker_beside_a_live_one_is_skipped_with_a_warning(fresh):
    """One rule for workers that do not answer at connect(): skipped, named in one warning, the others used."""
    live = fresh(cpus=2)
    dead = f"127.0.0.1:{free_port()}"
    fastparl.disconnect()
    with pytest.warns(UserWarning, match=f"(?s)did not answer and are not used.*{dead}"):
        fastparl.connect(f"{dead},{live.address}", connect_timeout=0.5)
    try:
        a = RemotePlain(1)
        assert a.add() == 2 and a.pid() in set(live.pids())
        with pytest.raises(ResourceError, match=f"lost: {dead}"):  # never used, and said so when slots run out
            [RemotePlain() for _ in range(3)]
    finally:
        fastparl.disconnect()


def test_a_killed_worker_fails_calls_within_two_seconds(fresh):
    a, b = fresh(), fresh()
    _connect(a, b)
    w = AsyncWorker()
    w.work(1).result(timeout=10)
    victim = a if set(a.pids()) & {w._fp_actor.pid} else b
    other = b if victim is a else a
    pending = w.sleep(30)
    t0 = time.monotonic()
    victim.stop(signal.SIGKILL)  # the daemon only: its fork server and actors go with it
    with pytest.raises(ActorDiedError) as info:
        pending.result(timeout=20)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, f"noticed after {elapsed:.2f} s"
    text = str(info.value)  # names the host and the cause, and does not talk of stderr when the host is gone
    assert "lost with its host" in text and f"worker {victim.address}" in text and "stderr" not in text, text
    with pytest.raises(ActorDiedError):
        w.work(2).result(timeout=5)
    survivor = RemotePlain(3)  # placed on the live worker
    assert survivor.add() == 4 and set(other.pids()) & {survivor.pid()}


def test_a_lost_client_has_its_actors_ended_and_slots_freed(fresh, token_file):
    w = fresh(cpus=4)
    code = f"""
import os, sys, time
sys.path.insert(0, {TESTS!r})
import fastparl
fastparl.connect({w.address!r})
from _actors import RemotePlain
actors = [RemotePlain() for _ in range(3)]
print(" ".join(str(a.pid()) for a in actors), flush=True)
time.sleep(60)
"""
    env = dict(os.environ, FASTPARL_TOKEN_FILE=token_file, PYTHONPATH=ROOT)
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    pids = [int(p) for p in driver.stdout.readline().split()]
    assert len(pids) == 3 and all(alive(p) for p in pids)
    driver.kill()
    driver.wait()
    assert still_alive(pids, timeout=6) == []
    status = _status(w.address)
    assert status["free_cpus"] == 4 and [c for c in status["clients"] if c["name"] != "fastparl status"] == []


def test_a_restarted_worker_serves_new_clients(fresh):
    w = fresh()
    _connect(w)
    assert RemotePlain().add() == 1
    fastparl.disconnect()
    port = w.port
    w.stop(signal.SIGKILL)
    w2 = fresh(port=port)
    _connect(w2)
    assert RemotePlain(5).add() == 6


def test_malformed_frames_do_not_crash_the_worker(cluster, use_token, tmp_path):
    marker = tmp_path / "pwned"
    bomb = pickle.dumps(_Bomb(str(marker)))
    ctx = zmq.Context()
    rng = np.random.default_rng(0)
    s = None
    try:
        for i in range(3000):
            if i % 50 == 0:  # fewer than the worker queues per client (CLIENT_QUEUE): it drops the rest at close
                if s is not None:
                    s.close()
                s = ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 5000)  # closed every 50 messages: deliver what is queued first
                # past the gate (it holds the gate's ticket) but never through the HMAC handshake: what a
                # buggy client could send.  Strangers do not get this far: see test_attacks.py.
                plain_client(s, b"fastparl", ticket(load_token(), "worker"))
                s.connect(f"tcp://{cluster[0].address}")
            kind = i % 6
            if kind == 0:
                frames = [rng.bytes(int(rng.integers(0, 200)))]
            elif kind == 1:
                frames = [bomb]  # a pickle that would run code: must never be unpickled
            elif kind == 2:
                frames = [b'{"kind": "spawn", "actor": "x"}']  # not authenticated
            elif kind == 3:
                frames = [b'{"kind": "hello", "nonce": 5}', b"x", b"y"]  # wrong types, too many frames
            elif kind == 4:
                frames = [b'{"kind": "auth", "proof": "00"}']
            else:
                frames = [b"[1, 2"]  # truncated JSON
            s.send_multipart(frames)
        s.close()
    finally:
        ctx.term()
    assert cluster[0].proc.poll() is None, cluster[0].output()[-2000:]
    assert not marker.exists()
    _connect(cluster[0])
    try:
        assert RemotePlain(2).add() == 3
    finally:
        fastparl.disconnect()
    deadline = time.monotonic() + 20
    while _status(cluster[0].address)["rejected_messages"] < 3000:  # every one was read and refused
        assert time.monotonic() < deadline, _status(cluster[0].address)["rejected_messages"]
        time.sleep(0.2)


class _Bomb:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_hub_ignores_peers_that_do_not_authenticate(cluster, use_token, tmp_path):
    # strangers do not get past the hub's gate; test_attacks.py tries that.  Here a peer that holds the gate's
    # ticket of an actor the hub waits for (one spawned, not yet said hello) sends data instead of its hello.
    _connect(cluster[0])
    try:
        p = RemotePlain()
        assert p.add() == 1
        hub = fastparl.remote.current_backend().hub
        marker = tmp_path / "pwned"
        ctx = zmq.Context()
        rogue = ctx.socket(zmq.DEALER)
        rogue.setsockopt(zmq.LINGER, 0)
        ident = os.urandom(16)
        hub.expect(ident, "a-nonce")
        rogue.setsockopt(zmq.ROUTING_ID, ident)
        plain_client(rogue, ident.hex().encode(), ticket(load_token(), "actor", ident.hex(), "a-nonce"))
        rogue.connect(f"tcp://127.0.0.1:{hub.port}")
        before = hub.rejected
        for _ in range(20):
            rogue.send_multipart([b"\x01" + bytes(16), pickle.dumps(_Bomb(str(marker)))])
            rogue.send_multipart([HEADER.pack(1, 1) + pickle.dumps(_Bomb(str(marker)), 5)])  # a well-formed frame
        deadline = time.monotonic() + 5
        while hub.rejected < before + 40 and time.monotonic() < deadline:
            assert p.add() > 0  # the hub is read while we call
        rogue.close()
        ctx.term()
        hub.forget(ident, goodbye=False)
        assert hub.rejected >= before + 40
        assert not marker.exists()
        assert p.add() > 1
    finally:
        fastparl.disconnect()


def test_a_worker_on_this_host_uses_shared_memory(fresh):
    w = fresh(host_id=None)  # the real host id: the driver sees a worker on its own machine
    _connect(w)
    assert fastparl.remote.current_backend().capabilities.shared_memory
    p = RemotePlain()
    assert p.view_info(np.ones(1 << 20)) == (True, False)  # a view of shared memory, not a TCP copy
    s = fastparl.shared_array(8)
    p.fill(s, 2.0)
    assert (s == 2).all()
    assert _status(w.address)["free_cpus"] == 15  # the actor holds a slot of that worker


def test_shared_arrays_cannot_go_to_another_host(cluster, use_token):
    _connect(cluster[0])
    try:
        assert not fastparl.remote.current_backend().capabilities.shared_memory
        with pytest.raises(FastparlError, match="not possible on the 'zmq' backend"):
            fastparl.shared_array(4)
        from fastparl.remote.local.shm import shared_array

        p = RemotePlain()
        with pytest.raises(FastparlError, match=r"np.asarray\(arr\)"):
            p.fill(shared_array(4), 1.0)
        assert p.add() == 1  # the actor is unharmed
    finally:
        fastparl.disconnect()


def test_gpus_are_handed_out_per_host(fresh):
    a = fresh(gpus="0,1", cpus=4)
    b = fresh(cpus=4)
    _connect(a, b)
    Gpu = fastparl.remote_class(n_gpu=1)(Plain)
    g1, g2 = Gpu(), Gpu()
    assert sorted([g1.env("CUDA_VISIBLE_DEVICES"), g2.env("CUDA_VISIBLE_DEVICES")]) == ["0", "1"]
    with pytest.raises(ResourceError, match="GPU"):
        Gpu()
    assert RemotePlain().env("CUDA_VISIBLE_DEVICES") == ""  # n_gpu=0 hides GPUs, on any host


def test_max_memory_is_enforced_on_a_worker(cluster, use_token):
    _connect(cluster[0])
    try:
        Hog = fastparl.remote_class(max_memory=150)(Plain)
        hog = Hog()
        with pytest.raises(ResourceError, match="max_memory=150"):
            hog.allocate(400)
            time.sleep(1.0)
            hog.add()
        assert RemotePlain().add() == 1
    finally:
        fastparl.disconnect()


def test_output_comes_back_with_the_host_in_its_prefix(cluster, use_token, capsys):
    _connect(cluster[0])
    try:
        p = RemotePlain()
        p.say("from afar")
        pid = p.pid()
        deadline = time.monotonic() + 5
        out = ""
        while "from afar" not in out and time.monotonic() < deadline:
            time.sleep(0.05)
            out += capsys.readouterr().out
    finally:
        fastparl.disconnect()
    assert f"(Plain pid={pid} host=" in out and "from afar" in out


def test_distributed_files_reach_the_actors(cluster, use_token, tmp_path, monkeypatch):
    (tmp_path / "config.txt").write_text("shipped")
    monkeypatch.chdir(tmp_path)
    fastparl.disconnect()
    fastparl.connect(cluster[0].address, distributed_files=["config.txt"])
    try:
        Reader = fastparl.remote_class(_Reader)
        assert Reader().read("config.txt") == "shipped"
    finally:
        fastparl.disconnect()


def test_a_100_mb_distributed_file_travels_in_chunks(cluster, use_token, tmp_path, monkeypatch):
    import hashlib

    data = np.random.default_rng(0).bytes(100 << 20)
    (tmp_path / "weights.bin").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    fastparl.disconnect()
    fastparl.connect(cluster[0].address, distributed_files=["weights.bin"])
    try:
        Reader = fastparl.remote_class(_Reader)
        assert Reader().digest("weights.bin") == (len(data), hashlib.sha256(data).hexdigest())
    finally:
        fastparl.disconnect()


class _Reader:
    def read(self, name):
        with open(name) as f:
            return f.read()

    def digest(self, name):
        import hashlib

        with open(name, "rb") as f:
            data = f.read()
        return len(data), hashlib.sha256(data).hexdigest()


def _status(address):
    out = subprocess.run([sys.executable, "-m", "fastparl", "status", address, "--json"], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)[0]


def test_status_shows_slots_and_clients(cluster, use_token):
    _connect(cluster[0])
    try:
        actors = [RemotePlain() for _ in range(2)]
        assert [a.add() for a in actors] == [1, 1]
        st = _status(cluster[0].address)
        assert st["cpus"] == 16 and st["free_cpus"] == 14
        assert [c["actors"] for c in st["clients"] if c["actors"]] == [2]
        table = subprocess.run([sys.executable, "-m", "fastparl", "status", cluster[0].address], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, PYTHONPATH=ROOT)).stdout
        assert "CPU slots used/total" in table and "2/16" in table
    finally:
        fastparl.disconnect()
    unreachable = subprocess.run([sys.executable, "-m", "fastparl", "status", "127.0.0.1:1"], capture_output=True,
                                 text=True, timeout=30, env=dict(os.environ, PYTHONPATH=ROOT))
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stdout


def test_many_actors_across_four_workers_under_a_1024_descriptor_limit(fresh, token_file):
    workers = [fresh(cpus=60) for _ in range(4)]
    n = 200
    code = f"""
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
sys.path.insert(0, {TESTS!r})
import fastparl
fastparl.connect({",".join(w.address for w in workers)!r})
from _actors import RemotePlain
actors = [RemotePlain(i) for i in range({n})]
assert [a.add() for a in actors] == list(range(1, {n} + 1))
print(len(os.listdir("/proc/self/fd")), flush=True)
"""
    env = dict(os.environ, FASTPARL_TOKEN_FILE=token_file, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    fds = int(out.stdout.split()[-1])
    assert fds < 1.5 * n + 100, f"{fds} descriptors for {n} remote actors"


def test_curve_encrypted_workers_need_curve_clients(fresh):
    w = fresh(extra=("--curve",))
    fastparl.disconnect()
    with pytest.raises(ConnectionError, match="FASTPARL_CURVE=1"):
        fastparl.connect(w.address, connect_timeout=1.0)  # a plain client gets no answer at all
    fastparl.connect(w.address, curve=True)
    assert fastparl.remote.current_backend().hub is not None
    p = RemotePlain(4)
    assert p.add() == 5 and p.identity(np.arange(100_000)).sum() == np.arange(100_000).sum()


def test_parls_master_address_keyword(cluster, use_token):
    fastparl.disconnect()
    fastparl.connect(master_address=cluster[0].address, distributed_files=[])
    try:
        assert fastparl.remote.current_backend().name == "zmq"
        assert RemotePlain(1).add() == 2
    finally:
        fastparl.disconnect()
    with pytest.warns(UserWarning, match="no fastparl worker listens there"):
        fastparl.connect(master_address="localhost:1")  # nothing there: the local backend
    try:
        assert fastparl.remote.current_backend().name == "local"
    finally:
        fastparl.disconnect()


def test_learner_groups_are_refused_across_hosts_with_a_clear_error(cluster, use_token):
    from fastparl.learners.rendezvous import plan

    _connect(cluster[0])
    try:
        with pytest.raises(FastparlError, match="cannot be placed across worker hosts"):
            plan(2, use_gpu=False)
    finally:
        fastparl.disconnect()
    fastparl.connect("local")
    try:
        addr, port = fastparl.remote.current_backend().rendezvous(2)
        assert addr == "127.0.0.1" and 0 < port < 65536
    finally:
        fastparl.disconnect()


def test_output_an_actor_wrote_before_returning_comes_before_the_driver_s_next_print(cluster, use_token, capfd):
    _connect(cluster[0])  # another host for the driver: the actor's output comes through the worker
    try:
        p = RemotePlain()
        for k in range(5):
            p.say("\n".join(f"c{k} {i}" for i in range(200)))
            print(f"MARK {k}", flush=True)
        out = capfd.readouterr().out
    finally:
        fastparl.disconnect()
    for k in range(5):
        head = out.split(f"MARK {k}\n")[0]
        assert all(f") c{k} {i}\n" in head for i in range(200)), f"call {k}: lines after the marker"


def test_a_remote_actor_s_output_can_go_to_a_log_file_on_the_driver(cluster, use_token, capfd, tmp_path):
    _connect(cluster[0], log_to_driver="file", log_dir=str(tmp_path))
    try:
        p = RemotePlain()
        p.say("kept off the terminal")
        pid = p.pid()
    finally:
        fastparl.disconnect()
    assert "kept off the terminal" not in capfd.readouterr().out
    (name,) = [n for n in os.listdir(tmp_path) if n != "hosts.json"]  # hosts.json: `fastparl status --driver`
    assert name.startswith("Plain-") and name.endswith(f"-{pid}.log"), name  # Class-host-pid.log
    lines = (tmp_path / name).read_text().splitlines()  # stdout and stderr, in one file
    assert sorted(lines) == ["err:kept off the terminal", "kept off the terminal"], lines


def test_four_actors_on_two_workers_of_four_slots_land_two_and_two(fresh):
    a, b = fresh(cpus=4), fresh(cpus=4)
    _connect(a, b)
    backend = fastparl.remote.current_backend()
    try:
        for run in range(50):
            deadline = time.monotonic() + 10
            while [h["free_cpus"] for h in backend.hosts()] != [4, 4]:  # the last run's actors have ended
                assert time.monotonic() < deadline, backend.hosts()
                time.sleep(0.02)
            actors = [RemotePlain() for _ in range(4)]
            pids = {act.pid() for act in actors}
            on_a = len(pids & set(a.pids()))
            assert (on_a, len(pids) - on_a) == (2, 2), f"run {run}: {on_a} + {len(pids) - on_a}"
            for act in actors:
                fastparl.kill(act)
    finally:
        fastparl.disconnect()


_CHATTY_DRIVER = """
import sys, time
sys.path.insert(0, {tests!r})
import fastparl
fastparl.connect({address!r})

@fastparl.remote_class(wait=False)
class Chatty:
    def shout(self, n):
        for i in range(n):
            print(f"line {{i}}", flush=(i % 1000 == 0))
        return n

from _actors import RemotePlain
quiet = RemotePlain()
chatty = Chatty()
done = chatty.shout({lines})
t0 = time.monotonic()
x = 0
while time.monotonic() - t0 < 4.0:  # the driver is busy in Python meanwhile
    x += 1
assert done.result(timeout=120) == {lines}
assert quiet.add() == 1, "the quiet actor beside the chatty one must survive"
time.sleep(1.0)
fastparl.disconnect()
print("DRIVER DONE", flush=True)
"""


def test_heavy_output_with_a_busy_driver_costs_no_actor_and_no_line(fresh, token_file, tmp_path):
    w = fresh(cpus=4)
    lines = 300_000
    out = tmp_path / "driver.out"
    env = dict(os.environ, FASTPARL_TOKEN_FILE=token_file, PYTHONPATH=ROOT, FASTPARL_HOST_TIMEOUT="3")
    with open(out, "w") as f:
        driver = subprocess.run([sys.executable, "-c", _CHATTY_DRIVER.format(tests=TESTS, address=w.address,
                                                                            lines=lines)],
                                stdout=f, stderr=subprocess.STDOUT, env=env, timeout=240)
    text = out.read_text()
    assert driver.returncode == 0 and "DRIVER DONE" in text, text[-3000:]
    got = {int(m) for m in re.findall(r"line (\d+)$", text, re.M)}
    assert len(got) == lines, f"{lines - len(got)} of {lines} lines lost"


class _Cuttable:
    def sleep(self, s):
        time.sleep(s)
        return s

    def cut_later(self, port, after):
        """Shut this actor's TCP connection to its driver down from inside, ``after`` s from now."""
        import socket
        import threading

        import psutil

        def cut():
            time.sleep(after)
            for c in psutil.Process().net_connections(kind="tcp"):
                if c.raddr and c.raddr.port == port:
                    s = socket.socket(fileno=os.dup(c.fd))
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()

        threading.Thread(target=cut, daemon=True).start()
        return True


def test_a_reset_actor_connection_never_hangs_a_call(cluster, use_token):
    """A connection re-made under a live actor (a TCP reset, not a partition): calls end, served or failed."""
    _connect(cluster[0])
    try:
        a = fastparl.remote_class(wait=False)(_Cuttable)()
        hub = fastparl.remote.current_backend().hub.port
        assert a.sleep(0).result(timeout=10) == 0
        assert a.cut_later(hub, 0.3).result(timeout=10)
        futures, t0 = [], time.monotonic()
        while time.monotonic() - t0 < 1.0:
            try:
                futures.append(a.sleep(0.0))
            except ActorDiedError:
                break
            time.sleep(0.002)
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result(timeout=10))  # a FutureTimeoutError here is the hang this guards
            except ActorDiedError as e:
                outcomes.append(e)
        died = [o for o in outcomes if isinstance(o, ActorDiedError)]
        assert all(o == 0.0 for o in outcomes if not isinstance(o, ActorDiedError))
        assert not died or "lost its connection to this driver" in str(died[0]), died[0]
    finally:
        fastparl.disconnect()
