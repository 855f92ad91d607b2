"""A PARL-style global logger: ``from fastparl.utils import logger; logger.info(...)``.

Same functions as ``parl.utils.logger``: ``info``, ``warning``, ``error``, ``debug``, ...,
``set_dir`` (log to ``<dir>/log.log`` as well as stdout), ``get_dir``, ``auto_set_dir``,
``set_level``, ``add_stdout_handler`` and ``remove_handler``.  Unlike PARL it needs no
``termcolor`` (colours are plain ANSI codes, used only on a terminal) and it logs nothing
at import.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import datetime
from typing import Any

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "WARNING",
    "add_stdout_handler",
    "auto_set_dir",
    "critical",
    "debug",
    "error",
    "exception",
    "get_dir",
    "info",
    "info_once",
    "remove_handler",
    "setLevel",
    "set_dir",
    "set_level",
    "warn",
    "warning",
]

DEBUG, INFO, WARNING, ERROR, CRITICAL = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)

LOG_DIR: str | None = None
_FILE_HANDLER: logging.FileHandler | None = None

_COLORS = {logging.WARNING: "33", logging.ERROR: "31", logging.CRITICAL: "31", logging.DEBUG: "34"}
_TAGS = {logging.WARNING: "WRN ", logging.ERROR: "ERR ", logging.CRITICAL: "ERR ", logging.DEBUG: "DEBUG "}


class _Formatter(logging.Formatter):
    """``[date thread @file:line] TAG message``, coloured when ``color`` is true."""

    def __init__(self, color: bool) -> None:
        super().__init__(datefmt="%m-%d %H:%M:%S")
        self._color = color

    def format(self, record: logging.LogRecord) -> str:
        head = "[%(asctime)s %(threadName)s @%(filename)s:%(lineno)d]"
        tag = _TAGS.get(record.levelno, "")
        if self._color:
            code = _COLORS.get(record.levelno, "32")
            head = f"\033[{code}m{head}\033[0m"
            if tag:
                tag = f"\033[{code}m{tag}\033[0m"
        self._style._fmt = f"{head} {tag}%(message)s"
        return super().format(record)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _StdoutHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stdout`` (so redirection and capture work)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _make_logger() -> logging.Logger:
    log = logging.getLogger("fastparl")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    if not log.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(_Formatter(color=_isatty(sys.stdout)))
        log.addHandler(handler)
    return log


_logger = _make_logger()

info = _logger.info
warning = _logger.warning
warn = _logger.warning
error = _logger.error
critical = _logger.critical
exception = _logger.exception
debug = _logger.debug
setLevel = _logger.setLevel  # noqa: N816 - PARL's name

_SEEN: set[str] = set()


def info_once(msg: str, *args: Any) -> None:
    """Log ``msg`` at INFO level the first time it is passed, and never again (e.g. inside a loop)."""
    if msg in _SEEN:
        return
    _SEEN.add(msg)
    _logger.info(msg, *args, stacklevel=2)


def _set_file(path: str) -> None:
    global _FILE_HANDLER
    if _FILE_HANDLER is not None:
        _logger.removeHandler(_FILE_HANDLER)
        _FILE_HANDLER.close()
        _FILE_HANDLER = None
    handler = logging.FileHandler(filename=path, encoding="utf-8", mode="w")
    handler.setFormatter(_Formatter(color=False))
    _FILE_HANDLER = handler
    _logger.addHandler(handler)


def set_level(level: int | str) -> None:
    """Set the logging level, e.g. ``logger.set_level(logger.WARNING)``."""
    _logger.setLevel(level)


def set_dir(dirname: str) -> None:
    """Log to ``<dirname>/log.log`` too.  As in PARL, an existing ``dirname`` is deleted first.

    Args:
        dirname: the log directory.
    """
    global LOG_DIR
    if _FILE_HANDLER is not None:  # close it first so the directory can be removed
        _logger.removeHandler(_FILE_HANDLER)
        _FILE_HANDLER.close()
    shutil.rmtree(dirname, ignore_errors=True)
    os.makedirs(dirname, exist_ok=True)
    LOG_DIR = dirname
    _set_file(os.path.join(dirname, "log.log"))


def auto_set_dir(action: str | None = None) -> str:
    """Log to ``./train_log/<script name>/log.log``.

    Args:
        action: what to do when the directory exists and is not empty: ``"d"`` delete it,
            ``"k"`` keep it, ``"n"`` use a new directory with a time suffix, ``"q"`` quit
            (raise).  ``None`` asks on stdin, as PARL does.

    Returns:
        The log directory.

    Raises:
        OSError: if the directory exists and ``action`` is ``"q"`` (or unknown).
    """
    global LOG_DIR
    main = sys.modules.get("__main__")
    basename = os.path.basename(getattr(main, "__file__", "") or "")
    dirname = os.path.normpath(os.path.join("train_log", os.path.splitext(basename)[0]))
    nonempty = os.path.isdir(dirname) and any(not x.startswith(".") for x in os.listdir(dirname))
    if nonempty:
        if not action:
            warning(f"Log directory {dirname} exists! Use 'd' to delete it, 'k' to keep it.")
            while not action:
                action = input("Select Action: k (keep) / d (delete) / n (new) / q (quit):").lower().strip()
        if action == "d":
            if _FILE_HANDLER is not None:
                _logger.removeHandler(_FILE_HANDLER)
                _FILE_HANDLER.close()
            shutil.rmtree(dirname, ignore_errors=True)
        elif action == "n":
            dirname = dirname + datetime.now().strftime("%m%d-%H%M%S")
            info(f"Use a new log directory {dirname}")
        elif action != "k":
            raise OSError(f"Directory {dirname} exists! Pass action='d', 'k' or 'n'.")
    LOG_DIR = dirname
    os.makedirs(dirname, exist_ok=True)
    _set_file(os.path.join(dirname, "log.log"))
    return dirname


def get_dir() -> str | None:
    """Return the current log directory, or ``None`` if none is set."""
    return LOG_DIR


def add_stdout_handler() -> logging.Handler:
    """Add another stdout handler and return it (PARL API)."""
    handler = _StdoutHandler()
    handler.setFormatter(_Formatter(color=_isatty(sys.stdout)))
    _logger.addHandler(handler)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    """Remove a handler added by :func:`add_stdout_handler`."""
    _logger.removeHandler(handler)
