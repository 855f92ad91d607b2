"""Request tracking, written once for every backend that sends messages (local, zmq).

A :class:`TrackedActor` numbers its requests, sends them over a
:class:`~fastparl.remote.transport.Transport`, and matches
replies to requests by sequence number.  It knows nothing of sockets or shared memory.

Threads: sending is serialised by a lock that covers only the send.  Receiving follows a
leader/follower scheme: the first thread that needs a reply reads the wire for everyone
(storing replies meant for others and waking them), the others wait with their own timeout.
So a ``result(timeout=1)`` returns in about a second even while another thread is blocked on a
slow call of the same actor, and ``done()`` never blocks.

Ctrl-C: a KeyboardInterrupt can land wherever CPython acts on a signal (see
:mod:`fastparl.remote.waiting`), and whatever it interrupts must leave the lock free and the
reading to someone.  So the lock is only ever taken by ``with self._lock:`` (never through
``threading.Condition``, whose Python ``__enter__`` can be interrupted holding it), waiters block
on gates outside it, and the reader is a thread id (``_reader``): every path ends in
``_stop_reading(me)``, which stops only this thread's reading, so it is safe to call wherever the
interrupt landed, and twice.

Lifetime: when the proxy is gone (:meth:`TrackedActor.release`) the actor ends as soon as no
request is outstanding, so a future keeps its actor alive until it resolves.  When the
transport reports the peer lost, every pending and later request fails with the reason the
backend gives (:meth:`TrackedActor._lost`), promptly and without hanging.
"""

from __future__ import annotations

import threading
import time
from threading import get_ident
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
from fastparl.remote.waiting import Waiters, closed_gate, wait_at

__all__ = ["TrackedActor"]

