"""The actor side: build the user's object, then execute its calls one at a time, in order.

Used by the fork server's children (local backend) and, with an in-process channel, by
nothing else: the serial backend calls objects directly.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import pickle
import socket
import sys
import time
import traceback
import weakref
from typing import Any

import cloudpickle

from fastparl.remote.channel import Channel, PeerClosed
from fastparl.remote.protocol import CALL, CALLABLE, ERR, GETATTR, INIT, OK, SETATTR

__all__ = ["serve", "error_info", "resolve_class", "class_spec"]

SLOW_CALL_S = 1e-3  # replies of methods slower than this are never held back for batching


_specs: "weakref.WeakKeyDictionary[type, tuple]" = weakref.WeakKeyDictionary()


def class_spec(cls: type) -> tuple:
    """How to ship ``cls`` to an actor: by reference when the actor can import it, else by value.

    By reference needs the class's module to be importable from ``sys.path`` (which the actor
    receives): classes of ``__main__``, of functions' bodies, or of modules loaded from a file
    path under a made-up name go by value (cloudpickle).
    """
    spec = _specs.get(cls)
    if spec is None:
        module = getattr(cls, "__module__", None)
        qualname = getattr(cls, "__qualname__", "")
        spec = None
        if module and module != "__main__" and "<locals>" not in qualname and _importable(module):
            try:
                found = _lookup(module, qualname)
                if getattr(found, "_fp_cls", found) is cls:
                    spec = ("ref", module, qualname)
            except Exception:  # noqa: BLE001 - ship by value
                pass
        if spec is None:
            spec = ("value", _dumps_by_value(cls, module))
        _specs[cls] = spec
    return spec


def _dumps_by_value(cls: type, module: str | None) -> bytes:
    """cloudpickle ``cls`` with its module's contents by value (cloudpickle alone would refer to
    a module that sits in ``sys.modules`` by name, which the actor may not be able to import)."""
    mod = sys.modules.get(module or "")
    registered = False
    if mod is not None and module != "__main__":
        try:
            cloudpickle.register_pickle_by_value(mod)
            registered = True
        except ValueError:
            pass
    try:
        return cloudpickle.dumps(cls, protocol=5)
    finally:
        if registered:
            cloudpickle.unregister_pickle_by_value(mod)


def _importable(module: str) -> bool:
    top = module.partition(".")[0]
    if top in sys.builtin_module_names:
        return True
    try:
        return importlib.machinery.PathFinder.find_spec(top, sys.path) is not None
    except (ImportError, ValueError):
        return False


def _lookup(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_class(spec: tuple) -> type:
    if spec[0] == "ref":
        obj = _lookup(spec[1], spec[2])
    else:
        obj = pickle.loads(spec[1])
    return getattr(obj, "_fp_cls", obj)  # a decorated class resolves to the proxy: take the real one


def error_info(exc: BaseException, kind: str = "remote") -> tuple:
    """(type name, message, traceback text, pickled exception or None, kind) for an ERR frame."""
    frames = exc.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename == __file__:  # hide the actor loop
        frames = frames.tb_next
    tb = "".join(traceback.format_exception(type(exc), exc, frames))
    try:
        pickled = cloudpickle.dumps(exc.with_traceback(None), protocol=5)
        pickle.loads(pickled)  # only send what the driver will be able to rebuild
    except Exception:  # noqa: BLE001
        pickled = None
    return (type(exc).__qualname__, str(exc), tb, pickled, kind, os.getpid())


def serve(sock_fd: int, fd_sock: int) -> int:
    """Run the actor loop on the connected sockets until the driver goes away."""
    ch = Channel(socket.socket(fileno=sock_fd), socket.socket(fileno=fd_sock))
    obj: Any = None
    cls_name = "?"
    slow: set[str] = set()
    while True:
        try:
            frame = ch.recv()
        except PeerClosed:
            return 0
        if frame is None:  # only with a timeout, which this loop does not use
            continue
        op, seq, payload, err = frame
        if err is not None:
            what = "the arguments of a call" if op == CALL else "a message"
            _reply_error(ch, seq, RuntimeError(f"could not unpickle {what} in the actor ({cls_name}): "
                                               f"{type(err).__name__}: {err}"), "serialization")
            continue
        if op == CALL:
            name, args, kwargs = payload
            payload = None
            try:
                fn = getattr(obj, name)
            except AttributeError as e:
                args = kwargs = None
                _reply_error(ch, seq, e, "attr")
                continue
            if name in slow:
                ch.flush()
            t0 = time.perf_counter()
            try:
                result = fn(*args) if kwargs is None else fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the caller gets it as RemoteError
                fn = args = kwargs = None  # drop views of the arguments before replying (releases ride on it)
                _reply_error(ch, seq, e)
                continue
            fn = args = kwargs = None
            if time.perf_counter() - t0 > SLOW_CALL_S:
                slow.add(name)
            _reply(ch, seq, result, ch.has_frame() and name not in slow, cls_name, name)
            result = None
        elif op == GETATTR:
            try:
                value = getattr(obj, payload)
            except AttributeError as e:
                _reply_error(ch, seq, e, "attr")
                continue
            if callable(value) and not isinstance(value, type):
                ch.send(CALLABLE, seq, None)
            else:
                _reply(ch, seq, value, False, cls_name, payload, "attribute ")
            value = None
        elif op == SETATTR:
            name, value = payload
            payload = None
            try:
                setattr(obj, name, value)
            except Exception as e:  # noqa: BLE001
                value = None
                _reply_error(ch, seq, e)
                continue
            value = None
            ch.send(OK, seq, None)
        elif op == INIT:
            spec, args, kwargs, path, cwd = payload
            payload = None
            try:
                sys.path[:] = path
                try:
                    os.chdir(cwd)
                except OSError:
                    pass
                cls = resolve_class(spec)
                cls_name = cls.__name__
                obj = cls(*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                args = kwargs = None
                _reply_error(ch, seq, e)
                ch.flush()
                return 1
            args = kwargs = None
            ch.send(OK, seq, None)


def _reply(ch: Channel, seq: int, value: Any, defer: bool, cls_name: str, name: str, kind: str = "") -> None:
    try:
        ch.send(OK, seq, value, defer=defer)
    except PeerClosed:
        raise
    except Exception as e:  # noqa: BLE001 - unpicklable result
        what = f"attribute {cls_name}.{name}" if kind else f"{cls_name}.{name}()"
        err = TypeError(f"the result of {what} could not be pickled: {type(e).__name__}: {e}. "
                        "Return plain data (NumPy arrays, numbers, lists, dicts) from actor methods.")
        _reply_error(ch, seq, err, "serialization")


def _reply_error(ch: Channel, seq: int, exc: BaseException, kind: str = "remote") -> None:
    ch.send(ERR, seq, error_info(exc, kind))
