"""`fastparl status`: each client with its own id and name, the query not among them, messages wrapped,
and the memory fields (rss_mb, same_host_actors, mem_available_mb) measured, not made up."""

import os
import subprocess
import sys
import threading
import time

import psutil
import zmq
from _cluster import ROOT, WorkerProc
from _procs import still_alive

import fastparl
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.control import handshake
from fastparl.remote.zmq.status import MESSAGE_WIDTH, format_table, query
from fastparl.remote.zmq.wire import encode_control

from _actors import RemotePlain  # noqa: I001


class _Clients:
    """Raw control sessions with chosen names, kept alive by pings (the worker forgets a silent client in 2 s)."""

    def __init__(self, address, names):
        self.ctx = zmq.Context()
        self.links = [handshake(self.ctx, address, auth.load_token(), 10.0, name=n) for n in names]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._ping, daemon=True)
        self.thread.start()

    def _ping(self):
        while not self.stop.wait(0.2):
            with self.lock:
                for sock, welcome in self.links:
                    sock.send_multipart(welcome["_session"].seal(lambda seq: encode_control("ping", seq=seq)))

    def close(self):
        self.stop.set()
        self.thread.join()
        for sock, welcome in self.links:
            sock.send_multipart(welcome["_session"].seal(lambda seq: encode_control("bye", seq=seq)))
            sock.close(linger=200)
        self.ctx.term()


def _mine(st):
    """Our driver's entry among a status' clients: named 'pid N', with actors (an earlier connection of this
    process may still be listed until the worker forgets it)."""
    rows = [c for c in st["clients"] if c["name"] == f"pid {os.getpid()}" and c["actors"] + c["same_host_actors"]]
    assert len(rows) == 1, st["clients"]
    return rows[0]


def test_each_client_is_shown_with_its_own_id_and_name_and_the_query_is_not_a_client(cluster, use_token):
    clients = _Clients(cluster[1].address, ["alice's training run", "bob's sweep"])
    try:
        st = query(cluster[1].address, timeout=10)
        assert "error" not in st, st
        named = {c["name"]: c for c in st["clients"]}
        assert {"alice's training run", "bob's sweep"} <= set(named)
        assert "fastparl status" not in named, "the status query listed itself as a client"
        ids = [c["client"] for c in st["clients"]]
        assert len(set(ids)) == len(ids), ids
        alice, bob = named["alice's training run"]["client"], named["bob's sweep"]["client"]
        assert alice != bob and len(alice) >= 12 and not alice.startswith("00") and not bob.startswith("00")
        # each id is a prefix of that client's own 16-byte routing id, not a prefix libzmq shares
        own = {sock.getsockopt(zmq.ROUTING_ID).hex() for sock, _ in clients.links}
        assert all(any(o.startswith(i) for o in own) for i in (alice, bob)), (own, alice, bob)

        table = subprocess.run([sys.executable, "-m", "fastparl", "status", cluster[1].address], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, PYTHONPATH=ROOT)).stdout
        for i, name in ((alice, "alice's training run"), (bob, "bob's sweep")):
            assert any(f"client {i}" in line and name in line for line in table.splitlines()), table
        assert "fastparl status" not in table, table
    finally:
        clients.close()


def test_a_long_message_wraps_at_word_boundaries():
    words = [f"word{i:03d}" for i in range(40)] + ["FASTPARL_TOKEN_FILE=/a/rather/long/path/to/the/token"]
    message = " ".join(words)
    table = format_table([{"address": "127.0.0.1:1", "error": message}])
    lines = table.splitlines()
    col = lines[0].index("mem avail/total MB")
    cells = [line[col:] for line in lines[1:]]
    assert len(cells) >= 3, table  # wrapped, not cut
    assert all(len(cell) <= max(MESSAGE_WIDTH, len(words[-1])) for cell in cells), table
    assert " ".join(" ".join(cells).split()) == message, "a word was cut or lost"
    for cell in cells:  # every line holds whole words only
        assert all(w in words for w in cell.split()), cell
    assert all(not line[:col].strip() for line in lines[2:]), "continuation lines leave the other columns empty"


