"""``fastparl worker``: the daemon that runs actors on one host for the drivers that connect to it.

It places and controls actors only: every message it reads is JSON (see :mod:`.wire`), checked
field by field, and nothing is unpickled, ever.  Only token holders get past the ZeroMQ handshake
(:mod:`.gate`), and a client is served only after the mutual HMAC handshake of :mod:`.auth`.
Malformed input is rejected, and what it writes to the log is rate-limited (:mod:`.limits`).  Actors are forked by the worker's own fork server (the local backend's,
with ZeroMQ preloaded), so one starts in milliseconds; each connects straight to its driver's hub,
so calls do not pass through the daemon.

Each client pings every 0.3 s; a client silent for its host timeout (``FASTPARL_HOST_TIMEOUT``, which
the client states in its hello: see :mod:`.liveness`) is gone and its actors are ended and their
slots freed; a client that comes back in time keeps them.  A new session of the same driver (it
re-admits a worker it had given up) replaces the old one at once.  Actors' output and exits go back
to their client as control messages, in order and never dropped: what a client has not taken yet
is held (up to ``OUTPUT_BUDGET`` bytes), and beyond that the worker stops reading its actors'
output, so that actors that print wait until the client catches up.  SIGTERM (and SIGINT) end
every actor and exit cleanly.
"""

from __future__ import annotations

import collections
import hmac
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field as dc_field
from typing import Any

import psutil
import zmq

from fastparl.errors import FastparlError
from fastparl.remote.local.backend import LocalBackend
from fastparl.remote.system.processes import killpg
from fastparl.remote.protocol import SPAWN
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.gate import Gate, ticket
from fastparl.remote.zmq.limits import Throttle
from fastparl.remote.zmq.liveness import MAX_TIMEOUT, MIN_TIMEOUT, PING_INTERVAL, host_timeout
from fastparl.remote.zmq.wire import BadMessage, decode_control, encode_control, field
from fastparl.remote.system import portable

__all__ = ["Worker", "host_id", "PING_INTERVAL", "OUTPUT_BUDGET"]

CLOSED_GRACE = 0.5  # s a client whose connection closed may take to speak again (on a new one) before it is gone
OUTPUT_BUDGET = 32 << 20  # bytes of actors' output held for slow clients before actors must wait
CLIENT_QUEUE = 64  # messages a client may have queued at the worker
MAX_FILE_BYTES = 16 << 30  # one distributed file; it travels in FILE_CHUNK_BYTES chunks
log = logging.getLogger("fastparl.worker")


def host_id() -> str:
    """Identifies this machine (and kernel boot), so that a driver can tell a worker on its own host.
    ``FASTPARL_HOST_ID`` overrides it (tests make loopback workers behave as other hosts with it)."""
    forced = os.environ.get("FASTPARL_HOST_ID")
    if forced:
        return forced
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


@dataclass
class _Actor:
    identity: str
    pid: int
    client: bytes
    cls_name: str
    gpus: list[str]
    pidfd: int = -1
    reason: str = ""  # why we ended it, if we did
    shim: Any = None  # what the memory watcher holds (weakly) for it


@dataclass
class _Client:
    identity: bytes
    stage: str  # "challenged" -> "authenticated"
    nonce: str = ""
    client_nonce: str = ""
    last_seen: float = dc_field(default_factory=time.monotonic)
    actors: set[str] = dc_field(default_factory=set)
    reserved: dict[str, list[str]] = dc_field(default_factory=dict)  # same-host actors: id -> GPUs
    files_dir: str = ""
    name: str = ""
    key: bytes = b""  # the session's key, from the handshake (see auth.Session)
    seq: int = 0  # the last sequence number seen
    observer: bool = False  # `fastparl status`: not listed among the clients
    timeout: float = 20.0  # silence after which the client is gone (its FASTPARL_HOST_TIMEOUT)
    driver: str = ""  # names the driver across its sessions
    out: collections.deque = dc_field(default_factory=collections.deque)  # (frames, output bytes) not yet sent
    fd: int = -1  # the descriptor its messages came in on
    closed_at: float = 0.0  # when a connection on that descriptor closed (it is gone unless it speaks again)

    @property
    def short_id(self) -> str:
        """12 hex digits of the 16-byte routing id (random per connection: see .gate), as logged and shown."""
        return self.identity.hex()[:12]


