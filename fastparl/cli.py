"""The ``fastparl`` command line (also ``python -m fastparl``).

Subcommands are registered in :data:`_SUBCOMMANDS`: each has a ``_add_<name>`` function
that declares its arguments and a ``_run_<name>`` function that executes it and returns an
exit code.  To add one (e.g. ``worker``, ``status``), write both and add a line there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main"]


# ----------------------------------------------------------------------------------- plot
def _add_plot(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "plot",
        help="draw training curves (mean ± std over seeds) from log directories to a PNG",
        description="Each LOGDIR is one run (holding progress.csv) or a folder of seed runs.",
    )
    p.add_argument("logdirs", nargs="+", metavar="LOGDIR", help="log directories to compare")
    p.add_argument("--x", default="env_steps", help="csv column for the x axis (default: env_steps)")
    p.add_argument("--y", default="episode_return", help="csv column for the y axis (default: episode_return)")
    p.add_argument("-o", "--out", default="curves.png", help="output PNG (default: curves.png)")
    p.add_argument("--smooth", type=int, default=1, help="moving-average window per seed (default: 1, none)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--labels", nargs="+", default=None, help="legend labels, one per LOGDIR")
    return p


def _run_plot(args: argparse.Namespace) -> int:
    from fastparl.utils.plot import plot_curves

    try:
        out = plot_curves(
            args.logdirs, out=args.out, x=args.x, y=args.y, smooth=args.smooth, title=args.title, labels=args.labels
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"fastparl plot: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


# name -> (add arguments, run).  Add `worker` and `status` here.
_AddFn = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], argparse.ArgumentParser]
_SUBCOMMANDS: dict[str, tuple[_AddFn, Callable[[argparse.Namespace], int]]] = {
    "plot": (_add_plot, _run_plot),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the ``fastparl`` argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="fastparl", description="fastparl command line tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add, run) in _SUBCOMMANDS.items():
        add(sub).set_defaults(_run=run, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments without the program name; ``None`` means ``sys.argv[1:]``.

    Returns:
        The exit code (0 on success).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 1
    return int(args._run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
