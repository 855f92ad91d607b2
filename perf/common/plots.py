"""Plots for the perf reports: matplotlib if it is importable, nothing (and a note) if it is not.

A report's ``finish`` hook calls these and lists the files they return in its Markdown, so a report
without matplotlib still runs and says it drew nothing.  Every plot is a PNG next to ``<name>.md``.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

__all__ = ["pyplot", "save", "line_plot"]

_warned = False


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None (said once) when matplotlib is not installed."""
    global _warned
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not _warned:
            print("matplotlib not installed: no plots")
            _warned = True
        return None
    return plt


def save(fig: Any, out_dir: str, name: str) -> str:
    """Write ``fig`` as ``out_dir/name`` and close it; returns ``name`` (the link the report uses)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def line_plot(ax: Any, x: Sequence[float], series: dict[str, tuple[Sequence[float], str]], *, xlabel: str,
              ylabel: str, title: str, xlog: bool = False, ylog: bool = False,
              xticks: tuple[Sequence[float], Sequence[str]] | None = None) -> None:
    """Draw ``{label: (ys, matplotlib style)}`` against ``x`` on ``ax`` (one line per system)."""
    for label, (ys, style) in series.items():
        pts = [(a, b) for a, b in zip(x, ys) if b is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    if xlog:
        ax.set_xscale("log", base=2)
    if ylog:
        ax.set_yscale("log")
    if xticks is not None:
        ax.set_xticks(list(xticks[0]), list(xticks[1]))
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
