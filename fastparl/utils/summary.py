"""PARL's ``parl.utils.summary``: module-level TensorBoard writer.

``summary.add_scalar(tag, value, step)`` writes to ``logger.get_dir()`` (or
``./train_log/<script>`` when no directory is set), creating a tensorboardX
``SummaryWriter`` on first use.  ``summary.logdir`` is the directory written to (the
logger's directory until the writer exists; None if neither is set).  Unlike PARL, an existing
``./train_log/<script>`` is kept rather than deleted.
"""

from __future__ import annotations

from typing import Any

from fastparl.utils import logger

__all__ = ["add_histogram", "add_scalar", "close", "flush"]

_writer: Any = None


def _get_writer() -> Any:
    global _writer
    if _writer is None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:
            raise ImportError("fastparl.utils.summary needs tensorboardX: pip install tensorboardX") from exc
        logdir = logger.get_dir()
        if logdir is None:
            logdir = logger.auto_set_dir(action="k")
            logger.warning(f"[tensorboard] no log dir set; writing to {logdir} (tensorboard --logdir={logdir})")
        _writer = SummaryWriter(logdir=logdir)
    return _writer


def add_scalar(tag: str, scalar_value: float, global_step: int | None = None) -> None:
    """Write one scalar (and flush, as PARL does)."""
    writer = _get_writer()
    writer.add_scalar(tag, scalar_value, global_step)
    writer.flush()


def add_histogram(tag: str, values: Any, global_step: int | None = None) -> None:
    """Write a histogram of ``values``."""
    writer = _get_writer()
    writer.add_histogram(tag, values, global_step)
    writer.flush()


def flush() -> None:
    """Flush the writer, if any."""
    if _writer is not None:
        _writer.flush()


def close() -> None:
    """Close the writer; the next call opens a new one."""
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


def __getattr__(name: str) -> Any:
    if name == "logdir":  # computed on each access: it follows logger.set_dir until the writer exists
        return _writer.logdir if _writer is not None else logger.get_dir()
    raise AttributeError(f"module 'fastparl.utils.summary' has no attribute {name!r}")
