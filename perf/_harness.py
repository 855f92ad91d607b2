"""What every perf report shares: timing loops, interleaving, placement, machine facts, tables, output.

A report is a list of sections (functions returning dicts), run by :func:`run_report`, which
writes ``<name>.md`` and ``<name>.json`` (and whatever plots the report draws) to ``--out``.
Every number is put beside a baseline measured in the same run: these machines are shared and
noisy, so only within-run ratios mean anything.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import time
from typing import Any, Callable

import numpy as np

__all__ = ["call_times", "time_once", "interleaved", "median", "Pinned", "log", "machine_info", "md_table",
           "run_report", "size_name", "KB", "MB", "status"]

KB, MB = 1 << 10, 1 << 20
SECTION_TIMEOUT_S = 300


def size_name(n: int) -> str:
    return f"{n // MB} MB" if n >= MB else f"{n // KB} KB"


def call_times(fn: Callable[[], Any], n: int) -> np.ndarray:
    """Wall time (ns) of each of ``n`` calls of ``fn``."""
    clock = time.perf_counter_ns
    out = np.empty(n, np.int64)
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def time_once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(systems: dict[str, Callable[[], Any]], reps: int, block: int) -> dict[str, list[float]]:
    """Seconds per call of each system, timed in rounds of ``block`` calls per system, so that drift in
    the machine's load hits every system alike while each stays warm within its block."""
    out: dict[str, list[float]] = {k: [] for k in systems}
    clock = time.perf_counter
    done = 0
    while done < reps:
        k = min(block, reps - done)
        for name, fn in systems.items():
            ts = out[name]
            for _ in range(k):
                t0 = clock()
                fn()
                ts.append(clock() - t0)
        done += k
    return out


def median(xs: Any) -> float:
    return float(np.median(np.asarray(xs, dtype=np.float64)))


class Pinned:
    """Pin this thread to one CPU for a ``with`` block (None: leave it alone)."""

    def __init__(self, cpu: int | None):
        self.cpu = cpu
        self.old: set[int] | None = None

    def __enter__(self) -> "Pinned":
        if self.cpu is not None:
            self.old = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            os.sched_setaffinity(0, self.old)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "usable_cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "numpy": np.__version__, "kernel": platform.release(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M")}


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def run_report(name: str, sections: list[tuple[str, Callable[[Any], dict]]], render: Callable[[dict], str],
               make_config: Callable[[argparse.Namespace], Any], argv: list[str] | None = None,
               add_args: Callable[[argparse.ArgumentParser], None] | None = None,
               setup: Callable[[Any], Callable[[], None]] | None = None) -> dict:
    """Parse ``--quick --out --only``, run the sections (each under a watchdog, one failing section
    does not lose the others), render and write ``<out>/<name>.md`` and ``.json``."""
    ap = argparse.ArgumentParser(prog=f"python -m perf.{name}")
    ap.add_argument("--quick", action="store_true", help="few repeats: a smoke test")
    ap.add_argument("--out", default=os.path.join("perf", "results"), help="directory for the results")
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(n for n, _ in sections))
    if add_args is not None:
        add_args(ap)
    args = ap.parse_args(argv)
    cfg = make_config(args)
    os.makedirs(args.out, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    R: dict[str, Any] = {"machine": machine_info(), "quick": bool(args.quick)}
    log(f"perf.{name} on {R['machine']['cpu']} ({R['machine']['usable_cores']} cores), "
        f"load {R['machine']['loadavg_start']}")
    t0 = time.perf_counter()
    teardown = setup(cfg) if setup is not None else (lambda: None)
    try:
        for sname, fn in sections:
            if only and sname not in only:
                continue
            log(f"{sname} ...")
            faulthandler.dump_traceback_later(SECTION_TIMEOUT_S, exit=True)
            ts = time.perf_counter()
            try:
                R[sname] = fn(cfg)
            except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
                import traceback

                traceback.print_exc()
                R[sname] = {"error": f"{type(e).__name__}: {e}"}
            finally:
                faulthandler.cancel_dump_traceback_later()
            log(f"{sname} done in {time.perf_counter() - ts:.1f} s")
    finally:
        teardown()
    R["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    R["elapsed_s"] = time.perf_counter() - t0
    md = render(R)
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print()
    print(md)
    return R
