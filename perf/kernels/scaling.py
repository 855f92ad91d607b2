"""Kernel throughput against payload size and against N Python threads, each beside memcpy measured the same way.

- :func:`bench_payload`: each rollout kernel on ``(T, 64)`` rollouts of 1k … 10M steps (and ``(1M, 1)``),
  steps/s and GB/s (bytes read + written per second) beside the rate of ``np.copyto`` moving the same
  bytes (half read, half written) in the same run, the two timed in turns.  Small payloads are timed in
  batches of calls, so the 1k-step row gives numba's (and the wrapper's) cost per call.
- :func:`bench_threads`: N Python threads (N = 1 … ``--max-threads``) each post-process their own
  rollout (GAE on ``(1000, 256)``) over and over; the kernels are ``nogil`` numba functions, so the
  aggregate rate should grow with N.  Beside it: N threads each running ``np.copyto`` of the same bytes
  (NumPy releases the GIL while copying), the memory-bandwidth bound for N threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from perf.common import plots
from perf.common.harness import KB, fmt, md_table, median, scaling_ns
from perf.kernels.baselines import KERNELS, make_data

__all__ = ["bench_payload", "bench_threads", "md_payload", "md_threads", "plot_scaling", "THREAD_SHAPE",
           "PAYLOAD_ENVS"]

PAYLOAD_STEPS = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
PAYLOAD_ENVS = 64
THREAD_SHAPE = (1000, 256)  # one rollout batch per thread: 1000 steps of 256 envs
THREAD_KERNEL = "gae"
BATCH_STEPS = 2_000_000  # small payloads: calls per timed batch so that a batch covers about this many steps


def _copier(nbytes: int) -> Callable[[], None]:
    """One ``np.copyto`` between two pre-faulted float32 arrays of ``nbytes`` (the harness's memcpy floor)."""
    src = np.ones(max(1, nbytes // 4), np.float32)
    dst = np.zeros_like(src)
    np.copyto(dst, src)
    return lambda: np.copyto(dst, src)


def _batch_seconds(fn: Callable[[], Any], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


# ============================================================================ payload size
def bench_payload(cfg: Any) -> dict:
    """Seconds per call of each kernel and of memcpy of the same bytes, at every payload size, taking turns."""
    sizes = [s for s in PAYLOAD_STEPS if not cfg.quick or s <= 1_000_000]
    shapes = [(max(1, round(s / PAYLOAD_ENVS)), PAYLOAD_ENVS) for s in sizes] + [(1_000_000, 1)]
    reps = 3 if cfg.quick else 9
    rows: list[dict[str, Any]] = []
    for T, N in shapes:
        x = make_data(T, N)
        steps = T * N
        inner = max(1, BATCH_STEPS // steps // (4 if cfg.quick else 1))
        for name, (bps, make) in KERNELS.items():
            fn, copy = make(x), _copier(bps * steps // 2)
            fn()
            ks, cs = [], []
            for _ in range(reps):
                ks.append(_batch_seconds(fn, inner))
                cs.append(_batch_seconds(copy, inner))
            k, c = median(ks), median(cs)
            rows.append({"kernel": name, "T": T, "N": N, "steps": steps, "bytes_per_step": bps, "calls_per_batch": inner,
                         "kernel_s": k, "memcpy_s": c, "Msteps_s": steps / k / 1e6, "GBps": bps * steps / k / 1e9,
                         "memcpy_GBps": bps * steps / c / 1e9, "x_memcpy": k / c})
        del x
    return {"rows": rows, "reps": reps, "envs": PAYLOAD_ENVS}


def call_overhead_us(p: dict, kernel: str) -> tuple[float, float] | None:
    """(µs per call at the smallest payload, the part of it not explained by the per-step time at 1M steps)."""
    rows = [r for r in p.get("rows", []) if r["kernel"] == kernel and r["N"] == p.get("envs")]
    big = [r for r in rows if r["steps"] >= 1_000_000]
    if not rows or not big:
        return None
    small = min(rows, key=lambda r: r["steps"])
    per_step = big[0]["kernel_s"] / big[0]["steps"]
    return small["kernel_s"] * 1e6, (small["kernel_s"] - small["steps"] * per_step) * 1e6


def _steps_name(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1_000_000 else f"{n / 1e3:.3g}k"


def md_payload(p: dict) -> list[str]:
    rows = [[r["kernel"], f"({r['T']}, {r['N']})", _steps_name(r["steps"]), fmt(r["kernel_s"] * 1e6), fmt(r["Msteps_s"]),
             fmt(r["GBps"]), fmt(r["memcpy_GBps"]), f"{r['x_memcpy']:.2f}"] for r in p["rows"]]
    L = ["## Throughput against payload size", "",
         f"Each kernel on a `(T, {p['envs']})` rollout (and `(1M, 1)`, one long env), beside `np.copyto` moving the "
         "same bytes (kernel bytes read + written per step × steps: half copied from, half to), the two timed in "
         f"turns, medians of {p['reps']} batches (a batch is many calls for small payloads). GB/s counts read + "
         "written bytes; the memcpy rate rises when the bytes fit in the caches, so *÷ memcpy* compares each size "
         "with its own copy floor.", ""]
    L += md_table(["kernel", "shape (T, N)", "steps", "µs / call", "M steps/s", "GB/s", "memcpy GB/s (same bytes)",
                   "÷ memcpy"], rows)
    over = [(k, call_overhead_us(p, k)) for k in KERNELS]
    parts = [f"{k} {o[0]:.1f} µs ({o[1]:.1f} µs of it fixed)" for k, o in over if o]
    if parts:
        L += ["", "Cost per call at the smallest payload (1k steps): " + "; ".join(parts) + ". *Fixed* = time per "
              "call less 1k steps at the per-step time of the 1M-step row: argument checks and output allocation in "
              "the Python wrapper plus numba's dispatch, paid once per call whatever the size."]
    return L + [""]


# ============================================================================ N threads
def _threads_round(n: int, work: list[Callable[[], Any]], iters: int) -> float:
    """Wall seconds for n threads, started together, each calling its own ``work[i]`` ``iters`` times."""
    barrier = threading.Barrier(n + 1)

    def run(fn: Callable[[], Any]) -> None:
        barrier.wait()
        for _ in range(iters):
            fn()

    threads = [threading.Thread(target=run, args=(work[i],), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def bench_threads(cfg: Any) -> dict:
    """Aggregate steps/s of N threads each running GAE on its own rollout, and of N threads of memcpy of the same bytes."""
    T, N = THREAD_SHAPE
    steps = T * N
    bps, make = KERNELS[THREAD_KERNEL]
    ns = scaling_ns(cfg.max_threads)
    kern = [make(make_data(T, N, seed=i)) for i in range(max(ns))]
    copy = [_copier(bps * steps // 2) for _ in range(max(ns))]
    for fn in kern:
        fn()
    one = median([_batch_seconds(kern[0], 5) for _ in range(3)])
    iters = max(3, int((0.03 if cfg.quick else 0.15) / one))
    reps = 3 if cfg.quick else 7
    ks: dict[int, list[float]] = {n: [] for n in ns}
    cs: dict[int, list[float]] = {n: [] for n in ns}
    for _ in range(reps):  # N and the two systems take turns, so that drift in the machine's load hits all alike
        for n in ns:
            ks[n].append(_threads_round(n, kern, iters))
            cs[n].append(_threads_round(n, copy, iters))
    k1 = n_steps = 0.0
    rows = []
    for n in ns:
        n_steps = n * iters * steps
        agg, bound = n_steps / median(ks[n]), n_steps / median(cs[n])
        k1 = k1 or agg
        ideal = n * k1
        rows.append({"n": n, "Msteps_s": agg / 1e6, "ideal_Msteps_s": ideal / 1e6, "eff": agg / ideal,
                     "bound_Msteps_s": bound / 1e6, "bound_GBps": bound * bps / 1e9, "GBps": agg * bps / 1e9,
                     "x_target_base": agg / min(ideal, bound)})
    return {"kernel": THREAD_KERNEL, "T": T, "N": N, "bytes_per_step": bps, "iters": iters, "reps": reps,
            "working_set_KB": bps * steps / KB, "rows": rows}


def md_threads(th: dict) -> list[str]:
    rows = [[r["n"], fmt(r["Msteps_s"]), fmt(r["GBps"]), fmt(r["ideal_Msteps_s"]), f"{r['eff']:.2f}",
             fmt(r["bound_Msteps_s"]), fmt(r["bound_GBps"]), f"{r['x_target_base']:.2f}"] for r in th["rows"]]
    ws = th["working_set_KB"]
    L = ["## Throughput against N threads", "",
         f"N Python threads, started together, each run `{th['kernel']}` on its own `({th['T']}, {th['N']})` rollout "
         f"{th['iters']} times ({ws / KB:.1f} MB read + written per call); aggregate = N × steps / wall time. *N × single* is N times the N = 1 "
         "aggregate of this run; *memcpy bound* is N threads each running `np.copyto` of the same bytes "
         f"(the same rounds, taken in turns), in steps/s at {th['bytes_per_step']} B/step. "
         f"Medians of {th['reps']} rounds.  Last column: aggregate ÷ min(N × single, memcpy bound) (target ≥ 0.8 at "
         "N = cores).", ""]
    L += md_table(["N threads", "M steps/s", "GB/s", "N × single M steps/s", "efficiency", "memcpy bound M steps/s",
                   "memcpy GB/s", "÷ min(N × single, bound)"], rows)
    return L + [""]


# ============================================================================ plot
def plot_scaling(R: dict, out_dir: str, name: str = "kernels") -> list[str]:
    """``<name>.png``: M steps/s against payload size (left) and against N threads (right)."""
    plt = plots.pyplot()
    p, th = R.get("payload") or {}, R.get("threads") or {}
    if plt is None or not (p.get("rows") or th.get("rows")):
        return []
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    rows = [r for r in p.get("rows", []) if r["N"] == p.get("envs")]
    if rows:
        xs = sorted({r["steps"] for r in rows})
        by = {(r["kernel"], r["steps"]): r for r in rows}
        series: dict[str, tuple[Any, str]] = {}
        for i, k in enumerate(KERNELS):
            series[k] = ([by[k, s]["Msteps_s"] if (k, s) in by else None for s in xs], f"C{i}-o")
        g = [by.get(("gae", s)) for s in xs]
        series["gae's memcpy floor (same bytes)"] = ([r["memcpy_GBps"] * 1e3 / r["bytes_per_step"] if r else None
                                                      for r in g], "C1--")
        plots.line_plot(a1, xs, series, xlabel="steps per call (T × 64 envs)", ylabel="M steps/s",
                         title="kernel throughput against payload size")
        a1.set_xscale("log")
        a1.set_yscale("log")
    if th.get("rows"):
        n = [r["n"] for r in th["rows"]]
        tr = th["rows"]
        plots.line_plot(a2, n, {
            f"{th['kernel']}, N threads": ([r["Msteps_s"] for r in tr], "C1-o"),
            "N × single thread": ([r["ideal_Msteps_s"] for r in tr], "k--"),
            "memcpy bound (N threads)": ([r["bound_Msteps_s"] for r in tr], "C7-x"),
            "target: 0.8 × min(N × single, bound)": ([0.8 * min(r["ideal_Msteps_s"], r["bound_Msteps_s"]) for r in tr],
                                                      "k:")},
            xlabel="N Python threads", ylabel="aggregate M steps/s",
            title=f"{th['kernel']} on ({th['T']}, {th['N']}) per thread, {R['machine']['usable_cores']} cores")
        a2.set_xticks(n)
    return [plots.save(fig, out_dir, f"{name}.png")]
