"""PARL's ``parl.utils.utils``: framework flags, small helpers, ``kill_process`` and ``check_model_method``.

``_HAS_PADDLE`` / ``_HAS_TORCH`` say whether the package is *installed* (found by ``importlib``, without
importing it: PARL imports them in a subprocess).  ``_HAS_FLUID`` is always False: fastparl needs
paddle >= 2.  ``check_model_method`` is :func:`fastparl.core.checks.check_model_method`, loaded on
first use so that this module stays paddle-free.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import signal
import sys
from typing import Any

import psutil

__all__ = [
    "MAX_INT32",
    "_HAS_FLUID",
    "_HAS_PADDLE",
    "_HAS_TORCH",
    "_IS_MAC",
    "_IS_WINDOWS",
    "check_model_method",  # noqa: F822 - loaded on first use by __getattr__ below
    "check_version_for_fluid",
    "check_version_for_xpu",
    "get_fluid_version",
    "has_func",
    "isnotebook",
    "kill_process",
    "to_byte",
    "to_str",
]


def _installed(name: str) -> bool:
    """Whether ``name`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a blocked or broken install counts as missing
        return False


MAX_INT32 = 0x7FFFFFFF
_HAS_FLUID = False
_HAS_PADDLE = _installed("paddle")
_HAS_TORCH = _installed("torch")
_IS_WINDOWS = sys.platform == "win32"
_IS_MAC = sys.platform == "darwin"


def has_func(obj: Any, fun: str) -> bool:
    """Whether ``obj`` has a callable attribute ``fun``."""
    return callable(getattr(obj, fun, None))


def to_str(byte: bytes) -> str:
    """Decode bytes (UTF-8)."""
    return str(byte.decode())


def to_byte(string: str) -> bytes:
    """Encode a string (UTF-8)."""
    return string.encode()


def get_fluid_version() -> int:
    """paddle's version as PARL's integer (``"2.6.1"`` -> 261; imports paddle)."""
    from fastparl.core import import_paddle

    return int(import_paddle().__version__.replace(".", "").split("-")[0])


def kill_process(regex_pattern: str) -> None:
    """SIGKILL every process (but this one) whose command line matches ``regex_pattern`` (``re.search``).

    PARL runs ``ps aux | grep PATTERN | xargs kill -9``; this matches the same command lines without
    a shell, and never kills the calling process.  Use a pattern only your own processes match.
    """
    pattern = re.compile(regex_pattern)
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info["pid"] == me or not pattern.search(" ".join(cmdline)):
            continue
        try:
            proc.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def isnotebook() -> bool:
    """Whether the code runs in a Jupyter notebook (or qtconsole)."""
    try:
        shell = get_ipython().__class__.__name__  # type: ignore[name-defined]  # noqa: F821 - IPython's global
    except NameError:
        return False
    return bool(shell == "ZMQInteractiveShell")


def check_version_for_xpu() -> None:
    """Raise unless paddle >= 2.0 is installed (PARL's check before using an XPU).

    Raises:
        RuntimeError: paddle is older than 2.0.
    """
    version = get_fluid_version()
    if not (version >= 200 or version == 0):
        raise RuntimeError(f"To use xpu, paddle >= 2.0.0 is required; found paddle {version}")


def check_version_for_fluid() -> None:
    """PARL's fluid (paddle < 2.0) examples cannot run on fastparl.

    Raises:
        RuntimeError: always; port the example to the paddle 2 API (``parl.Model`` on ``paddle.nn``).
    """
    raise RuntimeError("This is a fluid (paddle < 2.0) example: fastparl supports paddle >= 2 only. "
                       "Use the paddle 2 version of the example (parl.Model built from paddle.nn layers).")


def __getattr__(name: str) -> Any:
    if name == "check_model_method":  # in fastparl.core: loaded on first use (core imports paddle)
        value = importlib.import_module("fastparl.core.checks").check_model_method
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastparl.utils.utils' has no attribute {name!r}")
