"""The public calls that go to the backend: ``connect`` / ``disconnect`` / ``current_backend`` / ``kill`` /
``put`` / ``shared_array``."""

from __future__ import annotations

import atexit
import os
import threading
import warnings
from typing import Any

import numpy as np

from fastparl.errors import ConnectionError, FastparlError
from fastparl.remote.backend import Backend, backend_for_target, create_backend
from fastparl.remote.logs import log_mode
from fastparl.remote.hosts import all_loopback, anyone_listens, check_hosts, is_host_list
from fastparl.remote.objref import ObjectRef

__all__ = ["connect", "disconnect", "current_backend", "kill", "is_connected", "put", "shared_array"]

_lock = threading.RLock()
_backend: Backend | None = None
_target: str | None = None


def connect(address: str | None = None, distributed_files: tuple[str, ...] | list[str] = (), *,
            log_to_driver: bool | str = True, log_dir: str | None = None, master_address: str | None = None,
            **options: Any) -> None:
    """Choose where actors run.  Optional: creating an actor connects locally by itself.

    Args:
        address: ``None`` or ``"local"``: one process per actor on this machine (the default, unless
            ``FASTPARL_BACKEND`` or ``FASTPARL_HOSTS`` is set).  ``"serial"``: actors run inside this process,
            for debugging.  ``"ray"`` or ``"ray://HOST:PORT"``: Ray actors (``fastparl[ray]``).
            ``"host:port[,host:port...]"``: worker daemons (``fastparl worker``) on those hosts; if none
            answers at loopback addresses (PARL's ``"localhost:8010"`` with no worker started), the
            local backend runs instead, with a warning.
        distributed_files: files (or glob patterns) to copy to each worker host, next to the actors.
        log_to_driver: where actors' stdout/stderr go. ``True`` (or ``"terminal"``): printed here, each line
            prefixed ``(Class pid=N)``, progress bars (``\r`` updates) at ~10 a second; what an actor wrote
            before a method returned is printed before the call returns.  ``"file"``: one log file per actor
            instead, in ``log_dir`` (also for actors on worker hosts: the driver writes them), read with
            ``fastparl logs``.  ``"both"``: the terminal and the files.  ``False``: no forwarding (local
            actors write straight to this process's stdout/stderr, unprefixed; remote actors' output is dropped).
        log_dir: the folder for the log files of ``log_to_driver="file"`` / ``"both"`` (default: a new folder
            ``<FASTPARL_LOG_DIR or ~/.fastparl/logs>/<YYYYmmdd-HHMMSS>-<driver pid>``, made at the first line).
        master_address: PARL's name for ``address``.
        options: passed to the backend (e.g. ``connect_timeout=`` seconds for worker daemons).

    Raises:
        ConnectionError: already connected elsewhere, the address is malformed, or no worker answers.
        AuthenticationError: a worker refused our token.
    """
    global _backend, _target
    log_mode(log_to_driver)  # ValueError for a value it does not know
    if address is None:
        address = master_address
    if address is None:
        # read here, never at import; FASTPARL_BACKEND names any target (e.g. "ray"), FASTPARL_HOSTS worker daemons
        address = os.environ.get("FASTPARL_BACKEND") or os.environ.get("FASTPARL_HOSTS") or "local"
    target = str(address).strip()
    if is_host_list(target):
        check_hosts(target)
        if all_loopback(target) and not anyone_listens(target):  # PARL's connect("localhost:8010")
            warnings.warn(f"fastparl.connect({target!r}): no fastparl worker listens there, so actors run as "
                          "local processes on this machine (the local backend). Start workers with "
                          "`fastparl worker --port PORT` to use them.", stacklevel=2)
            target = "local"
    try:
        name = backend_for_target(target)
    except FastparlError as e:
        check_hosts(target)  # names the malformed entry, if that is what it is
        raise ConnectionError(str(e)) from None
    with _lock:
        if _backend is not None:
            if target == _target:
                return
            raise ConnectionError(f"fastparl is already connected to {_target!r}; call fastparl.disconnect() "
                                  f"before connecting to {target!r}")
        if log_dir is not None:
            options["log_dir"] = os.path.abspath(os.path.expanduser(log_dir))
        _backend = create_backend(name, target, log_to_driver=log_to_driver, distributed_files=distributed_files,
                                  **options)
        _target = target


def current_backend() -> Backend:
    """The current backend, connecting locally first if nobody called :func:`connect`."""
    b = _backend
    if b is None:
        connect()
        b = _backend
    assert b is not None
    return b


def is_connected() -> bool:
    return _backend is not None


def disconnect() -> None:
    """Stop every actor and the backend's helper processes.  Runs by itself at exit."""
    global _backend, _target
    with _lock:
        b, _backend, _target = _backend, None, None
    if b is not None:
        b.shutdown()


atexit.register(disconnect)


def kill(proxy: Any) -> None:
    """Stop an actor's process now.  Later calls on it raise :class:`fastparl.errors.ActorDiedError`."""
    actor = getattr(proxy, "__dict__", {}).get("_fp_actor")
    if actor is None:
        raise TypeError(f"fastparl.kill() takes an instance of a @remote_class, got {type(proxy).__name__}")
    actor.kill()


def put(obj: Any) -> ObjectRef:
    """Store ``obj`` once and return a reference to pass to actors.

    Use it to broadcast the same large data (weights, a dataset) to many actors: one write,
    then each actor reads it in place instead of receiving its own copy.
    """
    return current_backend().put(obj)


def shared_array(shape: int | tuple[int, ...], dtype: Any = np.float32, fill: Any = None) -> np.ndarray:
    """Allocate an array that lives in shared memory.

    Passing it to (or returning it from) an actor costs a small handle whatever its size, and
    the actor sees the same memory: it can write results in place (rollout buffers, observations).

    Args:
        shape: array shape.
        dtype: NumPy dtype (default float32).
        fill: optional value to fill with (the memory starts zeroed).

    Returns:
        A :class:`fastparl.SharedArray` (an ``np.ndarray`` subclass).

    Raises:
        FastparlError: the backend cannot share memory with its actors in place.
    """
    b = current_backend()
    b.require("shared_memory", "fastparl.shared_array()",
              "Its actors cannot see this machine's memory: pass ordinary NumPy arrays (they travel as "
              "zero-copy frames) and return results from the actor's methods instead.")
    return b.shared_array(shape, dtype, fill)


def __getattr__(name: str) -> Any:
    if name == "backend":  # the old name of current_backend (deprecated; removed in the next release)
        warnings.warn("fastparl.remote.api.backend() is deprecated: use fastparl.remote.current_backend()",
                      DeprecationWarning, stacklevel=2)
        return current_backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
