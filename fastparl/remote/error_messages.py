"""Every error message of the runtime that more than one place builds, in one module.

Error reports on the wire are built in the actor (:func:`error_info`) and rebuilt in the driver
(:func:`build_error`), the same whatever backend carried them.  The texts name the cause and the
fix: a request (:func:`describe_request`), a timeout (:func:`timeout_error`), an actor's exit
(:func:`describe_exit`), an unpicklable argument (:func:`describe_unpicklable`), a reply that does
not unpickle (:func:`unpicklable_reply`), running out of descriptors (:func:`fd_error`).
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import traceback
from typing import Any

import cloudpickle

from fastparl.errors import FastparlError, FutureTimeoutError, RemoteAttributeError, RemoteError, \
    ResourceError, SerializationError
from fastparl.remote.protocol import GETATTR, SETATTR
from fastparl.remote.serialization import PROTOCOL

__all__ = ["first_line", "build_error", "error_info", "unpicklable_reply", "no_pickle", "describe_request", "timeout_error",
           "describe_exit", "describe_unpicklable", "fd_error"]

_subclasses: dict[type, type] = {}


def first_line(error: BaseException, empty: str | None = None, limit: int = 300) -> str:
    """The first line of ``str(error)`` (at most ``limit`` characters): how a log line or a list of causes names
    an error.  An empty message gives ``empty`` (default: the error's type name)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__ if empty is None else empty
    return text.splitlines()[0][:limit]


def build_error(info: tuple, what: str) -> BaseException:
    """Rebuild the exception an actor reported.

    ``info`` is :func:`error_info`'s tuple.  The result is a :class:`RemoteError` that is *also* an
    instance of the original exception type where that is possible (so ``except ValueError`` keeps
    working, even when the exception itself could not travel but its class can be imported here),
    with the original exception as ``__cause__`` when it unpickles and the remote traceback in the
    message.
    """
    type_name, message, tb, pickled, kind, pid, pickled_type = info
    text = f"{type_name} in {what} (actor pid {pid}): {message}\n\nRemote traceback:\n{tb.rstrip()}"
    original: BaseException | None = None
    exc_type: type | None = None
    if pickled is not None:
        try:
            original = pickle.loads(pickled)
        except Exception:  # noqa: BLE001
            original = None
    if original is None and pickled_type is not None:  # the exception did not travel, its class may
        try:
            exc_type = pickle.loads(pickled_type)
        except Exception:  # noqa: BLE001  (not importable here)
            exc_type = None
    if kind == "serialization":
        err: BaseException = SerializationError(text)
    elif kind == "attr":
        err = RemoteAttributeError(
            f"{what}: {message}. Check the name; the actor's methods are those of its class, and its attributes "
            f"are whatever its methods set on self.", tb, original, type_name)
    else:
        err = _remote_error(text, tb, original, type_name, exc_type)
    if original is not None:
        err.__cause__ = original
    return err


def _remote_error(text: str, tb: str, original: BaseException | None, type_name: str,
                  exc_type: type | None = None) -> RemoteError:
    if original is not None:
        exc_type = type(original)
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
    """The report of ``exc`` for an ERR reply.

    ``(type name, message, traceback, pickled exception or None, kind, pid, pickled class or None)``:
    the class travels by reference (plain pickle) when the exception itself does not pickle (e.g. a
    lock among its arguments), so that the driver can still raise an instance of it.  Never raises,
    whatever the exception's ``__str__`` or ``__reduce__`` do: the actor must outlive its errors.
    ``hide`` is a source file whose frames are dropped from the top of the traceback (the actor loop).
    """
    frames = exc.__traceback__
    while frames is not None and hide is not None and frames.tb_frame.f_code.co_filename == hide:
        frames = frames.tb_next
    tb = "".join(traceback.format_exception(type(exc), exc, frames))  # renders a failing str() itself
    try:
        message = str(exc)
    except Exception as e:  # noqa: BLE001
        message = f"<the message could not be rendered: its __str__ raised {_safe_text(e)}>"
    pickled_type = None
    try:
        pickled = cloudpickle.dumps(exc.with_traceback(None), protocol=5)
        pickle.loads(pickled)  # only send what the driver will be able to rebuild
    except Exception:  # noqa: BLE001
        pickled = None
        try:
            pickled_type = pickle.dumps(type(exc), protocol=5)  # by reference: importable classes only
        except Exception:  # noqa: BLE001
            pickled_type = None
    return (type(exc).__qualname__, message, tb, pickled, kind, os.getpid(), pickled_type)


def _safe_text(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, or just its type name where even that fails."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001
        return type(exc).__name__


def describe_request(cls_name: str, op: int, name: str) -> str:
    """Text naming a request in error messages."""
    if op == GETATTR:
        return f"{cls_name}.{name}"
    if op == SETATTR:
        return f"setting {cls_name}.{name}"
    return f"{cls_name}.{name}()"


def timeout_error(what: str, timeout: float | None) -> FastparlError:
    return FutureTimeoutError(f"{what} did not finish within {timeout} s; it is still running: call .result() "
                              "again later, or fastparl.kill() the actor to stop it")


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it), with a likely cause."""
    if code is None:
        return "(exit status unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (killed: out of memory, or by a user)", "SIGSEGV": " (segmentation fault in native code)",
                "SIGABRT": " (aborted by native code)"}.get(name, "")
        return f"from {name}{hint}"
    return f"with exit code {code}"


def describe_unpicklable(what: str, args: tuple = (), kwargs: dict | None = None, exc: BaseException | None = None,
                         value: Any = None) -> SerializationError:
    """Build a :class:`SerializationError` that names the culprit (which argument) and the fix."""
    culprit = ""
    for i, a in enumerate(args):
        if _fails(a):
            culprit = f"positional argument {i} ({type(a).__name__})"
            break
    else:
        for k, v in (kwargs or {}).items():
            if _fails(v):
                culprit = f"keyword argument {k!r} ({type(v).__name__})"
                break
    if not culprit and value is not None:
        culprit = f"value of type {type(value).__name__}"
    where = f"{what}: {culprit}" if culprit else what
    return SerializationError(
        f"could not pickle {where}: {type(exc).__name__ if exc else 'error'}: {exc}. "
        "Arguments and results of remote calls must be picklable (by pickle or cloudpickle): pass plain data "
        "(NumPy arrays, numbers, lists, dicts) instead of open files, locks, sockets, generators or live "
        "paddle tensors, or create such objects inside the actor.")


def _fails(obj: Any) -> bool:
    try:
        cloudpickle.dumps(obj, PROTOCOL, buffer_callback=lambda b: False)
        return False
    except Exception:  # noqa: BLE001
        return True


def fd_error(what: str, err: OSError) -> ResourceError:
    """The error for running out of descriptors (EMFILE/ENFILE) while doing ``what``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = f"has {len(os.listdir('/proc/self/fd'))} open"
    except OSError:  # listing them needs one more
        used = "has them all open"
    return ResourceError(
        f"out of file descriptors while {what} ({os.strerror(err.errno or 0)}): this process (pid {os.getpid()}) "
        f"{used} and may open {soft} (hard limit {hard}). Each actor holds 2 in the driver and each "
        "shared array or put() reference 1. Raise the limit (`ulimit -n 65536` in the shell, or in "
        "/etc/security/limits.conf), or use fewer, larger shared arrays and release actors you no longer need.")
