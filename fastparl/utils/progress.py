"""Training-curve logging: ``progress.csv`` plus optional TensorBoard events, and a progress bar.

Every example writes a log directory through :class:`TrainLogger`::

    runs/dqn_cartpole/seed0/
        progress.csv                  # one row per log() call; `fastparl plot` reads it
        events.out.tfevents.*         # TensorBoard (if tensorboardX is installed)

``CSVLogger`` is PARL's ``parl.utils.CSVLogger`` (one dict per row, fixed keys).
"""

from __future__ import annotations

import csv
import math
import os
import threading
import time
from typing import Any

from fastparl.utils import logger

__all__ = ["CSVLogger", "TrainLogger", "progress_bar"]


class CSVLogger:
    """PARL's CSV logger: writes one dict per row; the first dict's keys form the header.

    Args:
        output_file: path of the csv file (overwritten).
    """

    def __init__(self, output_file: str) -> None:
        self.output_file = open(output_file, "w", newline="")  # noqa: SIM115 - closed in close()
        self.csv_writer: csv.DictWriter[str] | None = None
        self.keys_set: set[str] | None = None
        self.lock = threading.Lock()

    def log_dict(self, result: dict[str, Any]) -> None:
        """Append ``result`` as a row.

        Raises:
            TypeError: if ``result`` is not a dict.
            ValueError: if its keys differ from the first row's.
        """
        if not isinstance(result, dict):
            raise TypeError(f"CSVLogger.log_dict expects a dict, got {type(result).__name__}")
        with self.lock:
            if self.csv_writer is None:
                self.csv_writer = csv.DictWriter(self.output_file, list(result.keys()))
                self.csv_writer.writeheader()
                self.keys_set = set(result)
            if set(result) != self.keys_set:
                header = sorted(self.keys_set or ())
                raise ValueError(f"CSVLogger: keys {sorted(result)} differ from the header {header}")
            self.csv_writer.writerow(result)

    def flush(self) -> None:
        """Flush the file."""
        with self.lock:
            self.output_file.flush()

    def close(self) -> None:
        """Close the file."""
        with self.lock:
            if not self.output_file.closed:
                self.output_file.close()

    def __del__(self) -> None:
        if hasattr(self, "output_file") and not self.output_file.closed:
            self.output_file.close()


class TrainLogger:
    """Write metrics to ``<logdir>/progress.csv`` and (optionally) TensorBoard.

    Rows may carry different keys (e.g. training rows and evaluation rows); a new key
    rewrites the csv with a wider header, and missing values stay empty.  Every row gets
    ``env_steps`` (the x axis of ``fastparl plot``) and ``time_elapsed`` in seconds.

    Args:
        logdir: directory to create (kept if it exists; ``progress.csv`` is overwritten unless ``resume``).
        tensorboard: also write TensorBoard events with tensorboardX when it is installed.
        resume_from: keep the rows of an existing ``progress.csv`` up to this env step and go on after
            them (``time_elapsed`` too): a run resumed from a checkpoint taken at that step.
        flush_every: flush the csv every this many rows (rows are also flushed by
            :meth:`close` and on new keys).
        echo: also print each row through :mod:`fastparl.utils.logger`.

    Example:
        >>> tl = TrainLogger("runs/dqn/seed0")
        >>> tl.log(1000, episode_return=21.0, loss=0.5)
        >>> tl.close()
    """

    def __init__(self, logdir: str, tensorboard: bool = True, flush_every: int = 1, echo: bool = False,
                 resume_from: int | None = None) -> None:
        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        self.path = os.path.join(logdir, "progress.csv")
        kept = [] if resume_from is None else [  # a resumed run continues its csv, from its checkpoint's step
            row for row in _read_rows(self.path) if int(row.get("env_steps", 0)) <= resume_from]
        self._file = open(self.path, "w", newline="")  # noqa: SIM115 - closed in close()
        self._fields: list[str] = []
        self._rows: list[dict[str, Any]] = kept
        for row in kept:
            self._fields.extend(k for k in row if k not in self._fields)
        self._writer: csv.DictWriter[str] | None = None
        self._flush_every = max(1, int(flush_every))
        self._echo = echo
        self._start = time.time() - (float(kept[-1].get("time_elapsed", 0.0)) if kept else 0.0)
        if kept:
            self._rewrite()
        self._tb: Any = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                logger.warning("tensorboardX is not installed; writing progress.csv only (pip install tensorboardX)")
            else:
                self._tb = SummaryWriter(logdir=logdir)

    def log(self, env_steps: int, **metrics: float | int | None) -> None:
        """Record one row of metrics at ``env_steps``.

        Args:
            env_steps: environment steps so far (the x axis).
            **metrics: scalar values, e.g. ``episode_return=200.0``; ``None`` is skipped.
        """
        row: dict[str, Any] = {"env_steps": int(env_steps), "time_elapsed": round(time.time() - self._start, 3)}
        for key, value in metrics.items():
            if value is not None:
                row[key] = float(value) if not isinstance(value, int | bool) else int(value)
        new = [k for k in row if k not in self._fields]
        if new:
            self._fields.extend(new)
            self._rewrite()
        self._rows.append(row)
        assert self._writer is not None
        self._writer.writerow(row)
        if len(self._rows) % self._flush_every == 0:
            self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key != "env_steps" and isinstance(value, int | float) and math.isfinite(value):
                    self._tb.add_scalar(key, value, int(env_steps))
        if self._echo:
            logger.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))

    def _rewrite(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._writer = csv.DictWriter(self._file, self._fields, restval="")
        self._writer.writeheader()
        self._writer.writerows(self._rows)
        self._file.flush()

    def flush(self) -> None:
        """Write what was logged to disk now (a checkpoint is about to be taken)."""
        if not self._file.closed:
            self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flush and close the csv and the TensorBoard writer."""
        if not self._file.closed:
            self._file.flush()
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> TrainLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_rows(path: str) -> list[dict[str, Any]]:
    """The rows of an existing progress.csv (numbers as numbers), or [] if there is none."""
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if value in ("", None):
                    continue
                try:
                    row[key] = int(value)
                except ValueError:
                    try:
                        row[key] = float(value)
                    except ValueError:
                        row[key] = value
            rows.append(row)
    return rows


def progress_bar(total: int, desc: str | None = None, disable: bool | None = None, **kwargs: Any) -> Any:
    """A ``tqdm`` bar over ``total`` units (e.g. env steps); ``bar.update(n)`` advances it.

    Args:
        total: the number of units.
        desc: a label.
        disable: ``None`` (default) shows the bar only on a terminal; ``True`` hides it.
        **kwargs: passed to ``tqdm``.

    Returns:
        A ``tqdm.tqdm`` instance (use it as a context manager), or a no-op stand-in when
        tqdm is not installed.
    """
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(total=total, desc=desc, disable=disable, **kwargs)


class _NoBar:
    """Stand-in for tqdm when it is missing."""

    def update(self, n: int = 1) -> None:
        """Ignore the update."""

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Ignore the postfix."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
