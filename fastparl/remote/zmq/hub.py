"""The driver's one ROUTER socket, shared by all its actors on worker hosts.

Every actor connects a DEALER to it with its own routing id, so the driver holds one socket (and
one TCP connection per actor) whatever the number of actors, and waits for any of them on one
descriptor.  A peer is served only after it proved it holds the token (``actor-hello``); messages
from anyone else are dropped unread, never unpickled.

ZeroMQ sockets are not thread-safe, so every call on the socket is made under ``sock_lock``, and
nobody blocks inside ZeroMQ: a reader waits on the socket's descriptor (``ZMQ_FD``) with ``select``
outside the lock.  That descriptor is edge-triggered, so a thread whose send may have taken in
a message wakes the reader through a pipe (see :meth:`Hub._after_socket_call`).  Reading follows
the same leader/follower scheme as :mod:`fastparl.remote.tracker`, one level down: the thread that
reads stores what it gets for the other actors' queues; it is safe against Ctrl-C the same way (the
reader is a thread id, waiters block on gates outside the lock: see :mod:`fastparl.remote.waiting`).
What travels is :mod:`.wire`'s: data frames, and the ``actor-hello`` / ``actor-welcome`` control
messages of the handshake.
"""

from __future__ import annotations

import collections
import hmac
import os
import select
import threading
import time
from threading import get_ident
from typing import Any, Callable

import zmq

from fastparl.remote.protocol import PeerClosed
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.gate import Gate, ticket
from fastparl.remote.zmq.wire import BadMessage, decode_control, encode_control
from fastparl.remote.system import portable
from fastparl.remote.waiting import Waiters, closed_gate, wait_at

__all__ = ["Hub"]

_GOODBYE = [b""]
# Plain ints: pyzmq's constants are enums, and each "&" on them builds a new enum member (~1 us).
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)
_SAFETY_POLL_S = 0.1  # a bounded wait, in case an edge of ZMQ_FD is ever missed
_RECHECK_S = 1.0  # a waiting thread looks again at least this often (a wake-up cut short by Ctrl-C costs no more)


class _Closed:
    """Queued after a peer's last message: reading past it raises PeerClosed."""

    def __init__(self, reason: str):
        self.reason = reason