# A follower looks at the state again at least this often, whatever woke it: a wake-up that Ctrl-C cut short
# (a reply stored, its thread not yet woken) costs that thread at most this delay, never a hang.
_RECHECK_S = 1.0


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
        # Guards the reply state below; never held across a blocking read, taken by `with` only (see Ctrl-C above).
        # Reentrant: a Future's __del__ (drop) may run in a thread that holds it, when the garbage collector runs
        # inside a `with self._lock:` block; a plain lock would wait for itself there for ever.
        self._lock = threading.RLock()
        self._seq = 0
        self._pending: dict[int, tuple[int, str]] = {}  # seq -> (op, name): sent, no reply yet
        self._replies: dict[int, tuple[bool, Any]] = {}  # replies read for another thread or a future
        self._dropped: set[int] = set()
        self._reader: int | None = None  # the id of the thread reading the transport (the leader)
        self._waiting = Waiters()  # seq -> the gate of the thread waiting for its reply, or for its turn to read
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
        me = get_ident()  # before the request: from its sending on, an interrupt must drop it
        seq = self._request(CALL, (name, args, kwargs), name, args, kwargs, plain)
        if not wait:
            try:
                return Future(self, seq, name)
            except BaseException:
                self.drop(seq)
                raise
        try:
            with self._lock:
                lead = self._reader is None and self.error is None and not self._replies
                if lead:
                    self._reader = me
            if not lead:  # not the plain case: the general path
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
        except BaseException:  # interrupted (Ctrl-C): nobody will read this reply, do not keep it when it comes
            self.drop(seq)
            raise
        finally:  # wherever an interrupt landed: stop reading if we still do (see _stop_reading)
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
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
        me = get_ident()
        try:
            with self._lock:
                if self._reader is not None:
                    return False
                self._reader = me
            try:
                for frame in self.transport.poll():
                    self._store(frame)
            except PeerClosed:
                pass  # the send that called us fails next, and reports it
        finally:
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
                raise
        return True

    # ------------------------------------------------------------------ receiving
    def result(self, seq: int, timeout: float | None) -> tuple[bool, Any]:
        """The reply of request ``seq``, waiting up to ``timeout`` s: the leader/follower protocol.

        At most one thread at a time reads the transport: the *leader* (``_reader`` is its id).  A
        thread that wants a reply, under ``_lock``:

        1. takes its reply if another thread has already read and stored it (``_replies``);
        2. else returns the actor's error if it is gone;
        3. else, if nobody reads, becomes the leader: it releases the lock and reads frames
           (:meth:`_read_until`) until its own arrives, storing every other reply for its owner
           (:meth:`_store`, which wakes that owner only).  Done, or timed out, or interrupted, it
           stops reading (:meth:`_stop_reading`) and *hands over*: it wakes one waiting thread,
           which goes back to step 1 and, its reply not being in, becomes the next leader;
        4. else it is a *follower*: it registers a gate of its own (``_waiting[seq]``, see
           :mod:`fastparl.remote.waiting`) and blocks on it outside the lock, so that a stored
           reply wakes only its thread, with its own deadline; it is woken by its reply, a
           hand-over or the actor's death (:meth:`_fail` wakes all); then back to step 1.

        A follower woken by a hand-over may find its reply already stored: it then returns at step
        1, so it passes the hand-over on to another waiter, or nobody would read for them.  The lock
        is never held across a blocking read, so a follower's timeout fires while the leader waits
        on a slow call, and :meth:`poll` never waits.  Any interruption (Ctrl-C) of a leader stops
        its reading, and of a follower passes on a hand-over it may have taken, so the others are
        never left without a reader.

        Returns:
            ``(True, value)`` or ``(False, exception to raise)``.

        Raises:
            FutureTimeoutError: no reply within ``timeout`` (the request stays pending: ask again).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        me = get_ident()
        gate: threading.Lock | None = None  # ours while registered: woken for our reply, or to take over the reading
        try:
            while True:
                with self._lock:
                    if gate is not None:
                        self._waiting.remove(seq, gate)
                        gate = None
                    reply = self._replies.pop(seq, None)
                    if reply is not None:
                        # A hand-over may have woken us (and been absorbed, our reply being in already):
                        # pass it on, or nobody reads for the others.
                        if self._reader is None:
                            self._waiting.wake_one()
                        return reply
                    if self.error is not None:
                        return False, self._error()
                    if self._reader is None:
                        self._reader = me
                        break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise timeout_error(self._what(seq), timeout)
                    gate = closed_gate()
                    self._waiting.add(seq, gate)
                wait_at(gate, _RECHECK_S if remaining is None else min(remaining, _RECHECK_S))
            return self._read_until(seq, deadline, timeout)
        finally:
            if gate is not None:  # interrupted (Ctrl-C) while waiting
                with self._lock:
                    self._waiting.remove(seq, gate)
                    if self._reader is None:  # a hand-over may have woken us: pass it on
                        self._waiting.wake_one()
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
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
        me = get_ident()
        try:
            with self._lock:
                reply = self._replies.pop(seq, None)
                if reply is not None:
                    return reply
                if self.error is not None:
                    return False, self._error()
                if self._reader is not None:
                    return None  # another thread reads: it stores our reply and never makes us wait
                self._reader = me
            try:
                for frame in self.transport.poll():
                    self._store(frame)
            except PeerClosed:
                self._died(self._what(seq))
        finally:
            try:
                self._stop_reading(me)
            except BaseException:
                self._stop_reading(me)
                raise
        with self._lock:
            reply = self._replies.pop(seq, None)
            if reply is not None:
                return reply
            return (False, self._error()) if self.error is not None else None

    def drop(self, seq: int) -> None:
        with self._lock:
            if self._replies.pop(seq, None) is None and seq in self._pending:
                self._dropped.add(seq)
        if self._released and self._idle():  # nobody can read this actor's replies any more: end it
            self._close_link()

    def _idle(self) -> bool:
        """No request is outstanding whose reply someone may still read."""
        return self._pending.keys() <= self._dropped

    def _store(self, frame: Frame) -> None:
        seq = frame[1]
        request = self._pending.pop(seq, None)
        if request is None:  # nobody asked: its sending was interrupted (Ctrl-C) and given up
            return
        reply = self._reply(frame, *request)
        with self._lock:
            if seq in self._dropped:
                self._dropped.discard(seq)
            else:
                self._replies[seq] = reply
            self._waiting.wake(seq)  # only the thread this reply is for
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

    def _stop_reading(self, me: int) -> None:
        """If thread ``me`` (this one) reads, it stops, and hands the reading over to a waiting thread; then closes
        the link if that is due.  A no-op when done, and a second call finishes what an interrupt cut short, so
        every path that may read ends in ``finally: try: _stop_reading  except: _stop_reading; raise`` (a call can
        be interrupted at its very start: the retry must be the caller's)."""
        if self._reader == me:  # only this thread makes itself the reader, or stops: no lock needed to ask
            with self._lock:
                self._waiting.wake_one()  # before giving up the reading: if cut short, we still read, and retry
                self._reader = None
        if self._close_when_idle and self._reader is None:
            self._close_link()  # clears the flag once closed: if cut short, a second call closes again

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
        with self._lock:
            if self.error is None:
                self.error = reason
            self._waiting.wake_all()
        self.backend.wake_waiters()
        self._cleanup_once()

    def _cleanup_once(self) -> None:
        if not self._cleaned:
            self._cleaned = True
            try:
                self._cleanup()
            except BaseException:  # interrupted (Ctrl-C): the next close or failure does it again
                self._cleaned = False
                raise

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
        with self._lock:
            if self._reader is not None:  # the reader closes it when it is done (closing under a reader could hang it)
                self._close_when_idle = True
                return
        if self.error is None:
            self._fail(ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) was released; create a new one"))
        transport = getattr(self, "transport", None)
        if transport is not None:
            transport.close()
        self._close_when_idle = False  # only now: a close cut short by Ctrl-C is done again by the next reader's stop
        self._cleanup_once()
