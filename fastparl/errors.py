"""Exceptions raised by fastparl.  Every one derives from :class:`FastparlError`."""

from __future__ import annotations

import builtins

__all__ = [
    "FastparlError",
    "RemoteError",
    "RemoteAttributeError",
    "ActorDiedError",
    "SerializationError",
    "ResourceError",
    "ConnectionError",
    "AuthenticationError",
    "FutureTimeoutError",
]


class FastparlError(Exception):
    """Base class of every fastparl error."""


class RemoteError(FastparlError):
    """An exception was raised inside an actor.

    The message names the remote exception type and holds the remote traceback, also kept as
    :attr:`remote_traceback`.  When the original exception could be unpickled it is the
    ``__cause__`` (and :attr:`remote_exception`).
    """

    def __init__(self, message: str, remote_traceback: str = "", remote_exception: BaseException | None = None,
                 exc_type: str = ""):
        BaseException.__init__(self, message)  # not super(): a RemoteError may also subclass the remote type
        self.remote_traceback = remote_traceback
        self.remote_exception = remote_exception
        self.exc_type = exc_type

    def __reduce__(self):  # keep the extra fields when pickled (e.g. re-raised through another actor)
        return (type(self), (self.args[0] if self.args else "", self.remote_traceback, None, self.exc_type))


class RemoteAttributeError(RemoteError, builtins.AttributeError):
    """The actor has no such attribute or method (also an ``AttributeError``, so ``hasattr`` works)."""


class ActorDiedError(FastparlError):
    """The actor's process is gone (crashed, killed, out of memory, or ``fastparl.kill``-ed)."""

    def __init__(self, message: str, exitcode: int | None = None, stderr_tail: str = ""):
        super().__init__(message)
        self.exitcode = exitcode
        self.stderr_tail = stderr_tail


class SerializationError(FastparlError):
    """An argument or a result could not be pickled or unpickled."""


class ResourceError(FastparlError):
    """A resource limit was hit: ``max_memory`` exceeded, or not enough free GPUs."""


class ConnectionError(FastparlError, builtins.ConnectionError):
    """A remote host could not be reached, or the connection was lost."""


class AuthenticationError(ConnectionError):
    """The remote host rejected our token (or we rejected its)."""


class FutureTimeoutError(FastparlError, builtins.TimeoutError):
    """``Future.result(timeout)`` or ``fastparl.wait`` ran out of time (the call keeps running)."""
