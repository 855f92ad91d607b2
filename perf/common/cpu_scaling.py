"""CPU scaling: N ``wait=False`` actors each run the same pure-Python loop at once, against
``multiprocessing.Pool(N)`` doing the same work, N = 1 .. ``cfg.max_actors``.

It uses only the public API, so it measures whichever backend is connected: the runtime report runs it
on the local backend, the cluster report on actors forked by loopback ``fastparl worker`` daemons.
A config passed to :func:`bench_scaling` has ``max_actors``, ``spin_seconds`` (the loop's length,
calibrated in this process) and ``spin_reps``.
"""

from __future__ import annotations

from typing import Any

import fastparl
from perf.common import plots
from perf.common.actors import FpAsyncBench
from perf.common.baselines import spin
from perf.common.harness import median, scaling_ns, time_once

__all__ = ["bench_scaling", "draw_scaling"]


def _spin_iters(seconds: float) -> int:
    n = 200_000
    t = time_once(lambda: spin(n))
    n = int(n * 0.05 / max(t, 1e-6))
    t = min(time_once(lambda: spin(n)) for _ in range(3))
    return max(10_000, int(n * seconds / max(t, 1e-6)))


def bench_scaling(cfg: Any) -> dict:
    """N ``wait=False`` actors each run the same pure-Python loop at once, against ``multiprocessing.Pool(N)``."""
    import multiprocessing as mp

    iters = _spin_iters(cfg.spin_seconds)
    ns = scaling_ns(cfg.max_actors)
    ctx = mp.get_context("fork")
    # The pools are forked before any actor exists (forking copies the driver); then both systems
    # take turns, rep by rep, so that drift in this machine's speed hits them alike.
    pools = {n: ctx.Pool(n) for n in ns}
    actors = [FpAsyncBench() for _ in range(max(ns))]
    pool_s: dict[int, list[float]] = {n: [] for n in ns}
    fp_s: dict[int, list[float]] = {n: [] for n in ns}
    try:
        for n in ns:
            pools[n].map(spin, [1000] * n, chunksize=1)
        fastparl.get([a.spin(1000) for a in actors])
        for _ in range(cfg.spin_reps):
            for n in ns:
                pool_s[n].append(time_once(lambda n=n: pools[n].map(spin, [iters] * n, chunksize=1)))
                fp_s[n].append(time_once(lambda n=n: fastparl.get([a.spin(iters) for a in actors[:n]])))
    finally:
        for a in actors:
            fastparl.kill(a)
        for pool in pools.values():
            pool.terminate()
            pool.join()
    pool_t = {n: median(v) for n, v in pool_s.items()}
    fp_t = {n: median(v) for n, v in fp_s.items()}
    rows = []
    for n in ns:
        fs, ps = n * fp_t[1] / fp_t[n], n * pool_t[1] / pool_t[n]
        rows.append({"n": n, "fastparl_s": fp_t[n], "fastparl_speedup": fs, "fastparl_eff": fs / n,
                     "pool_s": pool_t[n], "pool_speedup": ps, "pool_eff": ps / n,
                     "fastparl_loops_s": n / fp_t[n], "pool_loops_s": n / pool_t[n]})
    return {"iters": iters, "t1_s": fp_t[1], "rows": rows, "reps": cfg.spin_reps}


def draw_scaling(ax: Any, rows: list[dict], label: str, title: str) -> None:
    """Speedup against N for fastparl (``label``) beside ``multiprocessing.Pool``, with N and 0.95 N."""
    n = [r["n"] for r in rows]
    plots.line_plot(ax, n, {"ideal (N)": (n, "k--"), "0.95 N": ([0.95 * v for v in n], "k:"),
                             label: ([r["fastparl_speedup"] for r in rows], "C0-o"),
                             "multiprocessing.Pool": ([r["pool_speedup"] for r in rows], "C2-x")},
                     xlabel="N (actors / processes)", ylabel="throughput relative to N = 1 (N·T1/TN)", title=title)
    ax.set_xticks(n)
