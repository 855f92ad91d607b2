"""Runtime report, processes: actor start -> first call, a fresh interpreter's one-time costs and
footprint, and CPU scaling of N actors against ``multiprocessing.Pool`` (N = 1 .. cores)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np

import fastparl
from perf.common import plots
from perf.common.actors import FpBench
from perf.common.baselines import MpProxy
from perf.common.cpu_scaling import draw_scaling
from perf.common.harness import MB, REPO, md_table, median
from perf.runtime.config import Config

__all__ = ["bench_start", "bench_fresh", "md_start", "md_fresh", "md_scaling", "plot_scaling"]


# ============================================================================ start -> first call
def _local_class() -> type:
    class LocalBench:  # <locals> in its qualname: shipped by value with cloudpickle
        def noop(self) -> None:
            return None

    return fastparl.remote_class(LocalBench)


def _fp_start(cls: type) -> tuple[float, float, float]:
    gc.collect()
    t0 = time.perf_counter()
    a = cls()
    t1 = time.perf_counter()
    a.noop()
    t2 = time.perf_counter()
    fastparl.kill(a)
    del a
    return t1 - t0, t2 - t0, time.perf_counter() - t2


def _mp_start() -> float:
    gc.collect()
    t0 = time.perf_counter()
    m = MpProxy()
    m.call("noop")
    t = time.perf_counter() - t0
    m.close()
    return t


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


def bench_start(cfg: Config) -> dict:
    """Actors created, called once and killed one at a time in this driver (not the first of the run)."""
    _fp_start(FpBench)
    by_ref = [_fp_start(FpBench) for _ in range(cfg.start_n)]
    local = _local_class()
    by_val = [_fp_start(local) for _ in range(max(3, cfg.start_n // 2))]
    mp = [_mp_start() for _ in range(max(3, cfg.start_n // 2))]
    return {
        "n": cfg.start_n,
        "fastparl_create_ms": median([x[0] for x in by_ref]) * 1e3,
        "fastparl_first_call_ms": median([x[1] for x in by_ref]) * 1e3,
        "fastparl_first_call_p90_ms": float(np.percentile([x[1] for x in by_ref], 90)) * 1e3,
        "fastparl_kill_ms": median([x[2] for x in by_ref]) * 1e3,
        "fastparl_by_value_first_call_ms": median([x[1] for x in by_val]) * 1e3,
        "mp_fork_first_call_ms": median(mp) * 1e3,
        "driver_rss_mb_at_fork": _rss_mb(os.getpid()),
    }


def md_start(st: dict) -> list[str]:
    return (["## 7. Actor start → first call (ms, medians)", ""]
            + md_table(["fastparl `A()`", "`A()` + first `noop()`", "p90", "class by value (cloudpickle)", "`kill`",
                        "mp fork + Pipe first reply"],
                       [[f"{st['fastparl_create_ms']:.2f}", f"{st['fastparl_first_call_ms']:.2f}",
                         f"{st['fastparl_first_call_p90_ms']:.2f}", f"{st['fastparl_by_value_first_call_ms']:.2f}",
                         f"{st['fastparl_kill_ms']:.2f}", f"{st['mp_fork_first_call_ms']:.2f}"]])
            + ["", f"Over {st['n']} actors created and killed one at a time in this driver (RSS "
               f"{st['driver_rss_mb_at_fork']:.0f} MB, which the mp baseline's fork copies page tables of).", ""])


# ============================================================================ fresh interpreter
_PROBE_FASTPARL = r"""
import json, os, sys, time
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
r0 = rss()
t0 = time.perf_counter(); import fastparl; t1 = time.perf_counter(); r1 = rss()
fastparl.connect(); t2 = time.perf_counter(); r2 = rss()
from perf.common.baselines import Bench
A = fastparl.remote_class(Bench)
t3 = time.perf_counter(); a = A(); a.noop(); t4 = time.perf_counter(); r3 = rss()
import psutil
me = psutil.Process()
kids = me.children(recursive=True)
server = fastparl.remote.current_backend().server.pid
def mem(p):
    try:
        m = p.memory_full_info()
        return {"pid": p.pid, "rss_mb": m.rss / 2**20, "uss_mb": m.uss / 2**20, "pss_mb": getattr(m, "pss", m.uss) / 2**20}
    except Exception:
        m = p.memory_info()
        return {"pid": p.pid, "rss_mb": m.rss / 2**20, "uss_mb": None, "pss_mb": None}
