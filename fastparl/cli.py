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


# ----------------------------------------------------------------------------------- worker
def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "worker", help="run a worker daemon: actors of the drivers that connect to this host run here",
        description="Serves actors for drivers that connect with FASTPARL_HOSTS=host:port (or fastparl.connect). "
                    "Clients must hold the same token: FASTPARL_TOKEN, or the token file this command creates "
                    "on first start (~/.fastparl/token, mode 0600): copy it to every host.")
    p.add_argument("--port", type=int, default=8037, help="TCP port to listen on (default: 8037; 0: any free port, "
                                                        "printed at start)")
    p.add_argument("--cpus", type=int, default=None, help="actor slots (default: the number of CPUs here)")
    p.add_argument("--gpus", default=None, help="GPU ids to hand out, e.g. 0,1 (default: CUDA_VISIBLE_DEVICES or "
                                                "what nvidia-smi lists)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only; "
                                                       "0.0.0.0 accepts every interface)")
    p.add_argument("--log-file", default=None, help="log file (default: ~/.fastparl/worker-PORT.log)")
    p.add_argument("--curve", action="store_true", help="encrypt with CurveZMQ (clients need FASTPARL_CURVE=1); "
                                                        "for networks you do not trust")
    return p


def _run_worker(args: argparse.Namespace) -> int:
    import logging
    import os

    from fastparl.errors import FastparlError
    from fastparl.remote.resources import visible_gpus
    from fastparl.remote.zmq.worker import Worker

    log_file = args.log_file or os.path.join(os.path.expanduser("~"), ".fastparl", f"worker-{args.port}.log")
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    logger = logging.getLogger("fastparl")
    logger.setLevel(logging.INFO)
    for handler in (logging.FileHandler(log_file), logging.StreamHandler()):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    gpus = [g for g in args.gpus.split(",") if g.strip()] if args.gpus is not None else visible_gpus()
    try:
        worker = Worker(args.port, args.cpus or os.cpu_count() or 1, gpus, args.host, curve=args.curve)
    except (FastparlError, ValueError, OSError) as exc:
        print(f"fastparl worker: error: {exc}", file=sys.stderr)
        return 2
    logger.info("logging to %s", log_file)
    worker.run()
    return 0


# ----------------------------------------------------------------------------------- status
def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "status", help="show worker daemons: CPU and GPU slots, clients and their actors, memory")
    p.add_argument("addresses", nargs="*", metavar="ADDRESS",
                   help="host:port of workers (default: FASTPARL_HOSTS, else 127.0.0.1:8037)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--driver", nargs="?", const="", metavar="SESSION",
                   help="instead: a running driver's view of its workers (alive / suspect / lost), from its session "
                        "folder (default: the newest; see `fastparl logs`)")
    return p


def _run_status(args: argparse.Namespace) -> int:
    import json
    import os

    from fastparl.remote.zmq.status import driver_view, format_driver_view, format_table, query

    if args.driver is not None:
        view = driver_view(args.driver)
        print(json.dumps(view, indent=1) if args.json else format_driver_view(view))
        return 0 if "error" not in view else 1

    addresses = args.addresses or [a for a in (os.environ.get("FASTPARL_HOSTS") or "127.0.0.1:8037").split(",")
                                   if a.strip()]
    rows = [query(a.strip()) for a in addresses]
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0 if all("error" not in r for r in rows) else 1


# ----------------------------------------------------------------------------------- logs
def _add_logs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "logs", help="read actors' log files (fastparl.connect(log_to_driver='file'))",
        description="Without an argument: list the sessions (one folder per driver run, newest last) and the actors "
                    "of the newest. DIR (a session folder, or its name): list its actors. ACTOR (a log file, or a part "
                    "of its name such as Sampler-1234, looked up in the newest session, or SESSION/ACTOR): print it. "
                    "Logs are under FASTPARL_LOG_DIR, else ~/.fastparl/logs.")
    p.add_argument("what", nargs="?", metavar="ACTOR|DIR", help="an actor's log or a session folder")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what the actor writes (Ctrl-C ends)")
    return p


def _run_logs(args: argparse.Namespace) -> int:
    import os
    import time

    from fastparl.remote.logs import log_root

    root = log_root()
    sessions = sorted(d for d in (os.listdir(root) if os.path.isdir(root) else []) if os.path.isdir(os.path.join(root, d)))

    def actors(folder: str) -> list[str]:
        return sorted(f for f in os.listdir(folder) if f.endswith(".log"))

    def listing(folder: str) -> None:
        for f in actors(folder):
            print(f"  {os.path.join(folder, f)}  ({os.path.getsize(os.path.join(folder, f)):,} bytes)")

    what = args.what
    if what is None:
        if not sessions:
            print(f"no actor logs under {root} (fastparl.connect(log_to_driver='file') writes them)")
            return 1
        for d in sessions:
            print(f"{os.path.join(root, d)}  ({len(actors(os.path.join(root, d)))} actors)")
        print(f"newest: {sessions[-1]}")
        listing(os.path.join(root, sessions[-1]))
        return 0
    folder = what if os.path.isdir(what) else os.path.join(root, what)
    if os.path.isdir(folder):
        listing(folder)
        return 0
    path = what
    if not os.path.isfile(path):
        session, _, name = what.rpartition("/")
        base = os.path.join(root, session) if session else (os.path.join(root, sessions[-1]) if sessions else root)
        found = [os.path.join(base, f) for f in (actors(base) if os.path.isdir(base) else []) if name in f]
        if len(found) != 1:
            print(f"fastparl logs: {'no' if not found else 'more than one'} actor log matches {what!r} in {base}",
                  file=sys.stderr)
            for f in found:
                print(f"  {f}", file=sys.stderr)
            return 2
        path = found[0]
    with open(path, "rb") as log:
        out = sys.stdout.buffer
        while True:
            data = log.read(1 << 16)
            if data:
                out.write(data)
                out.flush()
                continue
            if not args.follow:
                return 0
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                return 0


# name -> (add arguments, run).
_AddFn = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], argparse.ArgumentParser]
_SUBCOMMANDS: dict[str, tuple[_AddFn, Callable[[argparse.Namespace], int]]] = {
    "plot": (_add_plot, _run_plot),
    "worker": (_add_worker, _run_worker),
    "status": (_add_status, _run_status),
    "logs": (_add_logs, _run_logs),
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