class Hub:
    def __init__(self, ctx: zmq.Context, bind_hosts: list[str], token: bytes, curve: bool = False):
        self.token = token
        self.sock = ctx.socket(zmq.ROUTER)
        if curve:
            auth.curve_server(self.sock, token, "hub")
        # Only the actors we spawned get past the ZeroMQ handshake (see .gate): each shows a ticket derived
        # from the token, its id and its spawn nonce.  Kept while we serve it, so that it may reconnect.
        self._tickets: dict[bytes, bytes] = {}
        self.gate = Gate(ctx, self._admit, "the driver's hub")
        self.gate.serve(self.sock, curve)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a peer that is gone raises
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)  # the pipelining limit is the actor's, not an arbitrary count
        self.sock.setsockopt(zmq.RCVHWM, 0)
        port = self.sock.bind_to_random_port(f"tcp://{bind_hosts[0]}")
        for host in bind_hosts[1:]:
            self.sock.bind(f"tcp://{host}:{port}")
        self.port = port
        self.fd = self.sock.getsockopt(zmq.FD)
        self.sock_lock = threading.Lock()
        self._lock = threading.Lock()  # taken by `with` only (Ctrl-C safe); never held across a blocking read
        self._queues: dict[bytes, collections.deque] = {}  # authenticated peers -> frames not yet taken
        self._expected: dict[bytes, tuple[str, threading.Event]] = {}  # peers we started, not yet proven
        self._reader: int | None = None  # the id of the thread reading the socket (the leader)
        self._waiters = Waiters()  # thread id -> the gate it waits on for a message or its turn to read
        self._wake_r, self._wake_w = portable.pipe(nonblocking=True)
        self.rejected = 0  # messages dropped from peers that did not authenticate
        self.on_message: Callable[[], None] = lambda: None  # fastparl.wait's wake-up (set by the backend)
        self.closed = False

    # ------------------------------------------------------------------ peers
    def expect(self, identity: bytes, nonce: str) -> threading.Event:
        """Before an actor is spawned: its hello must carry a proof over ``nonce``."""
        event = threading.Event()
        with self._lock:
            self._expected[identity] = (nonce, event)
            self._tickets[identity.hex().encode()] = ticket(self.token, "actor", identity.hex(), nonce)
        return event

    def _admit(self, username: bytes, password: bytes) -> bool:
        """The gate's question (its own thread): may this peer connect?"""
        with self._lock:
            expected = self._tickets.get(username)
        return expected is not None and hmac.compare_digest(expected, password)

    def close_peer(self, identity: bytes, reason: str) -> None:
        """The peer is gone: readers get PeerClosed after its queued messages."""
        with self._lock:
            self._expected.pop(identity, None)
            self._tickets.pop(identity.hex().encode(), None)
            q = self._queues.get(identity)
            if q is not None:
                q.append(_Closed(reason))
            self._waiters.wake_all()
        self._wake_reader()
        self.on_message()

    def forget(self, identity: bytes, goodbye: bool = True) -> None:
        """We are done with the peer: tell it to exit (it sees an empty message) and drop its queue."""
        with self._lock:
            known = self._queues.pop(identity, None) is not None
            self._expected.pop(identity, None)
            self._tickets.pop(identity.hex().encode(), None)
        if known and goodbye and not self.closed:
            try:
                with self.sock_lock:
                    self.sock.send_multipart([identity, *_GOODBYE], _NOBLOCK)
            except zmq.ZMQError:
                pass

    # ------------------------------------------------------------------ sending
    def send(self, identity: bytes, frames: list[Any], on_blocked: Callable[[], bool] | None = None) -> None:
        track = len(frames) > 1  # out-of-band buffers sent without a copy: wait until they have left
        with self.sock_lock:
            try:
                tracker = self.sock.send_multipart([identity, *frames], _NOBLOCK, copy=not track, track=track)
            except zmq.ZMQError as e:
                raise PeerClosed(f"the actor's link is gone ({e})") from None
            finally:
                self._after_socket_call()
        if track and tracker is not None:
            tracker.wait()  # the caller may change its arrays once we return, as with a copy

    def _after_socket_call(self) -> None:
        """A send may have taken in a message and consumed ZMQ_FD's edge: wake the reader to look."""
        if self._reader is not None and self.sock.get(_EVENTS) & _POLLIN:
            self._wake_reader()

    def _wake_reader(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # ------------------------------------------------------------------ receiving
    def recv(self, identity: bytes, timeout: float | None) -> list[Any] | None:
        """The next message of ``identity`` (its frames), or None after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        me = get_ident()
        gate: threading.Lock | None = None
        try:
            while True:
                with self._lock:
                    if gate is not None:
                        self._waiters.remove(me, gate)
                        gate = None
                    item = self._take(identity)
                    if item is not None:
                        return item
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if self._reader is None:
                        self._reader = me
                    elif remaining is not None and remaining <= 0:
                        return None
                    else:
                        gate = closed_gate()
                        self._waiters.add(me, gate)
                if gate is not None:
                    wait_at(gate, _RECHECK_S if remaining is None else min(remaining, _RECHECK_S))
                    continue
                if remaining is not None and remaining <= 0:
                    return None
                self._read(remaining)
                self._stop_reading(me)
        finally:  # wherever an interrupt (Ctrl-C) landed: no gate left behind, and stop reading if we still do
            if gate is not None:
                with self._lock:
                    self._waiters.remove(me, gate)
            try:
                self._stop_reading(me)
            except BaseException:  # cut short, even at its start: a second call finishes it
                self._stop_reading(me)
                raise

    def poll(self, identity: bytes) -> list[list[Any]]:
        """Every message of ``identity`` that has arrived, without waiting."""
        me = get_ident()
        try:
            with self._lock:
                if self._reader is None:
                    self._reader = me
            if self._reader == me:
                while self._read(0.0):
                    pass
        finally:
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
                raise
        out: list[list[Any]] = []
        with self._lock:
            while True:
                item = self._take(identity, raise_closed=not out)
                if item is None:
                    return out
                out.append(item)

    def wait_any(self, deadline: float | None) -> None:
        """Block until some message arrives (for anyone) or ``deadline`` passes: fastparl.wait's sleep."""
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        me = get_ident()
        gate: threading.Lock | None = None
        try:
            with self._lock:
                if self._reader is not None:
                    gate = closed_gate()
                    self._waiters.add(me, gate)
                else:
                    self._reader = me
            if gate is not None:
                wait_at(gate, remaining if remaining is not None else _SAFETY_POLL_S)
            else:
                self._read(remaining, once=True)
        finally:
            if gate is not None:
                with self._lock:
                    self._waiters.remove(me, gate)
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
                raise

    def _take(self, identity: bytes, raise_closed: bool = True) -> list[Any] | None:
        q = self._queues.get(identity)
        if q is None:
            if identity in self._expected:
                return None
            raise PeerClosed("the actor's link is closed")
        if not q:
            return None
        item = q[0]
        if isinstance(item, _Closed):
            if raise_closed:
                raise PeerClosed(item.reason)
            return None
        return q.popleft()

    def _stop_reading(self, me: int) -> None:
        """If thread ``me`` (this one) reads, it stops and wakes the waiting threads (one of them reads next).
        A no-op otherwise: safe wherever an interrupt landed, and a second call finishes a first one cut short."""
        if self._reader == me:  # only this thread makes itself the reader, or stops: no lock needed to ask
            with self._lock:
                self._waiters.wake_all()  # before giving up the reading: if cut short, we still read, and retry
                self._reader = None

    def _read(self, timeout: float | None, once: bool = False) -> bool:
        """Read and route one message, waiting up to ``timeout`` s; returns whether one came.  Also
        returns (False) when woken, so that the caller looks at its queue again (a peer was closed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self.sock
        while True:
            with self.sock_lock:
                try:  # asking EVENTS is cheaper than the exception a receive on an empty socket raises
                    frames = sock.recv_multipart(_NOBLOCK, copy=False) if sock.get(_EVENTS) & _POLLIN else None
                except zmq.Again:
                    frames = None
                except zmq.ZMQError as e:  # the socket was closed under us (shutdown)
                    raise PeerClosed(str(e)) from None
            if frames is not None:
                self._route(frames)
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            wait = _SAFETY_POLL_S if remaining is None else min(remaining, _SAFETY_POLL_S)
            r, _, _ = select.select([self.fd, self._wake_r], [], [], wait)
            if self._wake_r in r:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass
                if not self.sock.get(_EVENTS) & _POLLIN:
                    return False
            if once and not r and remaining is not None and remaining <= wait:
                return False

    def _route(self, frames: list[Any]) -> None:
        identity = frames[0].bytes
        with self._lock:
            q = self._queues.get(identity)
            if q is not None:
                q.append(frames[1:])
                self._waiters.wake_all()
                expected = None
            else:
                expected = self._expected.get(identity)
        if q is not None:
            self.on_message()
            return
        if expected is None:
            self.rejected += 1  # not one of ours (or it failed its hello): dropped, unread
            return
        self._hello(identity, frames[1:], *expected)

    def _hello(self, identity: bytes, frames: list[Any], nonce: str, event: threading.Event) -> None:
        try:
            msg, _ = decode_control([f.bytes for f in frames])
            ok = msg.get("kind") == "actor-hello" and auth.check(self.token, msg.get("proof"), "actor",
                                                                identity.hex(), nonce, str(msg.get("nonce")))
        except BadMessage:
            ok = False
        if not ok:
            self.rejected += 1
            return
        reply = encode_control("actor-welcome", proof=auth.proof(self.token, "driver", identity.hex(), nonce,
                                                                 str(msg["nonce"])))
        with self._lock:
            self._expected.pop(identity, None)
            self._queues[identity] = collections.deque()
        with self.sock_lock:
            try:
                self.sock.send_multipart([identity, *reply], _NOBLOCK)
            except zmq.ZMQError:
                pass
        event.set()

    def close(self) -> None:
        self.closed = True
        with self.sock_lock:
            self.sock.close(linger=0)
        self.gate.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
