"""Error reports on the wire: built in the actor (:func:`error_info`), rebuilt in the driver (:func:`build_error`).

Shared by every backend, so that a remote exception looks the same whatever carried it.
"""

from __future__ import annotations

import os
import pickle
import traceback
from typing import Any

import cloudpickle

from fastparl.errors import RemoteAttributeError, RemoteError, SerializationError

__all__ = ["build_error", "error_info", "CALLABLE_ATTR", "unpicklable_reply", "no_pickle"]

CALLABLE_ATTR = object()  # a GETATTR reply meaning: the attribute is a method, call it by name
_subclasses: dict[type, type] = {}


def build_error(info: tuple, what: str) -> BaseException:
    """Rebuild the exception an actor reported.

    ``info`` is ``(type name, message, traceback, pickled exception or None, kind, pid)``.  The
    result is a :class:`RemoteError` that is *also* an instance of the original exception type
    where that is possible (so ``except ValueError`` keeps working), with the original
    exception as ``__cause__`` and the remote traceback in the message.
    """
    type_name, message, tb, pickled, kind, pid = info
    text = f"{type_name} in {what} (actor pid {pid}): {message}\n\nRemote traceback:\n{tb.rstrip()}"
    original: BaseException | None = None
    if pickled is not None:
        try:
            original = pickle.loads(pickled)
        except Exception:  # noqa: BLE001
            original = None
    if kind == "serialization":
        err: BaseException = SerializationError(text)
    elif kind == "attr":
        err = RemoteAttributeError(
            f"{what}: {message}. Check the name; the actor's methods are those of its class, and its attributes "
            f"are whatever its methods set on self.", tb, original, type_name)
    else:
        err = _remote_error(text, tb, original, type_name)
    if original is not None:
        err.__cause__ = original
    return err


def _remote_error(text: str, tb: str, original: BaseException | None, type_name: str) -> RemoteError:
    exc_type = type(original) if original is not None else None
    if exc_type is not None and issubclass(exc_type, Exception) and not issubclass(exc_type, RemoteError):
        cls = _subclasses.get(exc_type)
        if cls is None:
            try:
                cls = type(f"RemoteError[{exc_type.__name__}]", (RemoteError, exc_type), {"__str__": RemoteError.__str__})
            except TypeError:  # e.g. a final or layout-conflicting exception type
                cls = RemoteError
            _subclasses[exc_type] = cls
        try:
            err: RemoteError = BaseException.__new__(cls)
            RemoteError.__init__(err, text, tb, original, type_name)
            err.__dict__.update(getattr(original, "__dict__", {}))  # e.g. errno, or a custom .code
            return err
        except Exception:  # noqa: BLE001
            pass
    return RemoteError(text, tb, original, type_name)


def unpicklable_reply(what: str, err: BaseException) -> SerializationError:
    return SerializationError(f"the reply of {what} could not be unpickled in the driver: {type(err).__name__}: "
                              f"{err}. Is the module that defines its type importable here?")


def no_pickle(obj: Any) -> None:
    raise SerializationError(f"{type(obj).__name__} (an actor handle) cannot be pickled or sent to another actor")


def error_info(exc: BaseException, kind: str = "remote", hide: str | None = None) -> tuple:
    """The report of ``exc`` for an ERR reply: ``(type name, message, traceback, pickled or None, kind, pid)``.

    ``hide`` is a source file whose frames are dropped from the top of the traceback (the actor loop).
    """
    frames = exc.__traceback__
    while frames is not None and hide is not None and frames.tb_frame.f_code.co_filename == hide:
        frames = frames.tb_next
    tb = "".join(traceback.format_exception(type(exc), exc, frames))
    try:
        pickled = cloudpickle.dumps(exc.with_traceback(None), protocol=5)
        pickle.loads(pickled)  # only send what the driver will be able to rebuild
    except Exception:  # noqa: BLE001
        pickled = None
    return (type(exc).__qualname__, str(exc), tb, pickled, kind, os.getpid())
