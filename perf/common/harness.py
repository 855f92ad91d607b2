"""What every perf report shares: timing loops, interleaving, placement, machine facts, tables, output.

A report is a list of sections (``(name, fn)`` pairs, ``fn(config) -> dict``), run by
:func:`run_report`, which writes ``<name>.md`` and ``<name>.json`` (and whatever plots its
``finish`` hook draws, see :mod:`perf.common.plots`) to ``--out``.  Every number is put beside a
baseline measured in the same run: these machines are shared and noisy, so only within-run
ratios mean anything.  Each report states its targets as rows made by :func:`target_row`.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import sys
import time
from typing import Any, Callable

import numpy as np

__all__ = ["call_times", "time_once", "interleaved", "median", "pct_us", "memcpy_seconds", "scaling_ns", "Pinned",
           "placements", "log", "machine_info", "md_table", "target_row", "error_line", "fmt", "children_left",
           "run_report", "size_name", "KB", "MB", "REPO", "status"]

KB, MB = 1 << 10, 1 << 20
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
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


def pct_us(samples_ns: np.ndarray, q: float) -> float:
    """The ``q``-th percentile of samples in ns, in µs."""
    return float(np.percentile(samples_ns, q)) / 1e3


def memcpy_seconds(nbytes: int, reps: int) -> list[float]:
    """Seconds per ``np.copyto`` between two pre-faulted float32 arrays of ``nbytes`` (small copies are
    timed in batches of about 4 MB and divided).  The copy floor every data-path number is put beside."""
    src = np.ones(max(1, nbytes // 4), np.float32)
    dst = np.zeros_like(src)
    inner = max(1, (4 * MB) // max(nbytes, 1))
    np.copyto(dst, src)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.copyto(dst, src)
        ts.append((time.perf_counter() - t0) / inner)
    return ts


def scaling_ns(max_n: int) -> list[int]:
    """N for a scaling sweep: every N up to 8, then powers of two, always ending at ``max_n``."""
    ns = list(range(1, min(max_n, 8) + 1))
    n = 16
    while n < max_n:
        ns.append(n)
        n *= 2
    if ns[-1] != max_n:
        ns.append(max_n)
    return ns


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


def placements() -> dict[str, tuple[int, int]]:
    """(driver CPU, peer CPU) for the two placements every latency number is given for."""
    cpus = sorted(os.sched_getaffinity(0))
    out = {"same CPU": (cpus[0], cpus[0])}
    if len(cpus) > 1:
        out["across CPUs"] = (cpus[0], cpus[1])
    return out


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
    try:
        import psutil

        mem_gb: float | None = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        mem_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "memory_gb": mem_gb,
            "python": platform.python_version(), "numpy": np.__version__, "kernel": platform.release(),
            "platform": platform.platform(), "dont_write_bytecode": bool(sys.flags.dont_write_bytecode),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M")}


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


TARGET_HEAD = ["measure", "measured", "baseline (same run)", "target", "status"]


def target_row(measure: str, measured: str, baseline: str, target: str, ok: bool | None, note: str = "") -> list[str]:
    """One line of a report's targets table (:data:`TARGET_HEAD`): met / not met with the numbers."""
    return [measure, measured, baseline, target, status(ok) + (f" ({note})" if note else "")]


def error_line(section: Any) -> list[str]:
    """The line a failed section leaves in the report (none if it did not fail)."""
    if isinstance(section, dict) and "error" in section:
        return [f"**section failed:** `{section['error']}`", ""]
    return []


def fmt(x: Any) -> str:
    """A number as a short string (3 significant digits, thousands separated), None as a dash."""
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def children_left(wait_s: float = 3.0) -> int | None:
    """Processes still under this one after a report's teardown (waits up to ``wait_s`` for them to exit)."""
    try:
        import psutil

        deadline = time.monotonic() + wait_s
        left = psutil.Process().children(recursive=True)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        return len(left)
    except Exception:  # noqa: BLE001 - psutil missing or a process vanished mid-scan
        return None


# Reports write here unless told otherwise: a quick or trial run must not overwrite the committed
# results that the README links to (perf/results/); `--out perf/results` updates those.
SCRATCH = os.path.join("perf", "scratch")
OUT_HELP = "directory for the results (default: perf/scratch, git-ignored; --out perf/results updates the committed ones)"


def run_report(name: str, sections: list[tuple[str, Callable[[Any], dict]]], render: Callable[[dict], str],
               make_config: Callable[[argparse.Namespace], Any], argv: list[str] | None = None,
               add_args: Callable[[argparse.ArgumentParser], None] | None = None,
               setup: Callable[[Any], Callable[[], None]] | None = None,
               finish: Callable[[dict, str], None] | None = None, description: str | None = None) -> dict:
    """Parse ``--quick --out --only``, run the sections (each under a watchdog, one failing section
    does not lose the others), call ``finish(R, out_dir)`` (plots, counts after teardown), render and
    write ``<out>/<name>.md`` and ``.json``."""
    ap = argparse.ArgumentParser(prog=f"python -m perf.{name}", description=description)
    ap.add_argument("--quick", action="store_true", help="few repeats: a smoke test")
    ap.add_argument("--out", default=SCRATCH, help=OUT_HELP)
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(n for n, _ in sections))
    if add_args is not None:
        add_args(ap)
    args = ap.parse_args(argv)
    if args.out.endswith(".md"):  # the older form, --out path/<name>.md: its folder
        args.out = os.path.dirname(args.out) or "."
    cfg = make_config(args)
    os.makedirs(args.out, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    given = list(sys.argv[1:] if argv is None else argv)
    R: dict[str, Any] = {"machine": machine_info(), "quick": bool(args.quick), "argv": given}
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
    if finish is not None:
        finish(R, args.out)
    md = render(R)
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print()
    print(md)
    return R
