"""The cluster report's scaling sections: throughput against N actors and against payload size.

* CPU scaling is :func:`perf.common.cpu_scaling.bench_scaling`, as in the runtime report (N ``wait=False`` actors each run the same
  pure-Python loop at once, ``multiprocessing.Pool(N)`` taking turns with them): it measures whichever
  backend is connected, here actors forked by loopback ``fastparl worker`` daemons.
* :func:`bench_calls_n`: pipelined no-op calls spread over N actors (aggregate calls/s), against raw
  pyzmq with N DEALER peers on one ROUTER, interleaved.
* Tables and plots of both, and of the arrays section's GB/s against size.
"""

from __future__ import annotations

import os
from typing import Any

import fastparl
from perf.cluster.raw import RawZmq
from perf.common import plots
from perf.common.actors import FpAsyncBench
from perf.common.cpu_scaling import draw_scaling
from perf.common.harness import interleaved, log, md_table, median, scaling_ns, size_name

__all__ = ["bench_calls_n", "md_scaling", "plot_scaling", "plot_arrays", "CALLS_PER_ACTOR"]

CALLS_PER_ACTOR = 500


def bench_calls_n(cfg: Any) -> dict:
    """Aggregate pipelined no-op calls/s with N actors (``CALLS_PER_ACTOR`` each, issued round-robin before the
    first result is read), against N raw pyzmq peers, for N = 1 .. ``cfg.max_actors``."""
    rows = []
    for n in scaling_ns(cfg.max_actors):
        actors = [FpAsyncBench() for _ in range(n)]
        raw = RawZmq(peers=n)
        total = CALLS_PER_ACTOR * n
        try:
            fastparl.get([a.noop() for a in actors])

            def fp(actors: list = actors, total: int = total, n: int = n) -> None:
                fastparl.get([actors[i % n].noop() for i in range(total)])

            def rz(raw: RawZmq = raw, total: int = total) -> None:
                raw.pipelined(total)

            ts = interleaved({"raw pyzmq": rz, "fastparl zmq": fp}, cfg.pipe_reps, 1)
        finally:
            raw.close()
            for a in actors:
                fastparl.kill(a)
        fp_cs, raw_cs = total / median(ts["fastparl zmq"]), total / median(ts["raw pyzmq"])
        rows.append({"n": n, "fastparl_calls_s": fp_cs, "raw_calls_s": raw_cs, "ratio": fp_cs / raw_cs})
        log(f"  N={n}: {fp_cs / 1e3:.1f}k calls/s vs raw {raw_cs / 1e3:.1f}k")
    return {"calls_per_actor": CALLS_PER_ACTOR, "reps": cfg.pipe_reps, "rows": rows}


def md_scaling(sc: dict | None, calls: dict | None) -> list[str]:
    """The scaling tables: CPU speedup against Pool, aggregate pipelined calls/s against raw pyzmq."""
    L: list[str] = []
    if sc and sc.get("rows"):
        L += ["## CPU scaling: N actors on the workers vs `multiprocessing.Pool(N)` in the driver", "",
              f"Each of N actors runs a pure-Python loop of {sc['iters']:,} iterations at once (T1 = {sc['t1_s']:.2f} s); "
              "speedup = N × T1 / TN, efficiency = speedup / N. "
              f"Medians of {sc.get('reps', '?')} reps, the two systems taking turns.", ""]
        L += md_table(["N", "fastparl s", "speedup", "efficiency", "Pool s", "Pool speedup", "Pool efficiency"],
                      [[r["n"], f"{r['fastparl_s']:.3f}", f"{r['fastparl_speedup']:.2f}", f"{r['fastparl_eff']:.2f}",
                        f"{r['pool_s']:.3f}", f"{r['pool_speedup']:.2f}", f"{r['pool_eff']:.2f}"] for r in sc["rows"]])
        L.append("")
        worst = min(sc["rows"], key=lambda r: r["pool_eff"])
        if worst["pool_eff"] < 0.85:
            L += [f"Pool itself reached only {worst['pool_eff']:.2f} N at N = {worst['n']}: other work held cores during "
                  "this run, so read fastparl against Pool, not against N.", ""]
    if calls and calls.get("rows"):
        L += ["## Pipelined no-op calls with N actors (aggregate)", "",
              f"{calls['calls_per_actor']} calls per actor issued round-robin before the first result is read; raw "
              f"pyzmq: N DEALER peers on one ROUTER. Medians of {calls['reps']} reps, interleaved.", ""]
        L += md_table(["N", "fastparl calls/s", "raw pyzmq calls/s", "ratio"],
                      [[r["n"], f"{r['fastparl_calls_s'] / 1e3:.1f}k", f"{r['raw_calls_s'] / 1e3:.1f}k",
                        f"{r['ratio']:.2f}"] for r in calls["rows"]])
        L.append("")
    return L


def plot_scaling(sc: dict | None, calls: dict | None, out_dir: str) -> list[str]:
    """``cluster_scaling.png``: CPU speedup against N beside Pool, and aggregate calls/s against N beside raw."""
    plt = plots.pyplot()
    sc_rows = (sc or {}).get("rows") or []
    call_rows = (calls or {}).get("rows") or []
    if plt is None or not (sc_rows or call_rows):
        return []
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    if sc_rows:
        draw_scaling(a1, sc_rows, "fastparl zmq actors", f"CPU-bound loop, {os.cpu_count()} cores")
    if call_rows:
        n = [r["n"] for r in call_rows]
        plots.line_plot(a2, n, {"fastparl zmq": ([r["fastparl_calls_s"] for r in call_rows], "C0-o"),
                                 "raw pyzmq": ([r["raw_calls_s"] for r in call_rows], "C1-s")},
                         xlabel="N (actors / peers)", ylabel="no-op calls/s (aggregate)",
                         title=f"pipelined calls, {CALLS_PER_ACTOR} per actor")
        a2.set_xticks(n)
        a2.set_ylim(bottom=0)
    return [plots.save(fig, out_dir, "cluster_scaling.png")]


def plot_arrays(arr: dict | None, sizes: list[int], out_dir: str) -> list[str]:
    """``cluster_arrays.png``: GB/s against payload size, in and out, fastparl beside raw pyzmq."""
    plt = plots.pyplot()
    rows = [(s, arr[size_name(s)]) for s in sizes if arr and size_name(s) in arr]
    if plt is None or not rows:
        return []
    x = [s for s, _ in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plots.line_plot(ax, x, {"fastparl in": ([r["fastparl in"] for _, r in rows], "C0-o"),
                             "raw pyzmq in": ([r["raw in"] for _, r in rows], "C0:x"),
                             "fastparl out": ([r["fastparl out"] for _, r in rows], "C3-o"),
                             "raw pyzmq out": ([r["raw out"] for _, r in rows], "C3:x")},
                     xlabel="payload", ylabel="GB/s", title="arrays over loopback TCP (in: driver → actor)",
                     xlog=True, ylog=True, xticks=(x, [size_name(s) for s in x]))
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return [plots.save(fig, out_dir, "cluster_arrays.png")]
