"""Request tracking, written once for every backend that sends messages (local, zmq).

A :class:`TrackedActor` numbers its requests, sends them over a
:class:`~fastparl.remote.transport.Transport`, and matches
replies to requests by sequence number.  It knows nothing of sockets or shared memory.

Threads: sending is serialised by a lock that covers only the send.  Receiving follows a
leader/follower scheme: the first thread that needs a reply reads the wire for everyone
(storing replies meant for others and waking them), the others wait on a condition with their
own timeout.  So a ``result(timeout=1)`` returns in about a second even while another thread is
blocked on a slow call of the same actor, and ``done()`` never blocks.

Lifetime: when the proxy is gone (:meth:`TrackedActor.release`) the actor ends as soon as no
request is outstanding, so a future keeps its actor alive until it resolves.  When the
transport reports the peer lost, every pending and later request fails with the reason the
backend gives (:meth:`TrackedActor._lost`), promptly and without hanging.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from typing import Any, cast

from fastparl.errors import ActorDiedError, FastparlError
from fastparl.remote.backend import ActorHandle, Backend
from fastparl.remote.error_messages import build_error, describe_request, describe_unpicklable, timeout_error, \
    unpicklable_reply
from fastparl.remote.futures import Future
from fastparl.remote.protocol import CALL, CALLABLE, CALLABLE_ATTR, ERR, GETATTR, OK, OUTPUT, SETATTR, PeerClosed
from fastparl.remote.serialization import PLAIN_TYPES
from fastparl.remote.transport import Frame, Transport

__all__ = ["TrackedActor"]


class TrackedActor(ActorHandle):
    """An actor handle over a message transport.  Subclasses connect ``self.transport`` and
    implement :meth:`_lost` (why the peer is gone), :meth:`_terminate` (stop its process) and
    :meth:`_cleanup` (free what it held)."""

    transport: Transport

    def __init__(self, backend: Backend, cls_name: str):
        self.backend = backend
        self.cls_name = cls_name
        self.pid = -1
        self.error: FastparlError | None = None  # set once the actor is gone: later requests raise it
        self.kill_reason: FastparlError | None = None
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()  # guards the reply state below; never held across a blocking read
        self._cv = threading.Condition(self._lock)
        self._seq = 0
        self._pending: dict[int, tuple[int, str]] = {}  # seq -> (op, name): sent, no reply yet
        self._replies: dict[int, tuple[bool, Any]] = {}  # replies read for another thread or a future
        self._dropped: set[int] = set()
        self._reading = False  # a thread is reading the transport (the leader)
        self._sleepers = 0  # threads waiting for a reply or for their turn to read
        self._waiting: dict[int, threading.Condition] = {}  # seq -> the condition its waiting thread sleeps on
        self._released = False
        self._close_when_idle = False
        self._cleaned = False

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _lost(self, what: str) -> FastparlError:
        """The error for requests on an actor whose link closed during ``what``."""

    @abstractmethod
    def _terminate(self) -> None:
        """Stop the actor's process now (and whatever it started)."""

    def _cleanup(self) -> None:
        """Free what the actor held (GPUs, watchers).  Called once, when it is gone."""

    # ------------------------------------------------------------------ ActorHandle
    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        plain = kwargs is None and (not args or all(type(a) in PLAIN_TYPES for a in args))
        seq = self._request(CALL, (name, args, kwargs), name, args, kwargs, plain)
        if not wait:
            return Future(self, seq, name)
        # Locks are taken with `with` only: a Ctrl-C between a bare acquire() and release() would leave
        # the lock held, and every later call, and exit's disconnect, would wait for it for ever.
        reading = False
        try:
            with self._lock:
                if not (self._reading or self.error is not None or self._replies):
                    self._reading = reading = True  # one statement: no interruption between the two
            if not reading:  # not the plain case: the general path
                ok, value = self.result(seq, None)
            else:  # the plain case, inlined: nobody else reads, and the next reply is ours
                try:
                    frame = cast(Frame, self.transport.recv(None))  # no timeout: never None
                    if frame[1] == seq:
                        op, name = self._pending.pop(seq, (CALL, name))
                        if self._released and not self._pending:
                            self._close_when_idle = True
                        if frame[0] == OK and frame[3] is None:
                            ok, value = True, frame[2]
                        else:
                            ok, value = self._reply(frame, op, name)
                    else:  # a reply to someone else's request: keep it for them, and read on
                        self._store(frame)
                        ok, value = self._read_until(seq, None, None)
                except PeerClosed:
                    ok, value = self._read_until(seq, None, None)  # finds the link closed: the backend's reason
                finally:
                    reading = self._stop_reading()
        except BaseException:  # interrupted (Ctrl-C): nobody will read this reply, do not keep it when it comes
            if reading:  # interrupted before we stopped reading: stop now, or nobody ever reads again
                self._stop_reading()
            self.drop(seq)
            raise
        if ok:
            return value
        raise value


    def getattr(self, name: str) -> Any:
        return self.request(GETATTR, name, name)

    def setattr(self, name: str, value: Any) -> None:
        self.request(SETATTR, (name, value), name, (value,))

    def request(self, op: int, payload: Any, name: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Send a request and wait for its reply (raises the actor's error)."""
        seq = self._request(op, payload, name, args, kwargs)
        try:
            ok, value = self.result(seq, None)
        except BaseException:
            self.drop(seq)
            raise
        if ok:
            return value
        raise value

    def waitable(self) -> int | None:
        fd = self.transport.fileno() if self.error is None else -1
        return fd if fd >= 0 else None

    # ------------------------------------------------------------------ sending
    def _request(self, op: int, payload: Any, name: str, args: tuple, kwargs: dict | None, plain: bool = False
                 ) -> int:
        with self._send_lock:
            if self.error is not None:
                raise self._error()
            self._seq += 1
            seq = self._seq
            self._pending[seq] = (op, name)
            transport = self.transport
            try:
                transport.send(op, seq, payload, self._drain, plain)
            except PeerClosed:
                self._pending.pop(seq, None)
                self._died(describe_request(self.cls_name, op, name))
                raise self._error() from None
            except FastparlError:  # SerializationError, or a transport refusing shared memory it cannot share
                self._pending.pop(seq, None)
                raise
            except Exception as e:  # noqa: BLE001 - could not pickle the arguments
                self._pending.pop(seq, None)
                if transport.closed:
                    raise
                raise describe_unpicklable(f"the arguments of {describe_request(self.cls_name, op, name)}",
                                           args, kwargs, e) from e
            except BaseException:
                self._pending.pop(seq, None)
                raise
            finally:
                if transport.closed and self.error is None:  # interrupted (Ctrl-C) half-way through a frame
                    self.kill(ActorDiedError(
                        f"a call to {describe_request(self.cls_name, op, name)} was interrupted half-way through "
                        f"sending, which leaves the link to actor {self.cls_name} (pid {self.pid}) unusable: the "
                        "actor was stopped; create a new one"))
                    self._fail(self.kill_reason)  # type: ignore[arg-type]
        return seq

    def _drain(self) -> bool:
        """Read replies while a send waits for room (pipelining), unless another thread reads."""
        reading = False
        try:
            with self._cv:
                if self._reading:
                    return False
                self._reading = reading = True
            try:
                for frame in self.transport.poll():
                    self._store(frame)
            except PeerClosed:
                pass  # the send that called us fails next, and reports it
            finally:
                reading = self._stop_reading()
        except BaseException:
            if reading:  # interrupted before we stopped reading (see call())
                self._stop_reading()
            raise
        return True

    # ------------------------------------------------------------------ receiving
    def result(self, seq: int, timeout: float | None) -> tuple[bool, Any]:
        """The reply of request ``seq``, waiting up to ``timeout`` s: the leader/follower protocol.

        At most one thread at a time reads the transport: the *leader* (``_reading`` is set).  A
        thread that wants a reply, under ``_lock``:

        1. takes its reply if another thread has already read and stored it (``_replies``);
        2. else returns the actor's error if it is gone;
        3. else, if nobody reads, becomes the leader: it releases the lock and reads frames
           (:meth:`_read_until`) until its own arrives, storing every other reply for its owner
           (:meth:`_store`, which wakes that owner only).  Done, or timed out, or interrupted, it
           stops reading (:meth:`_stop_reading`) and *hands over*: it wakes one waiting thread,
           which goes back to step 1 and, its reply not being in, becomes the next leader;
        4. else it is a *follower*: it sleeps on a condition of its own (``_waiting[seq]``), so
           that a stored reply wakes only its thread, with its own deadline, and is woken by its
           reply, a hand-over or the actor's death (:meth:`_fail` wakes all); then back to step 1.

        A follower woken by a hand-over may find its reply already stored: it then returns at step
        1, so it passes the hand-over on to another waiter, or nobody would read for them.  The lock
        is never held across a blocking read, so a follower's timeout fires while the leader waits
        on a slow call, and :meth:`poll` never waits.  Any interruption (Ctrl-C) of a leader stops
        its reading, so the others are never left without a reader.

        Returns:
            ``(True, value)`` or ``(False, exception to raise)``.

        Raises:
            FutureTimeoutError: no reply within ``timeout`` (the request stays pending: ask again).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        cv = self._cv
        reading = False
        try:
            with cv:
                while True:
                    reply = self._replies.pop(seq, None)
                    if reply is not None:
                        # A hand-over may have woken us (and been absorbed, our reply being in already):
                        # pass it on, or nobody reads for the others.
                        if not self._reading and self._waiting:
                            self._hand_over()
                        return reply
                    if self.error is not None:
                        return False, self._error()
                    if not self._reading:
                        self._reading = reading = True
                        break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise timeout_error(self._what(seq), timeout)
                    mine = threading.Condition(self._lock)  # woken for our reply, or to take over the reading
                    self._waiting[seq] = mine
                    self._sleepers += 1
                    try:
                        mine.wait(remaining)
                    finally:
                        self._sleepers -= 1
                        if self._waiting.get(seq) is mine:
                            del self._waiting[seq]
                        if not self._reading and self._waiting:  # interrupted after a hand-over: pass it on
                            self._hand_over()
            try:
                return self._read_until(seq, deadline, timeout)
            finally:
                reading = self._stop_reading()
        except BaseException:
            if reading:  # interrupted before we stopped reading (see call())
                self._stop_reading()
            raise

    def _read_until(self, seq: int, deadline: float | None, timeout: float | None) -> tuple[bool, Any]:
        transport = self.transport
        while True:
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise timeout_error(self._what(seq), timeout)
            try:
                frame = transport.recv(remaining)
            except PeerClosed:
                self._died(self._what(seq))
                return self._replies.pop(seq, None) or (False, self._error())
            if frame is None:
                continue
            if frame[1] == seq:
                op, name = self._pending.pop(seq, (CALL, "?"))
                if self._released and self._idle():
                    self._close_when_idle = True
                if frame[0] == OK and frame[3] is None:  # the common case
                    return True, frame[2]
                return self._reply(frame, op, name)
            self._store(frame)

    def poll(self, seq: int) -> tuple[bool, Any] | None:
        reading = False
        try:
            with self._cv:
                reply = self._replies.pop(seq, None)
                if reply is not None:
                    return reply
                if self.error is not None:
                    return False, self._error()
                if self._reading:
                    return None  # another thread reads: it stores our reply and never makes us wait
                self._reading = reading = True
            try:
                for frame in self.transport.poll():
                    self._store(frame)
            except PeerClosed:
                self._died(self._what(seq))
            finally:
                reading = self._stop_reading()
        except BaseException:
            if reading:  # interrupted before we stopped reading (see call())
                self._stop_reading()
            raise
        with self._cv:
            reply = self._replies.pop(seq, None)
            if reply is not None:
                return reply
            return (False, self._error()) if self.error is not None else None

    def drop(self, seq: int) -> None:
        with self._cv:
            if self._replies.pop(seq, None) is None and seq in self._pending:
                self._dropped.add(seq)
        if self._released and self._idle():  # nobody can read this actor's replies any more: end it
            self._close_link()

    def _idle(self) -> bool:
        """No request is outstanding whose reply someone may still read."""
        return self._pending.keys() <= self._dropped

    def _store(self, frame: Frame) -> None:
        seq = frame[1]
        op, name = self._pending.pop(seq, (CALL, f"call #{seq}"))
        reply = self._reply(frame, op, name)
        with self._cv:
            if seq in self._dropped:
                self._dropped.discard(seq)
            else:
                self._replies[seq] = reply
            waiter = self._waiting.get(seq)
            if waiter is not None:  # only the thread this reply is for
                waiter.notify()
        if self._released and self._idle():
            self._close_when_idle = True
        self.backend.wake_waiters()

    def _reply(self, frame: Frame, op: int, name: str) -> tuple[bool, Any]:
        rop, _, payload, err = frame
        if err is not None:
            return False, unpicklable_reply(describe_request(self.cls_name, op, name), err)
        if rop == OUTPUT:  # the actor wrote during the request: print that before the reply is handed over
            rop, payload, n_out, n_err = payload
            self._output_written(n_out, n_err)
        if rop == OK:
            return True, payload
        if rop == CALLABLE:
            return True, CALLABLE_ATTR
        if rop == ERR:
            return False, build_error(payload, describe_request(self.cls_name, op, name))
        return False, FastparlError(f"unexpected reply op {rop} from actor {self.cls_name} (pid {self.pid})")

    def _output_written(self, n_out: int, n_err: int) -> None:
        """The actor has written ``n_out`` / ``n_err`` bytes to its stdout / stderr so far: wait (bounded) until
        the backend's monitor printed them."""
        monitor = getattr(self.backend, "monitor", None)
        if monitor is not None:
            monitor.sync(self._output_key(), n_out, n_err)

    def _output_key(self) -> Any:
        """What keys this actor's output records in the backend's monitor."""
        return self.pid

    def _stop_reading(self) -> bool:
        """This thread stops reading; returns False (for the caller's "am I reading" flag)."""
        with self._lock:
            self._reading = False
            if self._sleepers:
                self._hand_over()
        if self._close_when_idle:
            self._close_when_idle = False
            self._close_link()
        return False

    def _hand_over(self) -> None:
        """We stop reading (the lock is held): wake one waiting thread to read in our place."""
        for waiter in self._waiting.values():
            waiter.notify()
            return

    def _wake_all(self) -> None:
        for waiter in self._waiting.values():
            waiter.notify()

    def _error(self) -> FastparlError:
        """A copy of the error that ended the actor, to raise.  The stored one is never raised itself, so
        it never holds a traceback: it would keep the frames of a failed call (and their arrays) alive."""
        err = self.error
        assert err is not None
        new = BaseException.__new__(type(err))
        new.args = err.args
        new.__dict__.update(err.__dict__)
        return new

    def _what(self, seq: int) -> str:
        op, name = self._pending.get(seq, (CALL, "?"))
        return describe_request(self.cls_name, op, name)

    # ------------------------------------------------------------------ death and release
    def _died(self, what: str) -> None:
        """The transport closed: fail every pending and later request with the backend's reason."""
        if self.error is not None:
            return
        self._fail(self.kill_reason or self._lost(what))

    def _fail(self, reason: FastparlError) -> None:
        with self._cv:
            if self.error is None:
                self.error = reason
            self._wake_all()
        self.backend.wake_waiters()
        self._cleanup_once()

    def _cleanup_once(self) -> None:
        if not self._cleaned:
            self._cleaned = True
            self._cleanup()

    def kill(self, reason: FastparlError | None = None) -> None:
        if self.error is None and self.kill_reason is None:
            self.kill_reason = reason or ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid}) was stopped by fastparl.kill(); create a new one")
        self._terminate()
        if reason is None:  # a user's kill fails pending calls now, without waiting to notice the exit
            self._fail(self.kill_reason)  # type: ignore[arg-type]
            self._close_link()

    def release(self) -> None:
        self._released = True
        if self._idle():
            self.close()

    def close(self) -> None:
        """End the actor now: it sees its link close and exits."""
        if self.error is None:
            self._fail(ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) was released; create a new one"))
        self._close_link()

    def _close_link(self) -> None:
        with self._cv:
            if self._reading:  # the reader closes it when it is done (closing under a reader could hang it)
                self._close_when_idle = True
                return
        if self.error is None:
            self._fail(ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) was released; create a new one"))
        transport = getattr(self, "transport", None)
        if transport is not None:
            transport.close()
        self._cleanup_once()
