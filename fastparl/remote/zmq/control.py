"""The driver's control links to worker daemons: the handshake, requests, heartbeats, notifications.

Each worker gets one DEALER socket.  The handshake runs in the connecting thread; afterwards one
background thread owns every control socket (ZeroMQ sockets are not thread-safe): other threads
queue requests and wait for the matching reply.  The thread pings each worker every
``PING_INTERVAL`` s and hands the workers' notifications (actors' output, exits) to the backend.
The messages are :mod:`.wire`'s control messages (kinds and fields listed there).

Liveness (see :mod:`.liveness`): a worker whose connection closes (its process ended or restarted)
is lost at once; a silent one is *suspect* after ``SUSPECT_AFTER`` s and lost after the host
timeout.  A lost worker is tried again in the background (back-off up to ``READMIT_MAX_S``): once it
answers and passes the handshake again (healed partition, daemon restarted on the same address),
it is used for new actors.  Its old actors stay lost: the worker ends them (the driver's new session
replaces the old one).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any, Callable

import zmq

from fastparl.errors import AuthenticationError, ConnectionError, ResourceError
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.gate import monitor_socket, plain_client, routing_id, ticket
from fastparl.remote.zmq.liveness import PING_INTERVAL, SUSPECT_AFTER
from fastparl.remote.zmq.wire import BadMessage, decode_control, encode_control
from fastparl.remote.system import portable
from fastparl.remote.waiting import Flag

__all__ = ["WorkerLink", "Control", "handshake", "PING_INTERVAL"]

READMIT_MAX_S = 5.0  # the longest wait between two tries of a lost worker
log = logging.getLogger("fastparl.remote")


class WorkerLink:
    """What the driver knows of one worker daemon."""

    def __init__(self, address: str, sock: zmq.Socket, info: dict[str, Any], same_host: bool):
        self.address = address
        self.sock = sock
        self.info = info
        self.host = str(info.get("host", address))
        self.same_host = same_host
        self.free_cpus = int(info.get("free_cpus", 0))
        self.last_seen = time.monotonic()
        self.lost: str | None = None  # why the worker is gone, once it is
        self.suspect = False  # silent for more than SUSPECT_AFTER s (calls wait)
        self.placing = 0  # actors being placed here whose spawn has not been answered yet
        self.admissions = 1  # sessions opened with this worker (a re-admission opens a new one)
        self.session: auth.Session | None = info.get("_session")
        self.monitor: zmq.Socket | None = None  # EVENT_DISCONNECTED of sock (owned by the control thread)

    @property
    def state(self) -> str:
        """``alive``, ``suspect`` (silent; calls wait) or ``lost`` (given up; retried in the background)."""
        return "lost" if self.lost else "suspect" if self.suspect else "alive"

    @property
    def free_slots(self) -> int:
        """Free CPU slots as last reported, less the placements still on their way."""
        return self.free_cpus - self.placing

    def seal(self, kind: str, raw: bytes | None = None, **fields: Any) -> list[bytes]:
        """A control message to this worker, sealed with the session's key (callers keep seal order = send order)."""
        if self.session is None:
            return encode_control(kind, raw, **fields)
        return self.session.seal(lambda seq: encode_control(kind, raw, seq=seq, **fields))

    def __repr__(self) -> str:
        return f"<worker {self.address} ({self.host}) free_cpus={self.free_cpus}{' LOST' if self.lost else ''}>"


