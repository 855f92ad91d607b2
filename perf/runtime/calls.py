"""Runtime report, call path: no-op latency, pipelined futures, N threads calling one actor.

Baselines in the same run: a raw 1-byte ``socketpair`` round trip (the floor) and a hand-written
``multiprocessing`` Pipe proxy (:mod:`perf.common.baselines`), placed and interleaved alike.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any, Callable

import numpy as np

import fastparl
from perf.common import plots
from perf.common.actors import FpAsyncBench, FpBench
from perf.common.baselines import MpProxy, RawPeer
from perf.common.harness import Pinned, call_times, md_table, median, pct_us, placements, time_once
from perf.runtime.config import Config

__all__ = ["bench_latency", "bench_pipelined", "bench_threads", "md_latency", "md_pipelined", "md_threads",
           "plot_latency", "plot_threads"]

SYSTEMS = ("raw socketpair", "mp Pipe proxy", "fastparl")


# ============================================================================ no-op latency
def bench_latency(cfg: Config) -> dict:
    """p50/p99 of a no-op call, driver and peer on one CPU and on two, systems interleaved in rounds."""
    per_round = max(1, cfg.lat_samples // cfg.lat_rounds)
    out: dict[str, Any] = {}
    for pname, (dc, pc) in placements().items():
        raw = RawPeer(pc)
        mp = MpProxy(cpu=pc)
        fa = FpBench()
        try:
            got = fa.pin(pc)
            if got != [pc]:
                raise RuntimeError(f"the actor could not pin itself to CPU {pc}: its affinity is {got}")
            systems: dict[str, Callable[[], Any]] = {"raw socketpair": raw.ping, "mp Pipe proxy": lambda mp=mp: mp.call("noop"),
                                                     "fastparl": fa.noop}
            samples: dict[str, list[np.ndarray]] = {k: [] for k in systems}
            with Pinned(dc):
                for fn in systems.values():
                    call_times(fn, 500)
                gc.collect()
                for _ in range(cfg.lat_rounds):
                    for k, fn in systems.items():
                        samples[k].append(call_times(fn, per_round))
            row = {}
            for k, parts in samples.items():
                s = np.concatenate(parts)
                row[k] = {"p50_us": pct_us(s, 50), "p99_us": pct_us(s, 99), "mean_us": float(s.mean()) / 1e3,
                          "n": int(s.size), "hist_us": np.percentile(s, np.arange(0, 100.5, 0.5)).tolist()}
            raw50, raw99 = row["raw socketpair"]["p50_us"], row["raw socketpair"]["p99_us"]
            for k in ("mp Pipe proxy", "fastparl"):
                row[k]["ratio_p50"] = row[k]["p50_us"] / raw50
                row[k]["ratio_p99"] = row[k]["p99_us"] / raw99
            out[pname] = {"driver_cpu": dc, "peer_cpu": pc, "systems": row}
        finally:
            raw.close()
            mp.close()
            fastparl.kill(fa)
            del fa
    out["worst_ratio_p50"] = max(p["systems"]["fastparl"]["ratio_p50"] for p in out.values())
    return out


def _places(lat: dict) -> dict[str, dict]:
    return {k: v for k, v in lat.items() if isinstance(v, dict)}


def md_latency(lat: dict) -> list[str]:
    L = ["## 1. No-op call latency (µs)", "",
         "Driver and peer pinned with `os.sched_setaffinity` (the fastparl actor pins itself through a call); "
         "systems interleaved in rounds. Ratios are to the raw socketpair at the same placement.", ""]
    rows = []
    for pname, p in _places(lat).items():
        for k, s in p["systems"].items():
            rows.append([f"{pname} (driver {p['driver_cpu']}, peer {p['peer_cpu']})", k, f"{s['p50_us']:.1f}",
                         f"{s['p99_us']:.1f}", f"{s['mean_us']:.1f}", f"{s.get('ratio_p50', 1):.2f}×",
                         f"{s.get('ratio_p99', 1):.2f}×"])
    L += md_table(["placement", "system", "p50", "p99", "mean", "p50 / raw", "p99 / raw"], rows) + [""]
    odd = [n for n, p in _places(lat).items() if p["systems"]["raw socketpair"]["p50_us"] > p["systems"]["fastparl"]["p50_us"]]
    if odd:
        L += [f"Note ({', '.join(odd)}): the raw 1-byte round trip is *slower* than the proxies' here. Its peer does "
              "almost nothing between messages, so each message finds the other CPU idle and pays its wake-up latency "
              "(large on a VM, where an idle vCPU halts); the proxies' extra work hides part of it. Such a ratio says "
              "little about fastparl; the other placement is the binding one.", ""]
    return L


def plot_latency(lat: dict, out_dir: str, prefix: str = "runtime") -> list[str]:
    plt = plots.pyplot()
    places = _places(lat)
    if plt is None or not places:
        return []
    first = next(iter(places.values()))["systems"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    w = 0.8 / len(first)
    for i, s in enumerate(first):
        x = np.arange(len(places)) + i * w
        axes[0].bar(x, [p["systems"][s]["p50_us"] for p in places.values()], w, label=f"{s} p50")
        axes[0].scatter(x, [p["systems"][s]["p99_us"] for p in places.values()], marker="_", s=200, color="k")
    axes[0].set_xticks(np.arange(len(places)) + w * (len(first) - 1) / 2, list(places))
    axes[0].set_ylabel("µs (bars p50, ticks p99)")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[0].set_title("no-op call round trip")
    for s, v in first.items():  # CDF, first placement
        q = np.asarray(v["hist_us"]) / 1e3
        axes[1].plot(q, np.linspace(0, 100, len(q)), label=s)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("µs")
    axes[1].set_ylabel("percentile")
    axes[1].set_title(f"latency CDF, {next(iter(places))}")
    axes[1].legend(fontsize=8)
    return [plots.save(fig, out_dir, f"{prefix}_latency.png")]


# ============================================================================ pipelined futures
def bench_pipelined(cfg: Config) -> dict:
    """Calls/s of ``fastparl.get([a.noop() for _ in range(n)])`` on a ``wait=False`` actor."""
    a = FpAsyncBench()
    mp = MpProxy()
    raw = RawPeer()
    out: dict[str, Any] = {}
    try:
        fastparl.get([a.noop() for _ in range(1000)])
        mp.pipelined("noop", 1000)
        raw.pipelined(1000)
        for n, reps in cfg.pipe_reps.items():
            fp_t, mp_t, raw_t = [], [], []
            gc.collect()
            for _ in range(reps):
                fp_t.append(time_once(lambda n=n: fastparl.get([a.noop() for _ in range(n)])))
                mp_t.append(time_once(lambda n=n: mp.pipelined("noop", n)))
                raw_t.append(time_once(lambda n=n: raw.pipelined(n)))
            out[str(n)] = {"fastparl_calls_s": n / median(fp_t), "mp_calls_s": n / median(mp_t),
                           "raw_writes_s": n / median(raw_t), "fastparl_best_calls_s": n / min(fp_t), "reps": reps}
    finally:
        raw.close()
        mp.close()
        fastparl.kill(a)
    return out


def md_pipelined(pipe: dict) -> list[str]:
    rows = [[n, f"{p['fastparl_calls_s']:,.0f}", f"{p['fastparl_best_calls_s']:,.0f}", f"{p['mp_calls_s']:,.0f}",
             f"{p['fastparl_calls_s'] / p['mp_calls_s']:.2f}×", f"{p['raw_writes_s']:,.0f}",
             f"{p['fastparl_calls_s'] / p['raw_writes_s']:.2f}×"] for n, p in pipe.items()]
    return (["## 2. Pipelined calls (`wait=False`, then `fastparl.get`)", ""]
            + md_table(["calls in flight", "fastparl calls/s (median)", "fastparl best", "mp Pipe proxy calls/s",
                        "fastparl / mp", "raw: 1-byte writes/s, echoed", "fastparl / raw"], rows)
            + ["", "The mp proxy keeps at most 100 calls in flight: sending all before reading any fills both socket "
               "buffers and deadlocks (about a thousand small messages are enough). The raw column is the floor for one "
               "system call per call: 1-byte writes to a forked child that echoes them over a socketpair, at most 100 "
               "unanswered (the same window).", ""])


# ============================================================================ N threads, one actor
def _threaded(fn: Callable[[], Any], n_threads: int, calls_each: int) -> float:
    """Wall seconds for ``n_threads`` threads to make ``calls_each`` calls of ``fn`` each (thread start excluded)."""
    go = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        go.wait()
        try:
            for _ in range(calls_each):
                fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the driver below
            errors.append(e)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return dt


def bench_threads(cfg: Config) -> dict:
    """Calls/s of N threads calling one actor's no-op at once, against the mp proxy behind a lock (a Pipe
    carries one call at a time, so that is how threads share it)."""
    a = FpBench()
    mp = MpProxy()
    lock = threading.Lock()

    def mp_call() -> None:
        with lock:
            mp.call("noop")

    systems = {"fastparl": a.noop, "mp Pipe proxy + lock": mp_call}
    rows = []
    try:
        for fn in systems.values():
            _threaded(fn, 2, 200)
        for n in cfg.thread_ns:
            each = max(1, cfg.thread_calls // n)
            ts: dict[str, list[float]] = {k: [] for k in systems}
            gc.collect()
            for _ in range(cfg.thread_reps):  # systems take turns, so load drift hits both
                for k, fn in systems.items():
                    ts[k].append(_threaded(fn, n, each))
            fp, mpv = n * each / median(ts["fastparl"]), n * each / median(ts["mp Pipe proxy + lock"])
            rows.append({"threads": n, "calls": n * each, "fastparl_calls_s": fp, "mp_calls_s": mpv,
                         "fastparl_best_calls_s": n * each / min(ts["fastparl"]), "ratio": fp / mpv})
    finally:
        mp.close()
        fastparl.kill(a)
    return {"rows": rows, "reps": cfg.thread_reps}


def md_threads(th: dict) -> list[str]:
    rows = [[r["threads"], f"{r['fastparl_calls_s']:,.0f}", f"{r['fastparl_best_calls_s']:,.0f}",
             f"{r['mp_calls_s']:,.0f}", f"{r['ratio']:.2f}×"] for r in th["rows"]]
    return (["## 3. N threads calling one actor (no-op, synchronous calls)", ""]
            + md_table(["threads", "fastparl calls/s (median)", "fastparl best", "mp Pipe proxy + lock calls/s",
                        "fastparl / mp"], rows)
            + ["", f"Each thread makes its share of {th['rows'][0]['calls'] if th['rows'] else 0:,} calls (at N = 1); "
               f"the systems take turns, {th['reps']} times; thread start is not timed. A Pipe carries one call at a "
               "time, so the threads of the mp proxy share it behind a lock; fastparl's threads share one actor "
               "handle with no lock of the user's.", ""])


def plot_threads(th: dict, out_dir: str, prefix: str = "runtime") -> list[str]:
    plt = plots.pyplot()
    if plt is None or not th.get("rows"):
        return []
    n = [r["threads"] for r in th["rows"]]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    plots.line_plot(ax, n, {"fastparl": ([r["fastparl_calls_s"] / 1e3 for r in th["rows"]], "C0-o"),
                             "mp Pipe proxy + lock": ([r["mp_calls_s"] / 1e3 for r in th["rows"]], "C2-x")},
                     xlabel="threads calling one actor", ylabel="calls/s (thousands)",
                     title="N threads, one actor, no-op calls", xlog=True, xticks=(n, [str(v) for v in n]))
    ax.set_ylim(bottom=0)
    return [plots.save(fig, out_dir, f"{prefix}_threads.png")]
