"""Reliability report: the fault suite's cases (outcome, time to error, leaks) and the soak curves.

Run from the repository root::

    python -m perf.reliability              # cases + the long soak (1M no-op calls, 10k 1 MB round trips)
    python -m perf.reliability --quick      # cases + a short soak (seconds), for a smoke test
    python -m perf.reliability --no-cases   # the soak alone

The cases are the tests of :data:`CASES` (tests/reliability, the local lifecycle, ...), run by
pytest; each records its time to error and the processes and memfds it leaked
(tests/reliability/conftest.py).  The soak makes calls on one actor and samples, every so often,
the resident memory and open descriptors of the driver and the actor and the shared memory both
map (each segment once).
Growth is measured from the sample after warm-up (10 % of the run) to the largest later one, and
must stay within :data:`BOUNDS`.

Writes ``reliability.md`` and ``reliability_soak.png`` to ``--out`` (default perf/scratch; ``--out perf/results`` for the committed results).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import fastparl
from perf.common import plots
from perf.common.harness import OUT_HELP, REPO, SCRATCH
from perf.reliability.soak import BOUND_TEXT, growth, over_bounds, soak


# ------------------------------------------------------------------ the fault suite's cases
# The fault suite, the local backend's lifecycle, the tracker's interruption cases and the suite's own
# deadline checks (the last two lived in tests/reliability before the tests mirrored the package).
CASES = ("tests/reliability", "tests/backends/local/test_lifecycle.py", "tests/unit/remote/test_tracker_threads.py",
         "tests/project/test_pytest_config.py")


def run_cases(xml_path: str) -> list[dict[str, Any]]:
    """Run :data:`CASES`; one row per case with outcome and
    properties."""
    cmd = [sys.executable, "-m", "pytest", *CASES, "-q",
           "-p", "no:cacheprovider", "-m", "not soak", f"--junitxml={xml_path}", "-o", "junit_family=xunit1"]
    subprocess.run(cmd, cwd=REPO, check=False)
    rows = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        props: dict[str, Any] = {}
        for prop in case.iter("property"):  # a case that checks several errors: the first is its fault's
            props.setdefault(str(prop.get("name")), prop.get("value"))
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
        rows.append({"file": case.get("file") or case.get("classname", ""), "name": case.get("name"),
                     "seconds": float(case.get("time", 0)), "outcome": outcome, **props})
    return rows


def _span(series: list[dict[str, float]], key: str, fmt: str = "{:.1f}") -> str:
    top = max(p[key] for p in series)
    return f"{fmt.format(series[0][key])} → {fmt.format(top)} (+{fmt.format(growth(series)[key])} after warm-up)"


def _cell(row: dict[str, Any], key: str, default: str = "") -> str:
    return str(row.get(key, default))


# ------------------------------------------------------------------ report
def plot(result: dict[str, Any], path: str) -> bool:
    plt = plots.pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex="row")
    titles = [("calls", f"{result['calls'][-1]['done']:,} no-op calls"),
              ("trips", f"{result['trips'][-1]['done']:,} round trips of 1 MB")]
    for row, (phase, title) in enumerate(titles):
        s = result[phase]
        x = [p["done"] for p in s]
        ax = axes[row][0]
        ax.plot(x, [p["driver_rss_mb"] for p in s], label="driver")
        ax.plot(x, [p["actor_rss_mb"] for p in s], label="actor")
        ax.set_ylabel("resident memory (MB)")
        ax.legend()
        ax = axes[row][1]
        ax.plot(x, [p["driver_fds"] for p in s], label="driver")
        ax.plot(x, [p["actor_fds"] for p in s], label="actor")
        ax.set_ylabel("open descriptors")
        ax.legend()
        ax = axes[row][2]
        ax.plot(x, [p["shm_mb"] for p in s])
        ax.set_ylabel("shared memory mapped (MB)")
        for ax in axes[row]:
            ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("operations done")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
    fig.suptitle("fastparl soak: local backend, one actor")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_report(path: str, rows: list[dict[str, Any]] | None, result: dict[str, Any], png: str | None,
                 calls: int, trips: int) -> None:
    lines = ["# Reliability: fault cases and soak", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
             f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the end. "
             "Made by `python -m perf.reliability`.", ""]
    if rows is not None:
        failed = [r for r in rows if r["outcome"] in ("FAILED", "ERROR")]
        lines += ["## Fault cases", "",
                  "Each case of " + ", ".join(CASES) + ", on every backend it applies to. "
                  "*Time to error*: from the fault to the exception in the caller (or to the processes' end; "
                  "the first one when a case checks several; – where no error is expected); each case also has a "
                  "pytest deadline (60-120 s). "
                  "*Leaks*: processes still running 5 s after the case or after `fastparl.disconnect()`, and "
                  "memfd descriptors or mappings left in the driver (cases run in a separate driver program "
                  "assert that every process of its session ended instead; shown as 0 when they pass). "
                  f"{len(rows)} cases, {len(failed)} failed or errored.", "",
                  "| case | outcome | time to error (s) | deadline (s) | leaked processes | leaked memfds | "
                  "case time (s) |", "|---|---|---|---|---|---|---|"]
        seen: dict[str, dict[str, Any]] = {}
        for r in rows:  # a case that failed in teardown appears twice: keep the worse
            key = f"{os.path.basename(str(r['file'])).replace('.py', '')}::{r['name']}"
            if key not in seen or r["outcome"] in ("FAILED", "ERROR"):
                seen[key] = r
        for key, r in seen.items():
            if r["outcome"] == "skipped":
                continue
            t_err = _cell(r, "time_to_error_s") or _cell(r, "time_to_end_s") or "–"
            deadline = _cell(r, "deadline_s") or "–"
            leaked_p = _cell(r, "leaked_processes", "0" if r["outcome"] == "passed" else "?")
            leaked_m = _cell(r, "leaked_memfds", "0" if r["outcome"] == "passed" else "?")
            lines.append(f"| `{key}` | {r['outcome']} | {t_err} | {deadline} | {leaked_p} | {leaked_m} | "
                         f"{r['seconds']:.2f} |")
        skipped = sorted({r["name"].split("[")[0] for r in seen.values() if r["outcome"] == "skipped"})
        lines += ["", f"Skipped where a backend lacks the capability (serial: no processes): {len(skipped)} "
                      "test functions, e.g. " + ", ".join(f"`{s}`" for s in skipped[:4]) + ".", ""]
    lines += ["## Soak", "",
              f"One actor on the local backend: {calls:,} no-op calls (synchronous), then {trips:,} round trips "
              "of a 1 MB array (out of band, through both arenas); every result checked "
              f"(lost or wrong: {result['lost']}). Sampled {len(result['calls'])} and {len(result['trips'])} times.",
              "", f"Bound on growth after warm-up (10 % of each phase): {BOUND_TEXT}.", "",
              "| phase | ops/s | driver RSS MB (start → max) | actor RSS MB | driver fds | actor fds | "
              "shared MB | growth within bound |", "|---|---|---|---|---|---|---|---|"]
    bad = over_bounds(result)
    for phase in ("calls", "trips"):
        s = result[phase]
        rate = s[-1]["done"] / max(result["seconds"][phase], 1e-9)
        ok = "yes" if not [b for b in bad if b.startswith(phase)] else "**no**"
        lines.append(f"| {phase} | {rate:,.0f} | {_span(s, 'driver_rss_mb')} | {_span(s, 'actor_rss_mb')} | "
                     f"{_span(s, 'driver_fds', '{:.0f}')} | {_span(s, 'actor_fds', '{:.0f}')} | {_span(s, 'shm_mb')} | "
                     f"{ok} |")
    if png:
        lines += ["", f"![soak curves]({os.path.basename(png)})"]
    if bad:
        lines += ["", "Over the bound: " + "; ".join(bad)]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.reliability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short soak (20k calls, 300 round trips)")
    p.add_argument("--no-cases", action="store_true", help="skip running the fault suite")
    p.add_argument("--calls", type=int, default=None)
    p.add_argument("--trips", type=int, default=None)
    p.add_argument("--out", default=os.path.join(REPO, SCRATCH), help=OUT_HELP)
    args = p.parse_args(argv)
    calls = args.calls or (20_000 if args.quick else 1_000_000)
    trips = args.trips or (300 if args.quick else 10_000)
    os.makedirs(args.out, exist_ok=True)
    rows = None
    if not args.no_cases:
        rows = run_cases(os.path.join(args.out, ".reliability-cases.xml"))
        os.remove(os.path.join(args.out, ".reliability-cases.xml"))
    fastparl.connect("local")
    result = soak(calls, trips)
    fastparl.disconnect()
    png = os.path.join(args.out, "reliability_soak.png")
    write_report(os.path.join(args.out, "reliability.md"), rows, result, png if plot(result, png) else None, calls,
                 trips)
    bad = over_bounds(result)
    print(open(os.path.join(args.out, "reliability.md")).read())
    return 1 if bad or result["lost"] else 0