procs = [dict(mem(p), role="fork server" if p.pid == server else ("actor" if p.pid == a.pid() else "other"),
              threads=p.num_threads()) for p in kids]
out = {"import_ms": (t1 - t0) * 1e3, "connect_ms": (t2 - t1) * 1e3, "first_actor_ms": (t4 - t3) * 1e3,
       "rss0_mb": r0, "rss_import_mb": r1, "rss_connect_mb": r2, "rss_actor_mb": r3,
       "driver_threads": me.num_threads(), "children": procs}
t5 = time.perf_counter(); fastparl.disconnect(); out["disconnect_ms"] = (time.perf_counter() - t5) * 1e3
out["left_after_disconnect"] = [p.pid for p in psutil.Process().children(recursive=True)]
print("PROBE" + json.dumps(out))
"""

_PROBE_MP = r"""
import json, os, time
import numpy as np
import psutil
from perf.common.baselines import MpProxy
w = MpProxy(); w.call("noop"); w.close()  # imports and first-use costs of multiprocessing, not fork
r0 = psutil.Process().memory_info().rss / 2**20
t0 = time.perf_counter(); m = MpProxy(); m.call("noop"); t1 = time.perf_counter()
p = psutil.Process(m.proc.pid)
mi = p.memory_full_info()
out = {"first_call_ms": (t1 - t0) * 1e3, "driver_rss_mb": r0, "child_rss_mb": mi.rss / 2**20,
       "child_uss_mb": mi.uss / 2**20, "child_pss_mb": getattr(mi, "pss", mi.uss) / 2**20,
       "processes": len(psutil.Process().children(recursive=True))}