class Worker:
    """One daemon.  ``run()`` serves until SIGTERM/SIGINT (or :meth:`stop`)."""

    def __init__(self, port: int, cpus: int, gpus: list[str] | None = None, host: str = "127.0.0.1",
                 curve: bool = False):
        if cpus < 1:
            raise ValueError(f"--cpus must be at least 1, got {cpus}")
        self.token = auth.ensure_token()
        self.timeout = host_timeout()  # for clients that do not state theirs
        self.cpus = cpus
        self.gpus = list(gpus or [])
        self.free_gpus = list(self.gpus)
        self.host = host
        self.host_id = host_id()
        self.ctx = zmq.Context()
        self.ctx.setsockopt(zmq.LINGER, 0)
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.curve = curve
        if curve:  # encrypted: clients must connect with FASTPARL_CURVE=1
            auth.curve_server(self.sock, self.token, "worker")
        # Only token holders get past the ZeroMQ handshake (see .gate): strangers cannot send a byte.
        self._ticket = ticket(self.token, "worker")
        self._closed_fds: collections.deque[int] = collections.deque()  # from the gate's thread
        self.gate = Gate(self.ctx, lambda user, password: hmac.compare_digest(password, self._ticket),
                         "the worker", on_closed=self._connection_closed)
        self.gate.serve(self.sock, curve)
        self.throttle = Throttle(log, 10.0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a full queue to a client says so: nothing is dropped
        # What a token holder can make us hold: RCVHWM messages of at most 2 frames of MAX_FRAME_BYTES each
        # (~136 MB); beyond that libzmq stops reading its connection (TCP flow control), it loses nothing.
        self.sock.setsockopt(zmq.RCVHWM, CLIENT_QUEUE)
        self.sock.bind(f"tcp://{host}:{port or '*'}")  # port 0: any free port (logged at start)
        self.port = int(self.sock.getsockopt_string(zmq.LAST_ENDPOINT).rpartition(":")[2])
        self.clients: dict[bytes, _Client] = {}
        self.actors: dict[str, _Actor] = {}
        self.by_pid: dict[int, _Actor] = {}
        self.outbox: list[tuple[bytes, list[bytes], int]] = []  # output from the reader thread, for the loop
        self._outbox_lock = threading.Lock()
        self._outbox_cv = threading.Condition(self._outbox_lock)
        self._queued_output = 0  # bytes of output in outbox and in clients' queues
        self._wake_r, self._wake_w = portable.pipe(nonblocking=True)
        self._stop = False
        self.bad_messages = 0
        self.workdir = tempfile.mkdtemp(prefix=f"fastparl-worker-{self.port}-")
        os.environ["FASTPARL_FORKSERVER_PRELOAD"] = "zmq,fastparl.remote.zmq.host"
        self.local = LocalBackend(log_to_driver=True, gpus=[])
        self.local.monitor.sink = self._output  # actors' output goes to their client, not to our stdout
        self.started = time.time()

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        log.info("fastparl worker on %s:%d, %d CPU slot(s), GPUs %s, host id %s, pid %d%s", self.host, self.port,
                 self.cpus, self.gpus or "none", self.host_id, os.getpid(), ", CurveZMQ" if self.curve else "")
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            while not self._stop:
                pidfds = {a.pidfd: a for a in self.actors.values() if a.pidfd >= 0}
                for fd in pidfds:
                    poller.register(fd, zmq.POLLIN)
                try:
                    backlog = any(c.out for c in self.clients.values())  # a full queue is retried soon
                    events = dict(poller.poll(10 if backlog else int(PING_INTERVAL * 1000)))
                finally:
                    for fd in pidfds:
                        poller.unregister(fd)
                if self._wake_r in events:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                for fd, a in pidfds.items():
                    if fd in events:
                        self._actor_exited(a)
                while int(self.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                    frames = self.sock.recv_multipart(copy=False)
                    try:
                        fd = int(frames[-1].get(zmq.SRCFD))
                    except (zmq.ZMQError, ValueError, TypeError):
                        fd = -1
                    self._handle([f.bytes for f in frames], fd)
                self._flush_outbox()
                self._check_clients()
        finally:
            self.shutdown()

    def stop(self) -> None:
        self._stop = True
        with self._outbox_cv:
            self._outbox_cv.notify_all()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def shutdown(self) -> None:
        log.info("stopping: ending %d actor(s)", len(self.actors))
        for cid in list(self.clients):
            self._drop_client(cid, "the worker is stopping", notify=True)
        self._flush_outbox()
        self.local.shutdown()
        self.sock.close(linger=500)
        self.gate.close()
        self.ctx.term()
        shutil.rmtree(self.workdir, ignore_errors=True)
        log.info("stopped")

    # ------------------------------------------------------------------ messages
    def _send(self, client: bytes, kind: str, raw: bytes | None = None, **fields: Any) -> None:
        """Queue a message to a client (sent in order by the loop); to anyone else, send it or drop it."""
        frames = [client, *encode_control(kind, raw, **fields)]
        c = self.clients.get(client)
        if c is not None:
            self._drain_outbox()  # after the output its actors wrote before
            c.out.append((frames, 0))
            return
        try:
            self.sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # not a client: not waited for

    def _connection_closed(self, fd: int) -> None:
        """(The gate's thread.)  A connection closed: its client is gone unless it speaks again."""
        self._closed_fds.append(fd)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _handle(self, frames: list[Any], fd: int = -1) -> None:
        ident, rest = frames[0], frames[1:]
        try:
            c = self.clients.get(ident)
            if c is not None:
                c.fd = fd
            if c is not None and c.stage == "authenticated":
                # The session is bound to the handshake, not to the routing id: every message carries the
                # session's MAC and a sequence number above the last (a replay is dropped).  A peer that
                # took the id of a dropped client is not served, and gets no answer (it might be the client).
                opened = auth.unseal(c.key, rest)
                msg, raw = decode_control(opened) if opened is not None else ({}, None)
                seq = msg.get("seq")
                if opened is None or not isinstance(seq, int) or isinstance(seq, bool) or seq <= c.seq:
                    self.bad_messages += 1
                    self.throttle.warn("unsealed", "dropped a message for client %s without its session's MAC "
                                       "(or replayed); %d bad messages so far", ident.hex()[:12], self.bad_messages)
                    return
                c.seq = seq
                c.last_seen = time.monotonic()
                kind = msg["kind"]
                handler = getattr(self, f"_on_{kind.replace('-', '_')}", None)
                if handler is None:
                    raise BadMessage(f"unknown kind {kind!r}")
                handler(c, msg, raw)
                return
            msg, raw = decode_control(rest)
            kind = msg["kind"]
            if kind == "hello":
                self._hello(ident, msg)
            elif kind == "auth":
                self._auth(ident, msg)
            else:
                self.bad_messages += 1
                self._send(ident, "denied", reason="not authenticated: say hello first")
        except BadMessage as e:
            self.bad_messages += 1
            self.throttle.warn("malformed", "rejected a malformed message (%s); %d so far", e, self.bad_messages)
            self._send(ident, "error", message=f"malformed message: {e}", req=None)
        except Exception as e:  # noqa: BLE001 - a bug must not take the daemon down with everyone's actors
            self.bad_messages += 1
            self.throttle.warn(f"internal-{type(e).__name__}", "error while handling a message", exc_info=True)
            self._send(ident, "error", message="internal error in the worker (see its log)", req=None)

    def _hello(self, ident: bytes, msg: dict[str, Any]) -> None:
        client_nonce = field(msg, "nonce", str)[:128]
        timeout = msg.get("timeout")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            timeout = self.timeout
        c = _Client(ident, "challenged", nonce=auth.nonce(), client_nonce=client_nonce,
                    name=str(msg.get("name", ""))[:200], observer=msg.get("observer") is True,
                    timeout=min(max(float(timeout), MIN_TIMEOUT), MAX_TIMEOUT), driver=str(msg.get("driver", ""))[:64])
        if len(self.clients) > 10_000:  # half-open handshakes must not grow without bound
            self._check_clients(force_stale=True)
        self.clients[ident] = c
        self._send(ident, "challenge", nonce=c.nonce,
                   proof=auth.proof(self.token, "worker", client_nonce, c.nonce))

    def _auth(self, ident: bytes, msg: dict[str, Any]) -> None:
        c = self.clients.get(ident)
        if c is None or c.stage != "challenged":
            raise BadMessage("auth without hello")
        if not auth.check(self.token, msg.get("proof"), "client", c.nonce, c.client_nonce):
            del self.clients[ident]
            self.bad_messages += 1
            self.throttle.warn("wrong-token", "refused a client with a wrong token (%d bad messages so far)",
                               self.bad_messages)
            self._send(ident, "denied", reason="wrong token")
            return
        c.stage = "authenticated"
        c.key = auth.session_key(self.token, c.client_nonce, c.nonce)
        c.last_seen = time.monotonic()
        c.files_dir = tempfile.mkdtemp(prefix="client-", dir=self.workdir)
        (log.debug if c.observer else log.info)("client %s connected (%s)", c.short_id, c.name)
        for other in [o for o in self.clients.values() if c.driver and o.driver == c.driver and o is not c]:
            self._drop_client(other.identity, f"replaced by a new session of the same driver ({c.short_id})")
        self._send(ident, "welcome", **self._summary(), files_dir=c.files_dir)

    def _summary(self) -> dict[str, Any]:
        used = sum(len(c.actors) + len(c.reserved) for c in self.clients.values())
        return {"host": socket.gethostname(), "host_id": self.host_id, "cpus": self.cpus, "free_cpus": self.cpus - used,
                "gpus": self.gpus, "free_gpus": list(self.free_gpus), "pid": os.getpid(), "port": self.port}

    def _on_ping(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        self._send(c.identity, "pong", free_cpus=self._summary()["free_cpus"])

    def _take_slot(self, c: _Client, n_gpu: int, req: Any) -> list[str] | None:
        if self._summary()["free_cpus"] < 1:
            self._send(c.identity, "error", req=req, code="no-slot",
                       message=f"all {self.cpus} CPU slots of worker {socket.gethostname()}:{self.port} are in use")
            return None
        if n_gpu > len(self.free_gpus):
            self._send(c.identity, "error", req=req, code="no-gpu",
                       message=f"worker {socket.gethostname()}:{self.port} has {len(self.free_gpus)} free GPU(s) "
                               f"of {len(self.gpus)}; {n_gpu} asked")
            return None
        gpus, self.free_gpus = self.free_gpus[:n_gpu], self.free_gpus[n_gpu:]
        return gpus

    def _on_spawn(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        req = msg.get("req")
        actor_id = field(msg, "actor", str)
        endpoint = field(msg, "endpoint", str)
        nonce = field(msg, "nonce", str)
        cls_name = str(msg.get("cls", "?"))[:200]
        n_gpu = int(msg.get("n_gpu") or 0)
        if not endpoint.startswith("tcp://") or len(actor_id) != 32 or actor_id in self.actors or n_gpu < 0:
            raise BadMessage("bad spawn request")
        gpus = self._take_slot(c, n_gpu, req)
        if gpus is None:
            return
        spawn = {"zmq": {"endpoint": endpoint, "identity": actor_id, "nonce": nonce, "token": self.token.decode(),
                         "curve": bool(msg.get("curve"))},
                 "overrides": {"CUDA_VISIBLE_DEVICES": ",".join(gpus)}, "cwd": c.files_dir, "nfds": 0,
                 "env": dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [c.files_dir,
                                                                                 os.environ.get("PYTHONPATH")])))}
        try:
            pid = int(self.local._request(SPAWN, spawn))
        except FastparlError as e:
            self.free_gpus.extend(gpus)
            self._send(c.identity, "error", req=req, message=f"could not start the actor: {e}")
            return
        a = _Actor(actor_id, pid, c.identity, cls_name, gpus)
        try:
            a.pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            a.pidfd = -1  # exits are then found by the periodic check
        self.actors[actor_id] = a
        self.by_pid[pid] = a
        c.actors.add(actor_id)
        max_memory = msg.get("max_memory")
        a.shim = _MemoryShim(self, a)
        self.local.monitor.add_actor(a.shim, pid, "", float(max_memory) if max_memory else None)
        self._send(c.identity, "spawned", req=req, pid=pid, gpus=gpus, host=socket.gethostname())

    def _on_kill(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        a = self.actors.get(field(msg, "actor", str))
        if a is not None and a.client == c.identity:
            a.reason = a.reason or "killed"
            killpg(a.pid)

    def _on_reserve(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        actor_id = field(msg, "actor", str)
        gpus = self._take_slot(c, int(msg.get("n_gpu") or 0), msg.get("req"))
        if gpus is not None:
            c.reserved[actor_id] = gpus
            self._send(c.identity, "reserved", req=msg.get("req"), gpus=gpus)

    def _on_unreserve(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        self.free_gpus.extend(c.reserved.pop(field(msg, "actor", str), []))

    def _on_file(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        """One chunk of a ``distributed_files`` file, at ``offset`` (0 starts the file; chunks come in order)."""
        name = os.path.normpath(field(msg, "name", str))
        offset = field(msg, "offset", int) if "offset" in msg else 0
        if name.startswith(("/", "..")) or raw is None:
            raise BadMessage(f"bad file name {name!r}")
        if offset < 0 or offset + len(raw) > MAX_FILE_BYTES:
            raise BadMessage(f"file {name!r} would exceed {MAX_FILE_BYTES >> 20} MiB")
        path = os.path.join(c.files_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if offset and (not os.path.isfile(path) or os.path.getsize(path) != offset):
            raise BadMessage(f"chunk of {name!r} at {offset} out of order")
        with open(path, "r+b" if offset else "wb") as f:
            f.seek(offset)
            f.write(raw)
        self._send(c.identity, "ok", req=msg.get("req"))

    def _on_status(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        self._send(c.identity, "status", req=msg.get("req"), **self.status())

    def _on_bye(self, c: _Client, msg: dict[str, Any], raw: bytes | None) -> None:
        self._drop_client(c.identity, "the client disconnected")

    def status(self) -> dict[str, Any]:
        clients = []
        for c in self.clients.values():
            if c.stage != "authenticated" or c.observer and not (c.actors or c.reserved):
                continue  # `fastparl status` itself is not a client (unless it holds actors)
            rss = 0
            for actor_id in c.actors:
                try:
                    rss += psutil.Process(self.actors[actor_id].pid).memory_info().rss
                except (psutil.Error, KeyError):
                    pass
            clients.append({"client": c.short_id, "name": c.name, "actors": len(c.actors),
                            "same_host_actors": len(c.reserved), "rss_mb": round(rss / 2**20, 1)})
        vm = psutil.virtual_memory()
        return {**self._summary(), "clients": clients, "mem_total_mb": round(vm.total / 2**20),
                "mem_available_mb": round(vm.available / 2**20), "uptime_s": round(time.time() - self.started, 1),
                "rejected_messages": self.bad_messages}

    # ------------------------------------------------------------------ actors and clients
    def _actor_exited(self, a: _Actor) -> None:
        if self.actors.pop(a.identity, None) is None:
            return
        if a.pidfd >= 0:
            os.close(a.pidfd)
        code = self.local.exit_code(a.pid, wait=1.0)
        tail = self.local.monitor.stderr_tail(a.pid, wait=0.5)  # its last output is forwarded by now
        self.by_pid.pop(a.pid, None)
        self.local.monitor.forget(a.pid)
        self.free_gpus.extend(a.gpus)
        c = self.clients.get(a.client)
        if c is not None:
            c.actors.discard(a.identity)
            self._send(c.identity, "exited", actor=a.identity, code=code, tail=tail, reason=a.reason)

    def _check_clients(self, force_stale: bool = False) -> None:
        now = time.monotonic()
        while self._closed_fds:
            fd = self._closed_fds.popleft()
            for c in self.clients.values():
                if c.fd == fd and fd >= 0:
                    c.closed_at = now
        for ident, c in list(self.clients.items()):
            if c.closed_at and c.last_seen < c.closed_at and now - c.closed_at > CLOSED_GRACE:
                self._drop_client(ident, "its connection closed (the driver process ended)")
                continue
            timeout = c.timeout if c.stage == "authenticated" else 10.0
            if now - c.last_seen > timeout or force_stale and c.stage != "authenticated":
                self._drop_client(ident, f"no word from the client for {now - c.last_seen:.1f} s")
        for a in list(self.actors.values()):  # without pidfds: notice exits by polling
            if a.pidfd < 0 and self.local.exit_code(a.pid, wait=0) is not None:
                self._actor_exited(a)

    def _drop_client(self, ident: bytes, why: str, notify: bool = False) -> None:
        c = self.clients.pop(ident, None)
        if c is None:
            return
        if c.stage == "authenticated":
            (log.debug if c.observer and not c.actors else log.info)(
                "client %s gone (%s): ending %d actor(s)", c.short_id, why, len(c.actors))
        for actor_id in list(c.actors):
            a = self.actors.pop(actor_id, None)
            if a is not None:
                self.by_pid.pop(a.pid, None)
                killpg(a.pid)
                if a.pidfd >= 0:
                    os.close(a.pidfd)
                self.free_gpus.extend(a.gpus)
                if notify:  # after what is queued for it, best effort: we are stopping
                    c.out.append(([ident, *encode_control("exited", actor=actor_id, code=None, tail="",
                                                          reason=why)], 0))
        if notify:
            self._send_queued(c, wait=True)
        dropped = sum(n for _, n in c.out)
        c.out.clear()
        if dropped:
            self._output_sent(dropped)
        for gpus in c.reserved.values():
            self.free_gpus.extend(gpus)
        if c.files_dir:
            shutil.rmtree(c.files_dir, ignore_errors=True)

    # ------------------------------------------------------------------ output
    def _output(self, pid: Any, stream: int, data: bytes) -> None:
        """Called by the fork server's output reader (another thread): queue for the client.  Waits while
        ``OUTPUT_BUDGET`` bytes are held for clients: the reader stops, and actors that print wait."""
        a = self.by_pid.get(pid)
        if a is None:
            return
        frames = [a.client, *encode_control("output", data, actor=a.identity, stream=stream)]
        with self._outbox_cv:
            while self._queued_output > OUTPUT_BUDGET and not self._stop and a.identity in self.actors:
                self._outbox_cv.wait(0.5)
            self.outbox.append((a.client, frames, len(data)))
            self._queued_output += len(data)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _output_sent(self, n: int) -> None:
        with self._outbox_cv:
            self._queued_output -= n
            self._outbox_cv.notify_all()

    def _flush_outbox(self) -> None:
        self._drain_outbox()
        for c in list(self.clients.values()):
            if c.out:
                self._send_queued(c)

    def _drain_outbox(self) -> None:
        """Move the reader thread's output into its clients' queues."""
        with self._outbox_lock:
            box, self.outbox = self.outbox, []
        lost = 0
        for client, frames, n in box:
            c = self.clients.get(client)
            if c is None:
                lost += n  # its client is gone: nobody to tell
            else:
                c.out.append((frames, n))
        if lost:
            self._output_sent(lost)

    def _send_queued(self, c: _Client, wait: bool = False) -> None:
        """Send what is queued for ``c``, in order, until its ZeroMQ queue is full (the rest waits)."""
        sent = 0
        deadline = time.monotonic() + 0.5
        while c.out:
            frames, n = c.out[0]
            try:
                self.sock.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                if not wait or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
                continue
            except zmq.ZMQError:  # not connected now (its connection is being re-made): later
                break
            c.out.popleft()
            sent += n
        if sent:
            self._output_sent(sent)


class _MemoryShim:
    """What the memory watcher needs of an actor, for a worker's actor: ending it records why."""

    def __init__(self, worker: Worker, a: _Actor):
        self.worker, self.a = worker, a
        self.pid, self.cls_name = a.pid, a.cls_name

    def kill(self, reason: BaseException) -> None:
        self.a.reason = str(reason)
        killpg(self.a.pid)