def test_rss_mb_is_the_actors_memory_and_grows_with_them(cluster, use_token):
    fastparl.disconnect()
    fastparl.connect(cluster[0].address)
    try:
        p = RemotePlain()
        p.add()
        before = _mine(query(cluster[0].address, timeout=10))
        assert before["actors"] == 1 and before["same_host_actors"] == 0
        actual = psutil.Process(p.pid()).memory_info().rss / 2**20
        assert 1 < before["rss_mb"] and abs(before["rss_mb"] - actual) < max(20, actual * 0.3), (before, actual)
        assert p.allocate(200) == 200 * 2**20
        after = _mine(query(cluster[0].address, timeout=10))
        assert 150 < after["rss_mb"] - before["rss_mb"] < 300, (before, after)
        q = RemotePlain()
        q.add()
        two = _mine(query(cluster[0].address, timeout=10))
        extra = psutil.Process(q.pid()).memory_info().rss / 2**20
        assert two["actors"] == 2
        assert abs(two["rss_mb"] - after["rss_mb"] - extra) < max(20, extra * 0.3), (after, two, extra)
    finally:
        fastparl.disconnect()


def test_same_host_actors_counts_a_same_host_clients_actors(token_file, use_token, tmp_path):
    w = WorkerProc(token_file, host_id=None, log_dir=str(tmp_path))  # the driver's own host: shared memory
    try:
        fastparl.disconnect()
        fastparl.connect(w.address)
        actors = [RemotePlain() for _ in range(3)]
        assert [a.add() for a in actors] == [1, 1, 1]
        mine = _mine(query(w.address, timeout=10))
        assert mine["same_host_actors"] == 3 and mine["actors"] == 0, mine
        fastparl.kill(actors[0])
        deadline = time.monotonic() + 10
        while _mine(query(w.address, timeout=10))["same_host_actors"] != 2:
            assert time.monotonic() < deadline, query(w.address, timeout=10)
            time.sleep(0.1)
    finally:
        fastparl.disconnect()
        pids = w.pids()
        w.stop()
        assert still_alive(pids) == []


def test_mem_available_mb_is_the_hosts_available_memory(cluster, use_token):
    st = query(cluster[0].address, timeout=10)
    vm = psutil.virtual_memory()
    assert 0 < st["mem_available_mb"] <= st["mem_total_mb"] == round(vm.total / 2**20)
    assert abs(st["mem_available_mb"] - vm.available / 2**20) < vm.total / 2**20 * 0.1, (st, vm)


def test_the_worker_says_in_its_log_when_it_created_the_token_file(tmp_path, monkeypatch):
    path = tmp_path / "new" / "token"
    w = WorkerProc(str(path), log_dir=str(tmp_path))
    try:
        assert path.exists() and path.stat().st_mode & 0o777 == 0o600
        with open(w.log) as f:
            assert f"created the token file {path}" in f.read()
    finally:
        assert w.stop() == 0
    w = WorkerProc(str(path), log_dir=str(tmp_path))  # the second start finds it: no such line
    try:
        with open(w.log) as f:
            assert "created the token file" not in f.read()
    finally:
        assert w.stop() == 0


def test_refused_logins_are_logged_rate_limited(token_file, use_token, monkeypatch, tmp_path):
    w = WorkerProc(token_file, log_dir=str(tmp_path))
    try:
        monkeypatch.setenv("FASTPARL_TOKEN", "not-the-token")
        for _ in range(30):
            st = query(w.address, timeout=5)
            assert "error" in st and "token" in st["error"], st
        time.sleep(0.3)
        with open(w.log) as f:
            log = f.read()
        refusals = [line for line in log.splitlines() if "refused a connection" in line]
        assert len(refusals) == 1 and "without the token" in refusals[0], log  # 30 refusals, one line per 10 s
    finally:
        assert w.stop() == 0
