"""The actor side, written once: build the user's object, then run its requests one at a time, in order.

:class:`Dispatcher` turns a request (``INIT`` / ``CALL`` / ``GETATTR`` / ``SETATTR``) into a reply
(``OK`` / ``ERR`` / ``CALLABLE``; payloads in :mod:`.protocol`).  It is used by forked actors
(:func:`serve`, over any :class:`~fastparl.remote.transport.Link`), by the serial backend (in the
caller's process), by worker daemons' actors and by Ray actors.  How the class of ``INIT`` arrives
is :mod:`.class_transfer`'s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastparl.remote.class_transfer import resolve_class
from fastparl.remote.error_messages import error_info
from fastparl.remote.protocol import CALL, CALLABLE, ERR, GETATTR, INIT, OK, OUTPUT, SETATTR
from fastparl.remote.transport import Link

__all__ = ["Dispatcher", "serve", "WRITTEN"]

# Bytes this process wrote to its stdout and stderr through Python's sys.stdout / sys.stderr:
# [total, stdout, stderr], kept by the counting streams a forked actor installs (:mod:`.local.host`).
WRITTEN = [0, 0, 0]


class Dispatcher:
    """Runs the requests of one actor.  Never raises for the user's errors: they become ERR replies.

    Attributes:
        obj: the user's object once ``INIT`` succeeded.
        failed: ``INIT`` failed; the actor should send the reply and exit.
    """

    def __init__(self) -> None:
        self.obj: Any = None
        self.cls_name = "?"
        self.failed = False
        self.what = ""  # the request being run, for error messages about its reply

    def handle(self, op: int, payload: Any) -> tuple[int, Any]:
        """Execute one request; returns ``(reply op, reply payload)``."""
        if op == CALL:
            name, args, kwargs = payload
            payload = None
            self.what = name
            try:
                fn = getattr(self.obj, name)
            except AttributeError as e:
                return ERR, error_info(e, "attr", __file__)
            try:
                return OK, (fn(*args) if kwargs is None else fn(*args, **kwargs))
            except Exception as e:  # noqa: BLE001 - the caller gets it as RemoteError
                return ERR, error_info(e, "remote", __file__)
        if op == GETATTR:
            self.what = payload
            try:
                value = getattr(self.obj, payload)
            except AttributeError as e:
                return ERR, error_info(e, "attr", __file__)
            if callable(value) and not isinstance(value, type):
                return CALLABLE, None
            return OK, value
        if op == SETATTR:
            name, value = payload
            try:
                setattr(self.obj, name, value)
            except Exception as e:  # noqa: BLE001
                return ERR, error_info(e, "remote", __file__)
            return OK, None
        if op == INIT:
            return self._init(payload)
        return ERR, error_info(RuntimeError(f"unknown request op {op}"), "remote")

    def _init(self, payload: Any) -> tuple[int, Any]:
        spec, args, kwargs = payload  # unpickled already: sys.path and cwd were set before (protocol.INIT)
        try:
            cls = resolve_class(spec)
            self.cls_name = cls.__name__
            self.obj = cls(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            self.failed = True
            return ERR, error_info(e, "remote", __file__)
        return OK, None

    def unpickle_failed(self, op: int, err: BaseException) -> tuple[int, Any]:
        what = "the arguments of a call" if op == CALL else "a message"
        exc = RuntimeError(f"could not unpickle {what} in the actor ({self.cls_name}): {type(err).__name__}: {err}")
        return ERR, error_info(exc, "serialization")

    def unsendable(self, op: int, err: BaseException) -> tuple[int, Any]:
        """The reply to use when the result of a request could not be pickled."""
        what = f"the result of {self.cls_name}.{self.what}()" if op == CALL else f"attribute {self.cls_name}.{self.what}"
        exc = TypeError(f"{what} could not be pickled: {type(err).__name__}: {err}. "
                        "Return plain data (NumPy arrays, numbers, lists, dicts) from actor methods.")
        return ERR, error_info(exc, "serialization")


def serve(transport: Link, closed: type[BaseException]) -> int:
    """Answer requests from ``transport`` until the driver goes away (``closed`` is raised).

    Replies to requests that arrived together leave together (one system call for many: pipelined
    futures), but a reply never waits behind a request that runs: see :class:`_Batch`.  Returns the
    process exit code.
    """
    d = Dispatcher()
    batch = _Batch(transport) if hasattr(transport, "has_frame") else None
    written = WRITTEN
    seen = written[0]  # a request that wrote output replies OUTPUT, so that its output comes first at the driver
    while True:
        try:
            frame = transport.recv()
        except closed:
            return 0
        if frame is None:
            continue
        op, seq, payload, err = frame
        frame = None
        if err is not None:
            rop, rpayload = d.unpickle_failed(op, err)
        else:
            rop, rpayload = d.handle(op, payload)
        payload = None  # drop views of the arguments before replying: their releases ride on the reply
        if written[0] != seen:  # one comparison: nothing for requests that wrote nothing
            seen = written[0]
            rop, rpayload = OUTPUT, (rop, rpayload, written[1], written[2])
        try:
            if batch is not None:
                batch.send(rop, seq, rpayload)
            else:
                transport.send(rop, seq, rpayload)
        except closed:
            return 0
        except Exception as e:  # noqa: BLE001 - an unpicklable result
            rpayload = None
            rop, rpayload = d.unsendable(op, e)
            if seen:
                rop, rpayload = OUTPUT, (rop, rpayload, written[1], written[2])
            (batch or transport).send(rop, seq, rpayload)
        rpayload = None
        if d.failed:
            if batch is not None:
                batch.flush()
            return 1


class _Batch:
    """Reply batching that never holds a reply behind a running request.

    A reply is kept back only while the next request has already arrived (pipelined futures), so
    that many replies leave in one ``send``.  If that next request runs longer than ``HOLD_S``, a
    timer thread sends what is kept back, so the caller waiting for it gets it within about
    ``HOLD_S`` (up to Python's thread switch interval, 5 ms, while the request runs pure-Python
    code).  Nothing is kept back when no request is waiting: the actor then blocks in ``recv``.
    """

    HOLD_S = 0.0005

    def __init__(self, transport: Any):
        self.ch = transport
        self.kept: list[bytes] = []
        self.deadline = 0.0
        self.cond = threading.Condition(threading.Lock())  # also serialises every write to the socket
        self.thread: threading.Thread | None = None

    def send(self, op: int, seq: int, payload: Any) -> None:
        ch = self.ch
        with self.cond:
            if not self.kept and not ch.has_frame():  # the common case: nothing kept, nothing waiting
                ch.send(op, seq, payload)
                return
        data, fds = ch.encode(op, seq, payload)
        with self.cond:
            if not fds and self.ch.has_frame():  # the next request is here already: keep this reply
                self.kept.append(data)
                if len(self.kept) == 1:
                    self.deadline = time.monotonic() + self.HOLD_S
                    if self.thread is None:
                        self.thread = threading.Thread(target=self._timer, name="fastparl-replies", daemon=True)
                        self.thread.start()
                    self.cond.notify()
                return
            if self.kept:
                self.kept.append(data)
                data = b"".join(self.kept)
                self.kept.clear()
            self.ch.send_raw(data, fds)

    def flush(self) -> None:
        with self.cond:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self.kept:
            data = b"".join(self.kept)
            self.kept.clear()
            self.ch.send_raw(data, [])

    def _timer(self) -> None:
        cond = self.cond
        with cond:
            while True:
                if not self.kept:
                    cond.wait()
                    continue
                remaining = self.deadline - time.monotonic()
                if remaining > 0:
                    cond.wait(remaining)
                    continue
                try:
                    self._flush_locked()
                except Exception:  # noqa: BLE001 - the link is gone: the main loop sees it too
                    self.kept.clear()