def handshake(ctx: zmq.Context, address: str, token: bytes, timeout: float = 5.0, name: str = "",
              curve: bool = False, observer: bool = False, host_timeout: float | None = None,
              driver: str = "") -> tuple[zmq.Socket, dict[str, Any]]:
    """Connect to the worker at ``address`` and run the mutual handshake; returns the socket and the
    worker's welcome message.  An ``observer`` (``fastparl status``) is not listed among the clients.
    ``host_timeout`` is how long the worker keeps our actors through our silence; ``driver`` names this
    driver across its sessions (a new session replaces the old one at the worker).

    Raises:
        ConnectionError: nothing answers (with the command that starts a worker).
        AuthenticationError: the worker refused our token, or could not prove it holds it.
    """
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, routing_id())  # never anonymous: see .gate
    if curve:
        auth.curve_client(sock, token, "worker")
    else:
        plain_client(sock, b"fastparl", ticket(token, "worker"))
    monitor = monitor_socket(sock, zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    deadline = time.monotonic() + timeout

    def recv() -> list[bytes]:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        while True:
            events = dict(poller.poll(max(0, int((deadline - time.monotonic()) * 1000))))
            if monitor in events:
                monitor.recv_multipart()
                raise AuthenticationError(
                    f"the fastparl worker at {address} refused our token at the connection's handshake. Use the "
                    f"token of the worker hosts: set FASTPARL_TOKEN, or copy their token file ({auth.token_path()}, "
                    "mode 0600).")
            if sock in events:
                return sock.recv_multipart()
            if time.monotonic() >= deadline:
                raise zmq.Again()

    sock.connect(f"tcp://{address}")
    mine = auth.nonce()
    try:
        hello: dict[str, Any] = {"nonce": mine, "name": name}
        if observer:
            hello["observer"] = True
        if host_timeout is not None:
            hello["timeout"] = host_timeout
        if driver:
            hello["driver"] = driver
        sock.send_multipart(encode_control("hello", **hello))
        msg, _ = decode_control(recv())
        if msg.get("kind") != "challenge" or not auth.check(token, msg.get("proof"), "worker", mine,
                                                            str(msg.get("nonce"))):
            raise AuthenticationError(
                f"the fastparl worker at {address} could not prove it holds our token: it was started with another "
                "token (or it is not a fastparl worker). Use the same FASTPARL_TOKEN / token file on every host.")
        worker_nonce = str(msg["nonce"])
        sock.send_multipart(encode_control("auth", proof=auth.proof(token, "client", worker_nonce, mine)))
        msg, _ = decode_control(recv())
    except zmq.Again:
        _close_monitor(sock, monitor)
        sock.close(linger=0)
        port = address.rpartition(":")[2]
        raise ConnectionError(
            f"no fastparl worker answers at {address} within {timeout:g} s. Start one there with "
            f"`fastparl worker --port {port} --cpus N` (add `--host 0.0.0.0` to accept other machines), "
            "or check FASTPARL_HOSTS. A worker started with --curve answers only clients with FASTPARL_CURVE=1 "
            "(and the same token).") from None
    except BadMessage as e:
        _close_monitor(sock, monitor)
        sock.close()
        raise ConnectionError(f"{address} answered with something that is not a fastparl worker ({e})") from None
    except BaseException:
        _close_monitor(sock, monitor)
        sock.close()
        raise
    _close_monitor(sock, monitor)
    if msg.get("kind") != "welcome":
        sock.close()
        raise AuthenticationError(
            f"the fastparl worker at {address} refused our token ({msg.get('reason', msg.get('kind'))}). Use the "
            f"token of the worker hosts: set FASTPARL_TOKEN, or copy their token file ({auth.token_path()}, mode 0600).")
    sock.setsockopt(zmq.RCVTIMEO, -1)
    # every later message is sealed with the session's key (see auth.Session): WorkerLink.session
    msg["_session"] = auth.Session(auth.session_key(token, mine, worker_nonce))
    return sock, msg


def _close_monitor(sock: zmq.Socket, monitor: zmq.Socket) -> None:
    """Close the handshake's monitor: disable it first (DESIGN.md: else replies can sit unread)."""
    try:
        sock.disable_monitor()
    except zmq.ZMQError:
        pass
    monitor.close(linger=0)


def local_ip_for(address: str) -> str:
    """The address of this machine on the route to ``address`` (what its actors connect back to)."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, int(port)))  # UDP: no packet is sent
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class Control:
    """The background thread that owns the control sockets.

    Args:
        reconnect: ``reconnect(address) -> (socket, welcome)`` runs a new handshake (in a background
            thread): how a lost worker is admitted again.
        timeout: the host timeout (:func:`.liveness.host_timeout`).
    """

    def __init__(self, workers: list[WorkerLink], on_notice: Callable[[WorkerLink, dict, bytes | None], None],
                 on_lost: Callable[[WorkerLink], None], timeout: float,
                 reconnect: Callable[[str], tuple[zmq.Socket, dict[str, Any]]] | None = None,
                 on_state: Callable[[], None] = lambda: None):
        self.workers = workers
        self.on_state = on_state  # a worker turned alive / suspect / lost (called in the control thread)
        self.on_notice = on_notice
        self.on_lost = on_lost
        self.timeout = timeout
        self.reconnect = reconnect
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._outgoing: list[tuple[WorkerLink, list[bytes]]] = []
        self._pending: dict[int, list[Any]] = {}  # req -> [event, reply, worker]
        self._readmitted: list[tuple[WorkerLink, zmq.Socket, Any]] = []
        self._wake_r, self._wake_w = portable.pipe(nonblocking=True)
        self._stop = False
        for w in workers:
            w.monitor = monitor_socket(w.sock, zmq.EVENT_DISCONNECTED)
        self._poller = zmq.Poller()
        self._thread = threading.Thread(target=self._run, name="fastparl-control", daemon=True)
        self._thread.start()

    def request(self, w: WorkerLink, kind: str, timeout: float = 30.0, raw: bytes | None = None,
                **fields: Any) -> dict[str, Any]:
        """Send a request to worker ``w`` and wait for its reply (errors raise).  The wait lasts at least
        as long as the host timeout: a suspect worker may still answer."""
        if w.lost:
            raise ConnectionError(f"worker {w.address} is lost ({w.lost})")
        timeout = max(timeout, self.timeout + 1.0)
        req = next(self._ids)
        slot: list[Any] = [Flag(), None, w]  # a Flag, not an Event: a Ctrl-C in our wait must not block its set()
        with self._lock:
            self._pending[req] = slot
        self.send(w, kind, raw, req=req, **fields)
        if not slot[0].wait(timeout):
            with self._lock:
                self._pending.pop(req, None)
            raise ConnectionError(f"worker {w.address} did not answer a {kind!r} request within {timeout:g} s")
        reply = slot[1]
        if reply.get("kind") == "error":
            if reply.get("code") in ("no-slot", "no-gpu"):
                raise ResourceError(str(reply.get("message")))
            raise ConnectionError(f"worker {w.address}: {reply.get('message')}")
        return reply

    def send(self, w: WorkerLink, kind: str, raw: bytes | None = None, **fields: Any) -> None:
        """Queue a message to ``w`` (sent by the control thread)."""
        with self._lock:  # sealed and queued together: the sequence numbers leave in order
            self._outgoing.append((w, w.seal(kind, raw, **fields)))
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def stop(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        poller = self._poller
        poller.register(self._wake_r, zmq.POLLIN)
        for w in self.workers:
            self._watch(w)
        next_ping = 0.0
        try:
            while True:
                now = time.monotonic()
                pings = []
                if now >= next_ping and not self._stop:
                    next_ping = now + PING_INTERVAL
                    for w in self.workers:
                        if not w.lost and self._still_alive(w, now):
                            pings.append(w)
                with self._lock:  # pings are sealed in the same order as the queued messages
                    self._outgoing.extend((w, w.seal("ping")) for w in pings)
                    out, self._outgoing = self._outgoing, []
                    readmitted, self._readmitted = self._readmitted, []
                for w, frames in out:
                    if not w.lost:
                        try:
                            w.sock.send_multipart(frames, zmq.NOBLOCK)
                        except zmq.ZMQError:
                            pass
                for w, sock, info in readmitted:
                    self._readmit(w, sock, info)
                if self._stop:
                    break
                events = dict(poller.poll(max(1, int((next_ping - time.monotonic()) * 1000))))
                if self._wake_r in events:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                for w in self.workers:
                    if w.monitor is not None and w.monitor in events:
                        self._on_monitor(w)
                    if not w.lost and w.sock in events:
                        self._receive(w)
        finally:
            for w in self.workers:
                if w.monitor is not None:
                    w.monitor.close(linger=0)
                    w.monitor = None

    def _watch(self, w: WorkerLink) -> None:
        self._poller.register(w.sock, zmq.POLLIN)
        if w.monitor is not None:
            self._poller.register(w.monitor, zmq.POLLIN)

    def _unwatch(self, w: WorkerLink) -> None:
        for s in (w.sock, w.monitor):
            if s is not None:
                try:
                    self._poller.unregister(s)
                except KeyError:
                    pass

    def _still_alive(self, w: WorkerLink, now: float) -> bool:
        silent = now - w.last_seen
        if silent > self.timeout:
            self._lose(w, f"no answer for {silent:.1f} s (FASTPARL_HOST_TIMEOUT={self.timeout:g})")
            return False
        if silent > SUSPECT_AFTER and not w.suspect:
            w.suspect = True
            log.warning("fastparl: worker %s (%s) has been silent for %.1f s: calls on its actors wait until it "
                        "answers, or for up to %g s (FASTPARL_HOST_TIMEOUT)", w.address, w.host, silent, self.timeout)
            self.on_state()
        return True

    def _on_monitor(self, w: WorkerLink) -> None:
        from zmq.utils.monitor import parse_monitor_message

        closed = False
        while w.monitor is not None:
            try:
                event = parse_monitor_message(w.monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.ZMQError:
                break
            closed |= event["event"] == zmq.EVENT_DISCONNECTED
        if closed and not w.lost:
            self._lose(w, "its connection closed (the worker process ended, or was restarted)")

    def _receive(self, w: WorkerLink) -> None:
        for _ in range(256):  # then back to the loop: pings must leave even while output floods in
            try:
                frames = w.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                return
            w.last_seen = time.monotonic()
            if w.suspect:
                w.suspect = False
                log.warning("fastparl: worker %s (%s) answers again", w.address, w.host)
                self.on_state()
            try:
                msg, raw = decode_control(frames)
            except BadMessage as e:
                log.warning("a malformed message from worker %s: %s", w.address, e)
                continue
            kind = msg["kind"]
            if kind == "pong":
                if isinstance(msg.get("free_cpus"), int):
                    w.free_cpus = msg["free_cpus"]
                continue
            req = msg.get("req")
            if req is not None:
                if kind in ("spawned", "reserved"):
                    w.free_cpus -= 1  # before the next pong, which counts it
                with self._lock:
                    slot = self._pending.pop(req, None) if isinstance(req, int) else None
                if slot is not None:
                    slot[1] = msg
                    slot[0].set()
                continue
            if kind == "denied":
                self._lose(w, f"it refused us: {msg.get('reason')}")
                return
            self.on_notice(w, msg, raw)
        self._wake()  # more may be waiting

    def _lose(self, w: WorkerLink, why: str) -> None:
        w.lost = f"worker {w.address} ({w.host}) lost: {why}"
        w.suspect = False
        log.warning("fastparl: %s; calls on its actors raise ActorDiedError, new actors go to the other workers%s",
                    w.lost, " (it is tried again in the background)" if self.reconnect else "")
        self._unwatch(w)
        with self._lock:  # requests waiting on it fail now
            for req, slot in list(self._pending.items()):
                if slot[2] is w:
                    slot[1] = {"kind": "error", "message": w.lost}
                    slot[0].set()
                    del self._pending[req]
        self.on_lost(w)
        self.on_state()
        if w.monitor is not None:
            w.monitor.close(linger=0)
            w.monitor = None
        w.sock.close(linger=0)  # the worker ends that session's actors; a re-admission opens a new one
        if self.reconnect is not None and not self._stop:
            threading.Thread(target=self._retry, args=(w,), name="fastparl-readmit", daemon=True).start()

    def _retry(self, w: WorkerLink) -> None:
        """Try a lost worker with back-off until it passes the handshake again (or we stop)."""
        delay = 0.25
        while not self._stop:
            time.sleep(delay)
            delay = min(2 * delay, READMIT_MAX_S)
            if self._stop:
                return
            try:
                sock, info = self.reconnect(w.address)  # type: ignore[misc]
            except Exception as e:  # noqa: BLE001 - not back yet (or refuses us: keep trying, it may be fixed)
                log.debug("worker %s not back yet: %s", w.address, e)
                continue
            try:
                monitor = monitor_socket(sock, zmq.EVENT_DISCONNECTED)
            except zmq.ZMQError:
                sock.close(linger=0)
                continue
            with self._lock:
                self._readmitted.append((w, sock, (info, monitor)))
            self._wake()
            return

    def _readmit(self, w: WorkerLink, sock: zmq.Socket, info: Any) -> None:
        info, monitor = info if isinstance(info, tuple) else (info, None)
        if self._stop:
            sock.close(linger=0)
            return
        w.sock, w.monitor, w.info = sock, monitor, info
        w.session = info.get("_session")
        w.host = str(info.get("host", w.address))
        w.free_cpus = int(info.get("free_cpus", 0))
        w.last_seen = time.monotonic()
        w.admissions += 1
        w.lost = None
        self._watch(w)
        log.warning("fastparl: worker %s (%s) is back: new actors may be placed there (%d free slot(s))",
                    w.address, w.host, w.free_cpus)
        self.on_state()