m.close()
print("PROBE" + json.dumps(out))
"""


def _probe(code: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    for line in p.stdout.splitlines():
        if line.startswith("PROBE"):
            return json.loads(line[5:])
    raise RuntimeError(f"probe failed (exit {p.returncode}): {p.stderr[-2000:]}")


def bench_fresh(cfg: Config) -> dict:
    """A fresh ``python -c``: import, the one-time fork server start, first actor, footprint with one actor."""
    fp = [_probe(_PROBE_FASTPARL) for _ in range(cfg.probe_runs)]
    mp = [_probe(_PROBE_MP) for _ in range(max(1, cfg.probe_runs // 2 + 1))]
    first = fp[0]
    kids = first["children"]
    ours = [k for k in kids if k["role"] in ("fork server", "actor")]

    def total(key: str) -> float | None:
        vals = [k[key] for k in ours]
        return None if any(v is None for v in vals) else float(sum(vals))

    return {
        "runs": len(fp),
        "import_ms": median([r["import_ms"] for r in fp]),
        "connect_ms": median([r["connect_ms"] for r in fp]),
        "first_actor_ms": median([r["first_actor_ms"] for r in fp]),
        "disconnect_ms": median([r["disconnect_ms"] for r in fp]),
        "driver_rss_before_mb": first["rss0_mb"],
        "driver_rss_delta_import_mb": median([r["rss_import_mb"] - r["rss0_mb"] for r in fp]),
        "driver_rss_delta_connect_mb": median([r["rss_connect_mb"] - r["rss0_mb"] for r in fp]),
        "driver_rss_delta_actor_mb": median([r["rss_actor_mb"] - r["rss0_mb"] for r in fp]),
        "driver_threads": first["driver_threads"],
        "processes": len(kids),
        "children": kids,
        "runtime_rss_mb": total("rss_mb"),
        "runtime_uss_mb": total("uss_mb"),
        "runtime_pss_mb": total("pss_mb"),
        "left_after_disconnect": max(len(r["left_after_disconnect"]) for r in fp),
        "mp_first_call_ms": median([r["first_call_ms"] for r in mp]),
        "mp_child_rss_mb": median([r["child_rss_mb"] for r in mp]),
        "mp_child_uss_mb": median([r["child_uss_mb"] for r in mp]),
        "mp_child_pss_mb": median([r["child_pss_mb"] for r in mp]),
        "mp_processes": mp[0]["processes"],
    }


def _mb(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def md_fresh(fr: dict) -> list[str]:
    L = [f"## 8. Fresh interpreter: one-time costs and footprint (median of {fr['runs']} runs)", ""]
    L += md_table(["`import fastparl`", "first `connect()` (fork server start)", "first actor + call", "`disconnect()`",
                   "driver RSS + import", "+ connect", "+ 1 actor", "mp fork + first reply (fresh)"],
                  [[f"{fr['import_ms']:.0f} ms", f"{fr['connect_ms']:.0f} ms", f"{fr['first_actor_ms']:.1f} ms",
                    f"{fr['disconnect_ms']:.0f} ms", f"{fr['driver_rss_delta_import_mb']:.1f} MB",
                    f"{fr['driver_rss_delta_connect_mb']:.1f} MB", f"{fr['driver_rss_delta_actor_mb']:.1f} MB",
                    f"{fr['mp_first_call_ms']:.1f} ms"]])
    L += ["", f"Processes under the driver with one actor: {fr['processes']} (driver threads: {fr['driver_threads']}); "
          f"left after `disconnect()`: {fr['left_after_disconnect']}.", ""]
    rows = [[k["role"], f"{k['rss_mb']:.1f}", _mb(k["uss_mb"]), _mb(k["pss_mb"]), k["threads"]] for k in fr["children"]]
    rows.append(["**runtime total**", f"{fr['runtime_rss_mb']:.1f}", _mb(fr["runtime_uss_mb"]), _mb(fr["runtime_pss_mb"]),
                 ""])
    rows.append(["mp proxy child (baseline)", f"{fr['mp_child_rss_mb']:.1f}", f"{fr['mp_child_uss_mb']:.1f}",
                 f"{fr['mp_child_pss_mb']:.1f}", ""])
    return L + md_table(["process", "RSS MB", "USS MB", "PSS MB", "threads"], rows) + [""]


# ============================================================================ N-actor scaling
def md_scaling(sc: dict) -> list[str]:
    rows = [[r["n"], f"{r['fastparl_s']:.3f}", f"{r['fastparl_speedup']:.2f}", f"{r['fastparl_eff']:.2f}",
             f"{r['pool_s']:.3f}", f"{r['pool_speedup']:.2f}", f"{r['pool_eff']:.2f}",
             f"{r['fastparl_loops_s'] / r['pool_loops_s']:.2f}"] for r in sc["rows"]]
    return ([f"## 9. N-actor scaling: pure-Python loop of {sc['iters']:,} iterations per actor (T1 = {sc['t1_s']:.2f} s)",
             "", "speedup = N × T1 / TN (N actors each doing the T1 work at once); efficiency = speedup / N. "
             f"Medians of {sc.get('reps', '?')} reps, the two systems taking turns. Each speedup is against that "
             "system's own T1; the last column compares the two on the same work at the same N (loops/s), which "
             "is the fairer comparison where one process runs the loop tens of percent faster than another "
             "(CPU placement, SMT siblings and turbo on these VMs).", ""]
            + md_table(["N", "fastparl s", "speedup", "efficiency", "Pool s", "Pool speedup", "Pool efficiency",
                        "fastparl ÷ Pool loops/s"], rows)
            + [""])


def plot_scaling(sc: dict, out_dir: str, prefix: str = "runtime") -> list[str]:
    plt = plots.pyplot()
    rows = sc.get("rows") or []
    if plt is None or not rows:
        return []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    draw_scaling(ax, rows, "fastparl", f"pure-Python CPU-bound scaling, {os.cpu_count()} cores")
    return [plots.save(fig, out_dir, f"{prefix}_scaling.png")]
