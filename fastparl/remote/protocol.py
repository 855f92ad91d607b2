"""The requests and replies exchanged by drivers, actors and the fork server, field by field.

Every message is a *frame* ``(op, seq, payload)``: an operation code below, the sequence number
the requester gave it (a reply carries the number of its request), and a pickled payload.  How a
frame is laid out in bytes is the transport's: :mod:`.local.channel` (Unix sockets and shared
memory) and :mod:`.zmq.wire` (ZeroMQ frames) each open with their layout.  A receiver gets
``(op, seq, payload, error)`` where ``error`` is the exception that unpickling the payload raised
(then ``payload`` is None), so that a bad payload fails one request, not the link.

Driver -> actor (answered by :class:`~fastparl.remote.dispatcher.Dispatcher`):

========  ==================================================================================
op        payload
========  ==================================================================================
INIT      ``(class spec, args, kwargs)``: build the object; the spec is
          :func:`fastparl.remote.class_transfer.class_spec`'s.  The actor's process has the
          driver's ``sys.path`` and working directory before INIT arrives (SPAWN's ``"path"`` and
          ``"cwd"``; a Ray actor's constructor), so that classes of the arguments import as they
          do in the driver; an actor on another host keeps its own.
CALL      ``(method name, args tuple, kwargs dict or None)``
GETATTR   ``name``
SETATTR   ``(name, value)``
========  ==================================================================================

Actor -> driver, one reply per request:

========  ==================================================================================
OK        the result (``None`` for INIT and SETATTR)
ERR       the error report ``(type name, message, traceback text, pickled exception or None,
          kind, pid)`` of :func:`fastparl.remote.error_messages.error_info`; ``kind`` is
          ``"remote"`` (the user's code raised), ``"attr"`` (no such attribute) or
          ``"serialization"`` (a payload did not pickle or unpickle)
CALLABLE  ``None``: the reply to GETATTR of a method; the driver returns a callable that calls
          it by name (:data:`CALLABLE_ATTR` stands for it between handle and proxy)
OUTPUT    ``(op, payload, stdout bytes, stderr bytes)``: the reply ``(op, payload)`` of a request
          during which the actor wrote output; the counts are all the bytes it wrote to its
          stdout / stderr so far: the driver waits until it printed that much before it hands the
          reply over (:meth:`fastparl.remote.local.monitor.Monitor.sync`)
========  ==================================================================================

Driver <-> fork server (:mod:`.local.forkserver`), over the same channel format:

========  ==================================================================================
SPAWN     ``{"env": dict, "path": sys.path, "cwd": str, "overrides": {name: value or None},
          "name": class name, "nfds": n}`` and ``n`` descriptors sent just before the frame (the
          actor's two sockets); a worker daemon's actor has ``"nfds": 0``, ``"zmq": {endpoint,
          identity, nonce, token, curve}`` (see :mod:`.zmq.host`), its shipped files' ``"cwd"``
          and no ``"path"`` (it keeps the worker's); reply OK with the actor's pid, or ERR
STATUS    an actor's pid; reply OK with its exit code (negative: the signal) or ``None``
OK        sent once by the fork server when it is ready (``seq`` 0, payload its pid)
========  ==================================================================================
"""

# driver -> actor
INIT = 1
CALL = 2
GETATTR = 3
SETATTR = 4
# actor -> driver
OK = 10
ERR = 11
CALLABLE = 12
OUTPUT = 13
# driver <-> fork server
SPAWN = 20
STATUS = 21

CALLABLE_ATTR = object()  # what a handle's getattr returns for a CALLABLE reply: call the attribute by name


class PeerClosed(Exception):
    """The other end of a link is gone (its process exited, or the link was closed)."""
