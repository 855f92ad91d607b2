"""Training curves from log directories: mean ± std over seeds, drawn to a PNG.

A *run* is a directory holding ``progress.csv``.  A LOGDIR given to :func:`plot_curves` is
either one run or a folder with several runs below it (e.g. ``seed0/``, ``seed1/``), which
are treated as seeds of the same experiment and drawn as one line (mean) with a band (±1
std).  Seeds are resampled on a common x grid with linear interpolation, over the x range
that every seed covers.
"""

from __future__ import annotations

import csv
import math
import logging
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["find_runs", "load_curve", "plot_curves", "seed_statistics"]


def find_runs(logdir: str) -> list[str]:
    """Return the paths of every ``progress.csv`` at or below ``logdir``, sorted.

    Raises:
        FileNotFoundError: if ``logdir`` does not exist or holds no ``progress.csv``.
    """
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist")
    found = []
    for root, _dirs, files in os.walk(logdir):
        if "progress.csv" in files:
            found.append(os.path.join(root, "progress.csv"))
    if not found:
        raise FileNotFoundError(f"no progress.csv at or below {logdir!r}; is it a fastparl log directory?")
    return sorted(found)


def load_curve(path: str, x: str = "env_steps", y: str = "episode_return") -> tuple[np.ndarray, np.ndarray]:
    """Read columns ``x`` and ``y`` of a csv, skipping rows where either is empty or not finite.

    Returns:
        ``(xs, ys)`` float64 arrays sorted by x.

    Raises:
        KeyError: if a column is missing; the message lists the available ones.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        for col in (x, y):
            if col not in fields:
                raise KeyError(f"{path}: no column {col!r}; available: {fields}")
        xs, ys = [], []
        for row in reader:
            try:
                xv, yv = float(row[x]), float(row[y])
            except (TypeError, ValueError):
                continue
            if math.isfinite(xv) and math.isfinite(yv):
                xs.append(xv)
                ys.append(yv)
    order = np.argsort(np.asarray(xs), kind="stable")
    return np.asarray(xs)[order], np.asarray(ys)[order]


def _smooth(ys: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(ys) == 0:
        return ys
    csum = np.cumsum(np.insert(ys, 0, 0.0))
    idx = np.arange(1, len(ys) + 1)
    lo = np.maximum(idx - window, 0)
    out: np.ndarray = (csum[idx] - csum[lo]) / (idx - lo)  # trailing mean over up to `window` points
    return out


def seed_statistics(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over seeds on a common grid.

    Args:
        curves: ``(xs, ys)`` per seed.
        points: grid size.

    Returns:
        ``(grid, mean, std)``; std is 0 for a single seed.

    Raises:
        ValueError: if no curve has data.
    """
    curves = [(xs, ys) for xs, ys in curves if len(xs) > 0]
    if not curves:
        raise ValueError("no data points to plot")
    lo = max(xs[0] for xs, _ in curves)
    hi = min(xs[-1] for xs, _ in curves)
    if hi <= lo:  # no common range (or a single point): use the union
        lo, hi = min(xs[0] for xs, _ in curves), max(xs[-1] for xs, _ in curves)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    values = np.stack([np.interp(grid, xs, ys) for xs, ys in curves])
    return grid, values.mean(axis=0), values.std(axis=0)


def plot_curves(
    logdirs: Sequence[str],
    out: str = "curves.png",
    x: str = "env_steps",
    y: str = "episode_return",
    smooth: int = 1,
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> str:
    """Draw one mean ± std line per LOGDIR to a PNG (matplotlib, Agg; no display needed).

    Args:
        logdirs: log directories, each one run or a folder of seed runs.
        out: the PNG path (parent folders are created).
        x: csv column for the x axis.
        y: csv column for the y axis.
        smooth: trailing moving-average window applied to each seed before averaging.
        title: figure title (default: ``y`` vs ``x``).
        labels: legend labels (default: the LOGDIR names).

    Returns:
        The path written.

    Raises:
        FileNotFoundError: if a LOGDIR has no ``progress.csv``.
        KeyError: if a column is missing.
        ImportError: if matplotlib is not installed.
    """
    mpl_log = logging.getLogger("matplotlib")
    if mpl_log.level == logging.NOTSET:  # its INFO lines ("generated new fontManager") would reach a root
        mpl_log.setLevel(logging.WARNING)  # handler that paddle installs at INFO level: keep them off
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from exc
    if not logdirs:
        raise ValueError("plot_curves needs at least one log directory")
    if labels is not None and len(labels) != len(logdirs):
        raise ValueError(f"got {len(labels)} labels for {len(logdirs)} log directories")
    fig = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for i, logdir in enumerate(logdirs):
        runs = find_runs(logdir)
        curves = []
        for path in runs:
            xs, ys = load_curve(path, x, y)
            curves.append((xs, _smooth(ys, smooth)))
        grid, mean, std = seed_statistics(curves)
        label = labels[i] if labels is not None else os.path.basename(os.path.normpath(logdir))
        line = ax.plot(grid, mean, label=f"{label} (n={len(runs)})")[0]
        ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{y} vs {x} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(out)
    return out
