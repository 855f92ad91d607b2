"""Runtime report: fastparl's local backend against a raw socketpair, plain ``multiprocessing``, memcpy (and Ray).

Run from the repository root::

    python -m perf.runtime                 # full report, < 5 min on 2 cores
    python -m perf.runtime --quick         # smoke test, < 60 s on 2 cores
    python -m perf.runtime --max-actors 16 --out perf/results

Everything is measured in one run on one machine, and each fastparl number is put beside its
baseline from the same run (ratios), since absolute numbers move with the machine and its load.
Sections (see perf/README.md for what each column means):

1. no-op call latency p50/p99, same CPU and across CPUs, vs a raw socketpair round trip and a
   ``multiprocessing`` Pipe proxy placed alike (systems interleaved in rounds, so drift in load
   hits them alike);
2. pipelined ``wait=False`` calls per second (500 and 5000 in flight);
3. arrays in and out, 1 KB .. 128 MB, vs memcpy and the Pipe proxy; plus the inline vs
   out-of-band crossover that sets ``channel.OOB_THRESHOLD``;
4. ``shared_array`` handoff time per size (should not depend on size);
5. ``put()`` broadcast of ~64 MB of weights to 4 actors vs sending the dict to each;
6. actor start -> first call, and the one-time fork server start (fresh interpreter);
7. footprint: processes and memory of the runtime with one actor;
8. N-actor scaling of pure-Python CPU work vs ``multiprocessing.Pool``;
9. Ray (if importable) and PARL (if importable and ``PARL_ADDRESS`` is set).

Writes ``runtime.md``, ``runtime.json`` and PNG plots (if matplotlib is importable) to ``--out``.
Needs only numpy, cloudpickle and psutil besides fastparl.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

if __package__ in (None, ""):  # python perf/runtime.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastparl  # noqa: E402
from perf import _baselines as B  # noqa: E402

# Shipped to actors by reference (module perf._baselines), as a user's own module would be.
FpBench = fastparl.remote_class(B.Bench)
FpAsyncBench = fastparl.remote_class(wait=False)(B.Bench)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KB, MB = 1 << 10, 1 << 20
ARRAY_SIZES = [1 * KB, 64 * KB, 1 * MB, 16 * MB, 128 * MB]
SWEEP_SIZES = [4 * KB, 16 * KB, 32 * KB, 64 * KB, 128 * KB, 256 * KB, 1 * MB]

SECTION_TIMEOUT_S = 240

TARGETS = {
    "noop_ratio": 2.0,  # fastparl / raw socketpair RTT, p50, worse placement
    "pipelined_calls_s": 150_000,
    "array_128mb_ratio": 0.8,  # x memcpy, in and out
    "start_ms": 10.0,
    "overhead_mb": 60.0,
    "scaling_eff_2": 0.95,
    "scaling_eff_16": 0.90,
}


# ============================================================================ helpers
def _us(ns: Any) -> float:
    return float(ns) / 1e3


def _pct_us(samples: np.ndarray, q: float) -> float:
    return float(np.percentile(samples, q)) / 1e3


def _size_name(n: int) -> str:
    if n >= MB:
        return f"{n // MB} MB"
    return f"{n // KB} KB"


def _call_times(fn: Callable[[], Any], n: int) -> np.ndarray:
    """Wall time (ns) of each of ``n`` calls of ``fn``."""
    clock = time.perf_counter_ns
    out = np.empty(n, np.int64)
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def _time_once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _interleaved(systems: dict[str, Callable[[], Any]], reps: int, block: int) -> dict[str, list[float]]:
    """Time ``reps`` calls of each system (seconds per call), in rounds of ``block`` consecutive calls
    per system: drift in the machine's load hits every system alike, while each peer stays warm
    within a block (a peer left idle for a while pays the CPU's wake-up latency on its next call,
    tens of µs on a VM, which would swamp small calls if systems alternated call by call)."""
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


def _median(xs: list[float]) -> float:
    return float(np.median(np.asarray(xs, dtype=np.float64)))


class _Pinned:
    """Pin this thread to one CPU for a ``with`` block (None: leave it alone)."""

    def __init__(self, cpu: int | None):
        self.cpu = cpu
        self.old: set[int] | None = None

    def __enter__(self) -> "_Pinned":
        if self.cpu is not None:
            self.old = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            os.sched_setaffinity(0, self.old)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Config:
    def __init__(self, quick: bool, max_actors: int):
        self.quick = quick
        self.max_actors = max_actors
        self.lat_samples = 4000 if quick else 30000  # per system and placement, in rounds
        self.lat_rounds = 4 if quick else 10
        self.pipe_reps = {500: 6, 5000: 2} if quick else {500: 30, 5000: 8}
        self.sweep_reps = 40 if quick else 200
        self.shared_reps = 30 if quick else 200
        self.put_reps = 2 if quick else 5
        self.start_n = 8 if quick else 20
        self.probe_runs = 1 if quick else 5
        self.spin_seconds = 0.08 if quick else 0.3
        self.spin_reps = 2 if quick else 5

    def array_reps(self, size: int) -> int:
        table = {1 * KB: 300, 64 * KB: 300, 1 * MB: 100, 16 * MB: 25, 128 * MB: 11}
        quick = {1 * KB: 50, 64 * KB: 50, 1 * MB: 20, 16 * MB: 6, 128 * MB: 4}
        return (quick if self.quick else table).get(size, 10)


# ============================================================================ 1. no-op latency
def bench_latency(cfg: Config) -> dict:
    cpus = sorted(os.sched_getaffinity(0))
    placements = {"same CPU": (cpus[0], cpus[0])}
    if len(cpus) > 1:
        placements["across CPUs"] = (cpus[0], cpus[1])
    per_round = max(1, cfg.lat_samples // cfg.lat_rounds)
    out: dict[str, Any] = {}
    for pname, (dc, pc) in placements.items():
        raw = B.RawPeer(pc)
        mp = B.MpProxy(cpu=pc)
        fa = FpBench()
        try:
            got = fa.pin(pc)
            assert got == [pc], got
            systems: dict[str, Callable[[], Any]] = {
                "raw socketpair": raw.ping,
                "mp Pipe proxy": lambda: mp.call("noop"),
                "fastparl": fa.noop,
            }
            samples: dict[str, list[np.ndarray]] = {k: [] for k in systems}
            with _Pinned(dc):
                for fn in systems.values():
                    _call_times(fn, 500)
                gc.collect()
                for _ in range(cfg.lat_rounds):
                    for k, fn in systems.items():
                        samples[k].append(_call_times(fn, per_round))
            row = {}
            for k, parts in samples.items():
                s = np.concatenate(parts)
                row[k] = {"p50_us": _pct_us(s, 50), "p99_us": _pct_us(s, 99), "mean_us": _us(s.mean()),
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
    worst = max(p["systems"]["fastparl"]["ratio_p50"] for p in out.values())
    out["worst_ratio_p50"] = worst
    return out


# ============================================================================ 2. pipelined futures
def bench_pipelined(cfg: Config) -> dict:
    a = FpAsyncBench()
    mp = B.MpProxy()
    raw = B.RawPeer()
    out: dict[str, Any] = {}
    try:
        fastparl.get([a.noop() for _ in range(1000)])
        mp.pipelined("noop", 1000)
        raw.pipelined(1000)
        for n, reps in cfg.pipe_reps.items():
            fp_t, mp_t, raw_t = [], [], []
            gc.collect()
            for _ in range(reps):
                fp_t.append(_time_once(lambda: fastparl.get([a.noop() for _ in range(n)])))
                mp_t.append(_time_once(lambda: mp.pipelined("noop", n)))
                raw_t.append(_time_once(lambda: raw.pipelined(n)))
            out[str(n)] = {"fastparl_calls_s": n / _median(fp_t), "mp_calls_s": n / _median(mp_t),
                           "raw_writes_s": n / _median(raw_t), "fastparl_best_calls_s": n / min(fp_t), "reps": reps}
    finally:
        raw.close()
        mp.close()
        fastparl.kill(a)
    return out


# ============================================================================ 3. arrays in / out
def _memcpy_seconds(size: int, reps: int) -> list[float]:
    src = np.ones(size // 4, np.float32)
    dst = np.zeros_like(src)
    inner = max(1, (4 * MB) // size)  # small copies: time a batch, divide
    np.copyto(dst, src)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.copyto(dst, src)
        ts.append((time.perf_counter() - t0) / inner)
    return ts


def bench_arrays(cfg: Config) -> dict:
    a = FpBench()
    mp = B.MpProxy()
    rows = []
    try:
        for size in ARRAY_SIZES:
            reps = cfg.array_reps(size)
            arr = np.ones(size // 4, np.float32)
            a.hold(size)
            mp.call("hold", size)

            def fp_out() -> None:
                v = a.give(size)
                B.touch(v)

            def mp_out() -> None:
                v = mp.call("give", size)
                B.touch(v)

            systems: dict[str, Callable[[], Any]] = {
                "fastparl_in": lambda: a.touch(arr),
                "fastparl_out": fp_out,
                "mp_in": lambda: mp.call("touch", arr),
                "mp_out": mp_out,
            }
            for fn in systems.values():  # warm up: arena segments are created on first use
                for _ in range(3):
                    fn()
            gc.collect()
            times = _interleaved(systems, reps, max(1, reps // 10))
            memcpy = _median(_memcpy_seconds(size, max(5, min(reps, 50))))
            row: dict[str, Any] = {"bytes": size, "reps": reps, "memcpy_s": memcpy, "memcpy_GBps": size / memcpy / 1e9}
            for k, ts in times.items():
                t = _median(ts)
                row[f"{k}_s"] = t
                row[f"{k}_GBps"] = size / t / 1e9
                row[f"{k}_x_memcpy"] = memcpy / t
            rows.append(row)
            a.drop()
            mp.call("drop")
            del arr
            _log(f"  arrays {_size_name(size)}: in {row['fastparl_in_GBps']:.2f} GB/s, out "
                 f"{row['fastparl_out_GBps']:.2f} GB/s, memcpy {row['memcpy_GBps']:.2f} GB/s")
        sweep = _oob_sweep(a, cfg)
    finally:
        mp.close()
        fastparl.kill(a)
    return {"rows": rows, "oob_sweep": sweep}


def _oob_sweep(a: Any, cfg: Config) -> dict:
    """Driver -> actor call time of an array argument sent inline (in the pickle body) vs out of band."""
    actor = a.__dict__["_fp_actor"]
    ch = getattr(actor, "ch", None)
    if ch is None or not hasattr(ch, "oob_threshold"):
        return {"skipped": "the local backend's channel has no oob_threshold"}
    default = ch.oob_threshold
    rows = []
    try:
        for size in SWEEP_SIZES:
            arr = np.ones(size // 4, np.float32)
            def mode(thr: int) -> Callable[[], Any]:
                def call() -> None:
                    ch.oob_threshold = thr
                    a.touch(arr)
                return call

            systems = {"inline": mode(1 << 62), "oob": mode(1)}
            _interleaved(systems, 10, 10)
            res = _interleaved(systems, cfg.sweep_reps, 20)
            rows.append({"bytes": size, "inline_us": _median(res["inline"]) * 1e6, "oob_us": _median(res["oob"]) * 1e6})
    finally:
        ch.oob_threshold = default
    cross = next((r["bytes"] for r in rows if r["oob_us"] <= r["inline_us"]), None)
    return {"rows": rows, "default_threshold": default, "oob_wins_from_bytes": cross}


# ============================================================================ 4. shared arrays
def bench_shared(cfg: Config) -> dict:
    a = FpBench()
    rows = []
    try:
        arrays = {size: fastparl.shared_array(size // 4, np.float32) for size in ARRAY_SIZES}
        first = {}
        for size, sa in arrays.items():
            first[size] = _time_once(lambda: a.write_one(sa))
        systems: dict[str, Callable[[], Any]] = {"no-op": a.noop}
        for size, sa in arrays.items():
            systems[str(size)] = (lambda sa: lambda: a.write_one(sa))(sa)
        _interleaved(systems, 5, 5)
        times = _interleaved(systems, cfg.shared_reps, 20)
        noop = _median(times["no-op"])
        for size, sa in arrays.items():
            ts = times[str(size)]
            rows.append({"bytes": size, "first_call_us": first[size] * 1e6, "median_us": _median(ts) * 1e6,
                         "p90_us": float(np.percentile(ts, 90)) * 1e6, "write_seen": bool(sa.reshape(-1)[0] == 1)})
        del arrays, sa, systems
    finally:
        fastparl.kill(a)
    meds = [r["median_us"] for r in rows]
    return {"rows": rows, "noop_us": noop * 1e6, "max_over_min": max(meds) / min(meds)}


# ============================================================================ 5. put() broadcast
def bench_put(cfg: Config, n_actors: int = 4) -> dict:
    layers = 8
    per = 64 * MB // layers
    weights = {f"layer{i}": np.full(per // 4, float(i), np.float32) for i in range(layers)}
    nbytes = sum(v.nbytes for v in weights.values())
    actors = [FpAsyncBench() for _ in range(n_actors)]
    try:
        def send_each() -> None:
            fastparl.get([x.read_weights(weights) for x in actors])

        state: dict[str, Any] = {}

        def put_then_send() -> None:
            ref = fastparl.put(weights)
            fastparl.get([x.read_weights(ref) for x in actors])
            state["ref"] = ref

        def reuse_ref() -> None:
            fastparl.get([x.read_weights(state["ref"]) for x in actors])

        send_each()  # warm-up (arena segments)
        put_then_send()
        state.clear()
        t_each, t_put, t_reuse, t_put_only = [], [], [], []
        for _ in range(cfg.put_reps):
            gc.collect()
            t_each.append(_time_once(send_each))
            t_put.append(_time_once(put_then_send))
            t_reuse.append(_time_once(reuse_ref))
            state.clear()
            t_put_only.append(_time_once(lambda: state.setdefault("r", fastparl.put(weights))))
            state.clear()
            fastparl.get([x.noop() for x in actors])  # carries the 'forget' of the dead references
    finally:
        for x in actors:
            fastparl.kill(x)
    each, put, reuse = _median(t_each), _median(t_put), _median(t_reuse)
    return {"bytes": nbytes, "n_actors": n_actors, "send_each_ms": each * 1e3, "put_and_send_ms": put * 1e3,
            "reuse_ref_ms": reuse * 1e3, "put_only_ms": _median(t_put_only) * 1e3,
            "speedup_put": each / put, "speedup_reuse": each / reuse}


# ============================================================================ 6. start -> first call
def _local_class() -> type:
    class LocalBench:  # <locals> in its qualname: shipped by value with cloudpickle
        def noop(self) -> None:
            return None

    return fastparl.remote_class(LocalBench)


def bench_start(cfg: Config) -> dict:
    def fp_start(cls: type) -> tuple[float, float, float]:
        gc.collect()
        t0 = time.perf_counter()
        a = cls()
        t1 = time.perf_counter()
        a.noop()
        t2 = time.perf_counter()
        fastparl.kill(a)
        del a
        t3 = time.perf_counter()
        return t1 - t0, t2 - t0, t3 - t2

    def mp_start() -> float:
        gc.collect()
        t0 = time.perf_counter()
        m = B.MpProxy()
        m.call("noop")
        t = time.perf_counter() - t0
        m.close()
        return t

    fp_start(FpBench)  # not the first actor of the run: the warm path users see
    by_ref = [fp_start(FpBench) for _ in range(cfg.start_n)]
    local = _local_class()
    by_val = [fp_start(local) for _ in range(max(3, cfg.start_n // 2))]
    mp = [mp_start() for _ in range(max(3, cfg.start_n // 2))]
    return {
        "n": cfg.start_n,
        "fastparl_create_ms": _median([x[0] for x in by_ref]) * 1e3,
        "fastparl_first_call_ms": _median([x[1] for x in by_ref]) * 1e3,
        "fastparl_first_call_p90_ms": float(np.percentile([x[1] for x in by_ref], 90)) * 1e3,
        "fastparl_kill_ms": _median([x[2] for x in by_ref]) * 1e3,
        "fastparl_by_value_first_call_ms": _median([x[1] for x in by_val]) * 1e3,
        "mp_fork_first_call_ms": _median(mp) * 1e3,
        "driver_rss_mb_at_fork": _rss_mb(os.getpid()),
    }


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


# A fresh interpreter: fork server start, driver RSS delta, footprint with one actor.
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
from perf._baselines import Bench
A = fastparl.remote_class(Bench)
t3 = time.perf_counter(); a = A(); a.noop(); t4 = time.perf_counter(); r3 = rss()
import psutil
me = psutil.Process()
kids = me.children(recursive=True)
server = fastparl.remote.backend().server.pid
def mem(p):
    try:
        m = p.memory_full_info()
        return {"pid": p.pid, "rss_mb": m.rss / 2**20, "uss_mb": m.uss / 2**20, "pss_mb": getattr(m, "pss", m.uss) / 2**20}
    except Exception:
        m = p.memory_info()
        return {"pid": p.pid, "rss_mb": m.rss / 2**20, "uss_mb": None, "pss_mb": None}
procs = [dict(mem(p), role="fork server" if p.pid == server else ("actor" if p.pid == a.pid() else "other"), threads=p.num_threads()) for p in kids]
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
from perf._baselines import MpProxy
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
    fp = [_probe(_PROBE_FASTPARL) for _ in range(cfg.probe_runs)]
    mp = [_probe(_PROBE_MP) for _ in range(max(1, cfg.probe_runs // 2 + 1))]
    first = fp[0]
    kids = first["children"]
    server = [k for k in kids if k["role"] == "fork server"]
    actors = [k for k in kids if k["role"] == "actor"]

    def total(key: str) -> float | None:
        vals = [k[key] for k in server + actors]
        return None if any(v is None for v in vals) else float(sum(vals))

    return {
        "runs": len(fp),
        "import_ms": _median([r["import_ms"] for r in fp]),
        "connect_ms": _median([r["connect_ms"] for r in fp]),
        "first_actor_ms": _median([r["first_actor_ms"] for r in fp]),
        "disconnect_ms": _median([r["disconnect_ms"] for r in fp]),
        "driver_rss_before_mb": first["rss0_mb"],
        "driver_rss_delta_import_mb": _median([r["rss_import_mb"] - r["rss0_mb"] for r in fp]),
        "driver_rss_delta_connect_mb": _median([r["rss_connect_mb"] - r["rss0_mb"] for r in fp]),
        "driver_rss_delta_actor_mb": _median([r["rss_actor_mb"] - r["rss0_mb"] for r in fp]),
        "driver_threads": first["driver_threads"],
        "processes": len(kids),
        "children": kids,
        "runtime_rss_mb": total("rss_mb"),
        "runtime_uss_mb": total("uss_mb"),
        "runtime_pss_mb": total("pss_mb"),
        "left_after_disconnect": max(len(r["left_after_disconnect"]) for r in fp),
        "mp_first_call_ms": _median([r["first_call_ms"] for r in mp]),
        "mp_child_rss_mb": _median([r["child_rss_mb"] for r in mp]),
        "mp_child_uss_mb": _median([r["child_uss_mb"] for r in mp]),
        "mp_child_pss_mb": _median([r["child_pss_mb"] for r in mp]),
        "mp_processes": mp[0]["processes"],
    }


# ============================================================================ 8. N-actor scaling
def _spin_iters(seconds: float) -> int:
    n = 200_000
    t = _time_once(lambda: B.spin(n))
    n = int(n * 0.05 / max(t, 1e-6))
    t = min(_time_once(lambda: B.spin(n)) for _ in range(3))
    return max(10_000, int(n * seconds / max(t, 1e-6)))


def _ns(max_n: int) -> list[int]:
    ns, n = [], 1
    while n <= max_n:
        ns.append(n)
        n *= 2
    if ns[-1] != max_n:
        ns.append(max_n)
    return ns


def bench_scaling(cfg: Config) -> dict:
    import multiprocessing as mp

    iters = _spin_iters(cfg.spin_seconds)
    ns = _ns(cfg.max_actors)
    ctx = mp.get_context("fork")
    # The pools are forked before any actor exists (forking copies the driver); then both systems
    # take turns, rep by rep, so that drift in this machine's speed hits them alike.
    pools = {n: ctx.Pool(n) for n in ns}
    actors = [FpAsyncBench() for _ in range(max(ns))]
    pool_s: dict[int, list[float]] = {n: [] for n in ns}
    fp_s: dict[int, list[float]] = {n: [] for n in ns}
    try:
        for n in ns:
            pools[n].map(B.spin, [1000] * n, chunksize=1)
        fastparl.get([a.spin(1000) for a in actors])
        for _ in range(cfg.spin_reps):
            for n in ns:
                pool_s[n].append(_time_once(lambda: pools[n].map(B.spin, [iters] * n, chunksize=1)))
                fp_s[n].append(_time_once(lambda: fastparl.get([a.spin(iters) for a in actors[:n]])))
    finally:
        for a in actors:
            fastparl.kill(a)
        for pool in pools.values():
            pool.terminate()
            pool.join()
    pool_t = {n: _median(v) for n, v in pool_s.items()}
    fp_t = {n: _median(v) for n, v in fp_s.items()}
    rows = []
    for n in ns:
        fs = n * fp_t[1] / fp_t[n]
        ps = n * pool_t[1] / pool_t[n]
        rows.append({"n": n, "fastparl_s": fp_t[n], "fastparl_speedup": fs, "fastparl_eff": fs / n,
                     "pool_s": pool_t[n], "pool_speedup": ps, "pool_eff": ps / n})
    return {"iters": iters, "t1_s": fp_t[1], "rows": rows}


# ============================================================================ 9. Ray / PARL
def bench_ray(cfg: Config) -> dict:
    import importlib.util
    import tempfile

    if importlib.util.find_spec("ray") is None:
        return {"skipped": "ray not installed"}
    import ray

    tmp = tempfile.mkdtemp(prefix="fastparl-ray-")
    out: dict[str, Any] = {"version": getattr(ray, "__version__", "?")}
    t0 = time.perf_counter()
    ray.init(num_cpus=max(2, os.cpu_count() or 2), _temp_dir=tmp, include_dashboard=False,
             log_to_driver=False, ignore_reinit_error=True)
    out["init_s"] = time.perf_counter() - t0
    try:
        RayBench = ray.remote(B.Bench)
        starts = []
        for _ in range(3 if cfg.quick else 5):
            t0 = time.perf_counter()
            a = RayBench.remote()
            ray.get(a.noop.remote())
            starts.append(time.perf_counter() - t0)
            ray.kill(a)
        out["first_call_ms"] = _median(starts) * 1e3
        a = RayBench.remote()
        ray.get(a.noop.remote())
        s = _call_times(lambda: ray.get(a.noop.remote()), 300 if cfg.quick else 2000)
        out["noop_p50_us"], out["noop_p99_us"] = _pct_us(s, 50), _pct_us(s, 99)
        ts = [_time_once(lambda: ray.get([a.noop.remote() for _ in range(500)])) for _ in range(3)]
        out["pipelined_500_calls_s"] = 500 / _median(ts)
        size = 128 * MB
        arr = np.ones(size // 4, np.float32)
        ray.get(a.hold.remote(size))

        def ray_out() -> None:
            B.touch(ray.get(a.give.remote(size)))

        for fn, key in ((lambda: ray.get(a.touch.remote(arr)), "in_128mb_GBps"), (ray_out, "out_128mb_GBps")):
            fn()
            out[key] = size / _median([_time_once(fn) for _ in range(3 if cfg.quick else 7)]) / 1e9
        ray.kill(a)
        try:
            import psutil

            kids = psutil.Process().children(recursive=True)
            out["processes"] = len(kids)
            out["rss_mb"] = sum(p.memory_info().rss for p in kids) / MB
        except Exception:  # noqa: BLE001
            pass
    finally:
        ray.shutdown()
    return out


def bench_parl(cfg: Config) -> dict:
    import importlib.util

    if importlib.util.find_spec("parl") is None:
        return {"skipped": "parl not installed"}
    addr = os.environ.get("PARL_ADDRESS")
    if not addr:
        return {"skipped": "parl is installed, but PARL_ADDRESS (an xparl cluster, e.g. localhost:8037) is not set"}
    import parl

    parl.connect(addr)
    ParlBench = parl.remote_class(B.Bench)
    t0 = time.perf_counter()
    a = ParlBench()
    a.noop()
    out: dict[str, Any] = {"first_call_ms": (time.perf_counter() - t0) * 1e3}
    s = _call_times(a.noop, 300 if cfg.quick else 2000)
    out["noop_p50_us"], out["noop_p99_us"] = _pct_us(s, 50), _pct_us(s, 99)
    return out


# ============================================================================ report
def machine_info() -> dict:
    import psutil

    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastparl": getattr(fastparl, "__version__", "?"),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg_start": [round(x, 2) for x in load],
        "dont_write_bytecode": bool(sys.flags.dont_write_bytecode),
    }


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _targets(R: dict) -> list[tuple[str, str, str, str, str]]:
    """(measure, fastparl, baseline(s), target, status) rows."""
    rows = []
    lat = R.get("latency")
    if isinstance(lat, dict) and "worst_ratio_p50" in lat:
        parts, base = [], []
        for pname, p in lat.items():
            if not isinstance(p, dict):
                continue
            s = p["systems"]
            parts.append(f"{pname}: {s['fastparl']['p50_us']:.1f} µs = {s['fastparl']['ratio_p50']:.2f}× raw")
            base.append(f"{pname}: raw {s['raw socketpair']['p50_us']:.1f} µs, mp {s['mp Pipe proxy']['p50_us']:.1f} µs")
        w = lat["worst_ratio_p50"]
        rows.append(("no-op call p50", "; ".join(parts), "; ".join(base), f"≤ {TARGETS['noop_ratio']:g}× raw (worse placement)",
                     _status(w <= TARGETS["noop_ratio"]) + f" (worse: {w:.2f}×)"))
    pipe = R.get("pipelined")
    if isinstance(pipe, dict) and "500" in pipe:
        p = pipe["500"]
        extra = f"; 5000: {pipe['5000']['fastparl_calls_s'] / 1e3:.0f}k" if "5000" in pipe else ""
        rows.append(("pipelined futures, 1 actor", f"500: {p['fastparl_calls_s'] / 1e3:.0f}k calls/s{extra}",
                     f"mp proxy {p['mp_calls_s'] / 1e3:.0f}k calls/s", f"≥ {TARGETS['pipelined_calls_s'] / 1e3:.0f}k calls/s",
                     _status(p["fastparl_calls_s"] >= TARGETS["pipelined_calls_s"])))
    arrs = R.get("arrays")
    if isinstance(arrs, dict) and arrs.get("rows"):
        big = [r for r in arrs["rows"] if r["bytes"] == 128 * MB]
        if big:
            r = big[0]
            for d in ("in", "out"):
                rows.append((f"128 MB array {d}", f"{r[f'fastparl_{d}_GBps']:.2f} GB/s = {r[f'fastparl_{d}_x_memcpy']:.2f}× memcpy",
                             f"memcpy {r['memcpy_GBps']:.2f} GB/s; mp {r[f'mp_{d}_GBps']:.2f} GB/s",
                             f"≥ {TARGETS['array_128mb_ratio']:g}× memcpy",
                             _status(r[f"fastparl_{d}_x_memcpy"] >= TARGETS["array_128mb_ratio"])))
    sh = R.get("shared")
    if isinstance(sh, dict) and sh.get("rows"):
        meds = [r["median_us"] for r in sh["rows"]]
        rows.append(("shared_array handoff 1 KB..128 MB", f"{min(meds):.1f}–{max(meds):.1f} µs (max/min {sh['max_over_min']:.2f})",
                     "", "O(1) in size", _status(sh["max_over_min"] <= 1.5)))
    st, fr = R.get("start"), R.get("fresh")
    if isinstance(st, dict) and "fastparl_first_call_ms" in st:
        base = f"mp fork+Pipe {st['mp_fork_first_call_ms']:.1f} ms (from this {st['driver_rss_mb_at_fork']:.0f} MB driver)"
        if isinstance(fr, dict) and "mp_first_call_ms" in fr:
            base += f", {fr['mp_first_call_ms']:.1f} ms (fresh driver)"
        one_time = f"; fork server start {fr['connect_ms']:.0f} ms once" if isinstance(fr, dict) and "connect_ms" in fr else ""
        rows.append(("start actor → first call", f"{st['fastparl_first_call_ms']:.1f} ms (p90 {st['fastparl_first_call_p90_ms']:.1f}){one_time}",
                     base, f"≤ {TARGETS['start_ms']:g} ms", _status(st["fastparl_first_call_ms"] <= TARGETS["start_ms"])))
    if isinstance(fr, dict) and "processes" in fr:
        rss = fr["runtime_rss_mb"]
        pss = fr.get("runtime_pss_mb")
        pss_s = f", PSS {pss:.0f} MB" if pss is not None else ""
        rows.append(("runtime processes / memory, 1 actor",
                     f"{fr['processes']} child processes (fork server + actor); RSS {rss:.0f} MB{pss_s}; "
                     f"driver +{fr['driver_rss_delta_connect_mb']:.0f} MB",
                     f"mp: {fr['mp_processes']} / RSS {fr['mp_child_rss_mb']:.0f} MB (PSS {fr['mp_child_pss_mb']:.0f})",
                     f"1 + actors (+ fork server), ≤ {TARGETS['overhead_mb']:g} MB",
                     _status(fr["processes"] == 2 and rss <= TARGETS["overhead_mb"])))
    sc = R.get("scaling")
    if isinstance(sc, dict) and sc.get("rows"):
        for r in sc["rows"]:
            if r["n"] == 2 or r["n"] == 16 or (r["n"] == sc["rows"][-1]["n"] and r["n"] > 2):
                tgt = TARGETS["scaling_eff_2"] if r["n"] <= 2 else TARGETS["scaling_eff_16"]
                rows.append((f"CPU-bound speedup, N = {r['n']}",
                             f"{r['fastparl_speedup']:.2f} ({r['fastparl_eff']:.2f} N)",
                             f"Pool {r['pool_speedup']:.2f} ({r['pool_eff']:.2f} N)", f"≥ {tgt:g} N",
                             _status(r["fastparl_eff"] >= tgt) if r["n"] in (2, 16) else "info (target at 2 and 16)"))
    return rows


def render_markdown(R: dict) -> str:
    M = R["machine"]
    L: list[str] = []
    L.append("# fastparl runtime report\n")
    L.append(f"`python -m perf.runtime{' --quick' if R['config']['quick'] else ''} --max-actors {R['config']['max_actors']}`"
             f" — {M['date']}, total {R['elapsed_s']:.0f} s\n")
    L.append(f"- CPU: {M['cpu']}, {M['cores']} cores ({M['usable_cores']} usable), {M['memory_gb']} GB RAM")
    L.append(f"- Python {M['python']}, NumPy {M['numpy']}, fastparl {M['fastparl']}, {M['platform']}")
    L.append(f"- load average at start {M['loadavg_start']}, at end {M.get('loadavg_end')} "
             "(other work on the machine inflates times and p99s; ratios are taken within one run, systems interleaved)")
    if M.get("dont_write_bytecode"):
        L.append("- `PYTHONDONTWRITEBYTECODE` is set: modules without a `__pycache__` are compiled from source on every "
                 "import, so each actor compiles the module of its class (perf/_baselines.py) when it starts, and the "
                 "fork server compiles fastparl when it starts")
    L.append("")
    L.append("## Targets (DESIGN.md §5)\n")
    L.append("| measure | fastparl | baseline (same run) | target | status |")
    L.append("|---|---|---|---|---|")
    for row in _targets(R):
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    lat = R.get("latency")
    if isinstance(lat, dict) and "worst_ratio_p50" in lat:
        L.append("## 1. No-op call latency (µs)\n")
        L.append("Driver and peer pinned with `os.sched_setaffinity` (the fastparl actor pins itself through a call); "
                 "systems interleaved in rounds. Ratios are to the raw socketpair at the same placement.\n")
        L.append("| placement | system | p50 | p99 | mean | p50 / raw | p99 / raw |")
        L.append("|---|---|---|---|---|---|---|")
        for pname, p in lat.items():
            if not isinstance(p, dict):
                continue
            for k, s in p["systems"].items():
                r50 = f"{s['ratio_p50']:.2f}×" if "ratio_p50" in s else "1"
                r99 = f"{s['ratio_p99']:.2f}×" if "ratio_p99" in s else "1"
                L.append(f"| {pname} (driver {p['driver_cpu']}, peer {p['peer_cpu']}) | {k} | {s['p50_us']:.1f} | "
                         f"{s['p99_us']:.1f} | {s['mean_us']:.1f} | {r50} | {r99} |")
        L.append("")
        odd = [pname for pname, p in lat.items() if isinstance(p, dict)
               and p["systems"]["raw socketpair"]["p50_us"] > p["systems"]["fastparl"]["p50_us"]]
        if odd:
            L.append(f"Note ({', '.join(odd)}): the raw 1-byte round trip is *slower* than the proxies' here. Its "
                     "peer does almost nothing between messages, so each message finds the other CPU idle and pays "
                     "its wake-up latency (large on a VM, where an idle vCPU halts); the proxies' extra work hides "
                     "part of it. Such a ratio says little about fastparl; the other placement is the binding one.\n")
    _error_line(L, lat)

    pipe = R.get("pipelined")
    if isinstance(pipe, dict) and "500" in pipe:
        L.append("## 2. Pipelined calls (`wait=False`, then `fastparl.get`)\n")
        L.append("| calls in flight | fastparl calls/s (median) | fastparl best | mp Pipe proxy calls/s | fastparl / mp | "
                 "raw: 1-byte writes/s, echoed | fastparl / raw |")
        L.append("|---|---|---|---|---|---|---|")
        for n, p in pipe.items():
            L.append(f"| {n} | {p['fastparl_calls_s']:,.0f} | {p['fastparl_best_calls_s']:,.0f} | {p['mp_calls_s']:,.0f} | "
                     f"{p['fastparl_calls_s'] / p['mp_calls_s']:.2f}× | {p['raw_writes_s']:,.0f} | "
                     f"{p['fastparl_calls_s'] / p['raw_writes_s']:.2f}× |")
        L.append("\nThe mp proxy keeps at most 100 calls in flight: sending all before reading any fills both socket buffers and deadlocks (about a thousand small messages are enough). The raw column is the floor for one system call per call: 1-byte writes to a forked child that echoes them over a socketpair, at most 100 unanswered (the same window).\n")
    _error_line(L, pipe)

    arrs = R.get("arrays")
    if isinstance(arrs, dict) and arrs.get("rows"):
        L.append("## 3. Arrays in and out (GB/s = array bytes / median call time)\n")
        L.append("*in*: the driver passes a float32 array, the actor reads one byte of every page and returns an int. "
                 "*out*: the actor returns an array it holds, the driver reads one byte of every page. "
                 "memcpy: `np.copyto` between two pre-faulted arrays of the same size (bytes counted once).\n")
        L.append("| size | memcpy | fastparl in | × memcpy | fastparl out | × memcpy | mp in | mp out | fastparl in µs | fastparl out µs |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in arrs["rows"]:
            L.append(f"| {_size_name(r['bytes'])} | {r['memcpy_GBps']:.2f} | {r['fastparl_in_GBps']:.2f} | "
                     f"{r['fastparl_in_x_memcpy']:.2f} | {r['fastparl_out_GBps']:.2f} | {r['fastparl_out_x_memcpy']:.2f} | "
                     f"{r['mp_in_GBps']:.2f} | {r['mp_out_GBps']:.2f} | {r['fastparl_in_s'] * 1e6:.0f} | "
                     f"{r['fastparl_out_s'] * 1e6:.0f} |")
        sw = arrs.get("oob_sweep", {})
        if sw.get("rows"):
            L.append(f"\nOut-of-band threshold sweep (driver → actor call with one array, median µs; current "
                     f"`OOB_THRESHOLD` = {sw['default_threshold'] // KB} KiB; out of band wins from "
                     f"{_size_name(sw['oob_wins_from_bytes']) if sw['oob_wins_from_bytes'] else 'never in range'}):\n")
            L.append("| size | inline (pickle body) | out of band (arena) |")
            L.append("|---|---|---|")
            for r in sw["rows"]:
                L.append(f"| {_size_name(r['bytes'])} | {r['inline_us']:.1f} | {r['oob_us']:.1f} |")
        L.append("")
    _error_line(L, arrs)

    sh = R.get("shared")
    if isinstance(sh, dict) and sh.get("rows"):
        L.append("## 4. `shared_array` handoff (actor writes one element)\n")
        L.append(f"Sizes interleaved in rounds; a no-op call on the same actor, interleaved alike, takes {sh['noop_us']:.1f} µs.\n")
        L.append("| size | first call µs (descriptor + mmap) | median µs | p90 µs | write seen by driver |")
        L.append("|---|---|---|---|---|")
        for r in sh["rows"]:
            L.append(f"| {_size_name(r['bytes'])} | {r['first_call_us']:.0f} | {r['median_us']:.1f} | {r['p90_us']:.1f} | "
                     f"{'yes' if r['write_seen'] else 'NO'} |")
        L.append("")
    _error_line(L, sh)

    pt = R.get("put")
    if isinstance(pt, dict) and "send_each_ms" in pt:
        L.append(f"## 5. `put()` broadcast: {pt['bytes'] / MB:.0f} MB of weights (8 arrays) to {pt['n_actors']} actors\n")
        L.append("Each actor reads one byte per page of every array. Medians, ms.\n")
        L.append("| send the dict to each | put() + send the ref | send the same ref again | put() alone | speedup (put) | speedup (reuse) |")
        L.append("|---|---|---|---|---|---|")
        L.append(f"| {pt['send_each_ms']:.1f} | {pt['put_and_send_ms']:.1f} | {pt['reuse_ref_ms']:.1f} | {pt['put_only_ms']:.1f} | "
                 f"{pt['speedup_put']:.2f}× | {pt['speedup_reuse']:.2f}× |\n")
    _error_line(L, pt)

    st = R.get("start")
    if isinstance(st, dict) and "fastparl_first_call_ms" in st:
        L.append("## 6. Actor start → first call (ms, medians)\n")
        L.append("| fastparl `A()` | `A()` + first `noop()` | p90 | class by value (cloudpickle) | `kill` | mp fork + Pipe first reply |")
        L.append("|---|---|---|---|---|---|")
        L.append(f"| {st['fastparl_create_ms']:.2f} | {st['fastparl_first_call_ms']:.2f} | {st['fastparl_first_call_p90_ms']:.2f} | "
                 f"{st['fastparl_by_value_first_call_ms']:.2f} | {st['fastparl_kill_ms']:.2f} | {st['mp_fork_first_call_ms']:.2f} |\n")
        L.append(f"Over {st['n']} actors created and killed one at a time in this driver (RSS {st['driver_rss_mb_at_fork']:.0f} MB, "
                 "which the mp baseline's fork copies page tables of).\n")
    _error_line(L, R.get("start"))

    fr = R.get("fresh")
    if isinstance(fr, dict) and "connect_ms" in fr:
        L.append(f"## 7. Fresh interpreter: one-time costs and footprint (median of {fr['runs']} runs)\n")
        L.append("| `import fastparl` | first `connect()` (fork server start) | first actor + call | `disconnect()` | "
                 "driver RSS + import | + connect | + 1 actor | mp fork + first reply (fresh) |")
        L.append("|---|---|---|---|---|---|---|---|")
        L.append(f"| {fr['import_ms']:.0f} ms | {fr['connect_ms']:.0f} ms | {fr['first_actor_ms']:.1f} ms | {fr['disconnect_ms']:.0f} ms | "
                 f"{fr['driver_rss_delta_import_mb']:.1f} MB | {fr['driver_rss_delta_connect_mb']:.1f} MB | "
                 f"{fr['driver_rss_delta_actor_mb']:.1f} MB | {fr['mp_first_call_ms']:.1f} ms |\n")
        L.append(f"Processes under the driver with one actor: {fr['processes']} (driver threads: {fr['driver_threads']}); "
                 f"left after `disconnect()`: {fr['left_after_disconnect']}.\n")
        L.append("| process | RSS MB | USS MB | PSS MB | threads |")
        L.append("|---|---|---|---|---|")
        for k in fr["children"]:
            L.append(f"| {k['role']} | {k['rss_mb']:.1f} | {_f(k['uss_mb'])} | {_f(k['pss_mb'])} | {k['threads']} |")
        L.append(f"| **runtime total** | {fr['runtime_rss_mb']:.1f} | {_f(fr['runtime_uss_mb'])} | {_f(fr['runtime_pss_mb'])} | |")
        L.append(f"| mp proxy child (baseline) | {fr['mp_child_rss_mb']:.1f} | {fr['mp_child_uss_mb']:.1f} | {fr['mp_child_pss_mb']:.1f} | |\n")
    _error_line(L, fr)

    sc = R.get("scaling")
    if isinstance(sc, dict) and sc.get("rows"):
        L.append(f"## 8. N-actor scaling: pure-Python loop of {sc['iters']:,} iterations per actor (T1 = {sc['t1_s']:.2f} s)\n")
        L.append("speedup = N × T1 / TN (N actors each doing the T1 work at once); efficiency = speedup / N.\n")
        L.append("| N | fastparl s | speedup | efficiency | Pool s | Pool speedup | Pool efficiency |")
        L.append("|---|---|---|---|---|---|---|")
        for r in sc["rows"]:
            L.append(f"| {r['n']} | {r['fastparl_s']:.3f} | {r['fastparl_speedup']:.2f} | {r['fastparl_eff']:.2f} | "
                     f"{r['pool_s']:.3f} | {r['pool_speedup']:.2f} | {r['pool_eff']:.2f} |")
        L.append("")
    _error_line(L, sc)

    L.append("## 9. Other systems\n")
    for name in ("ray", "parl"):
        v = R.get(name, {})
        if "skipped" in v:
            L.append(f"- {name}: {v['skipped']}")
        elif "error" in v:
            L.append(f"- {name}: failed: {v['error']}")
        else:
            L.append(f"- {name}: " + ", ".join(f"{k} = {_f(x)}" for k, x in v.items()))
    L.append("")
    if R.get("plots"):
        L.append("## Plots\n")
        for p in R["plots"]:
            L.append(f"![{p}]({p})")
        L.append("")
    if R.get("leftover_processes") is not None:
        L.append(f"Processes left under the driver after `fastparl.disconnect()`: {R['leftover_processes']}.\n")
    return "\n".join(L)


def _f(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def _error_line(L: list[str], section: Any) -> None:
    if isinstance(section, dict) and "error" in section:
        L.append(f"**section failed:** `{section['error']}`\n")


# ============================================================================ plots
def make_plots(R: dict, out_dir: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plots")
        return []
    made = []
    lat = R.get("latency")
    if isinstance(lat, dict) and "worst_ratio_p50" in lat:
        places = [k for k, v in lat.items() if isinstance(v, dict)]
        systems = list(lat[places[0]]["systems"])
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        w = 0.8 / len(systems)
        for i, s in enumerate(systems):
            x = np.arange(len(places)) + i * w
            p50 = [lat[p]["systems"][s]["p50_us"] for p in places]
            p99 = [lat[p]["systems"][s]["p99_us"] for p in places]
            axes[0].bar(x, p50, w, label=f"{s} p50")
            axes[0].scatter(x, p99, marker="_", s=200, color="k")
        axes[0].set_xticks(np.arange(len(places)) + w * (len(systems) - 1) / 2, places)
        axes[0].set_ylabel("µs (bars p50, ticks p99)")
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=8)
        axes[0].set_title("no-op call round trip")
        for s in systems:  # CDF, same CPU
            q = np.asarray(lat[places[0]]["systems"][s]["hist_us"]) / 1e3
            axes[1].plot(q, np.linspace(0, 100, len(q)), label=s)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("µs")
        axes[1].set_ylabel("percentile")
        axes[1].set_title(f"latency CDF, {places[0]}")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "runtime_latency.png"), dpi=110)
        plt.close(fig)
        made.append("runtime_latency.png")
    arrs = R.get("arrays")
    if isinstance(arrs, dict) and arrs.get("rows"):
        rows = arrs["rows"]
        x = [r["bytes"] for r in rows]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label, style in (("memcpy", "memcpy", "k--"), ("fastparl_in", "fastparl in", "C0-o"),
                                  ("fastparl_out", "fastparl out", "C1-o"), ("mp_in", "mp Pipe in", "C0:x"),
                                  ("mp_out", "mp Pipe out", "C1:x")):
            ax.plot(x, [r[f"{key}_GBps"] for r in rows], style, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(x, [_size_name(v) for v in x])
        ax.set_ylabel("GB/s (array bytes / median call time)")
        ax.set_title("arrays in and out of an actor")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "runtime_arrays.png"), dpi=110)
        plt.close(fig)
        made.append("runtime_arrays.png")
    sc = R.get("scaling")
    if isinstance(sc, dict) and sc.get("rows"):
        rows = sc["rows"]
        n = [r["n"] for r in rows]
        fig, ax = plt.subplots(figsize=(6, 4.5))
        ax.plot(n, n, "k--", label="ideal")
        ax.plot(n, [0.9 * v for v in n], "k:", label="0.9 N")
        ax.plot(n, [r["fastparl_speedup"] for r in rows], "C0-o", label="fastparl")
        ax.plot(n, [r["pool_speedup"] for r in rows], "C2-x", label="multiprocessing.Pool")
        ax.set_xlabel("N (actors / processes)")
        ax.set_ylabel("speedup N·T1/TN")
        ax.set_title("pure-Python CPU-bound scaling")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "runtime_scaling.png"), dpi=110)
        plt.close(fig)
        made.append("runtime_scaling.png")
    return made


# ============================================================================ main
SECTIONS: list[tuple[str, Callable[[Config], dict]]] = [
    ("latency", bench_latency),
    ("pipelined", bench_pipelined),
    ("start", bench_start),
    ("fresh", bench_fresh),
    ("arrays", bench_arrays),
    ("shared", bench_shared),
    ("put", bench_put),
    ("scaling", bench_scaling),
    ("ray", bench_ray),
    ("parl", bench_parl),
]


def run(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m perf.runtime", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats: a smoke test (< 60 s on 2 cores)")
    ap.add_argument("--max-actors", type=int, default=os.cpu_count() or 1, help="largest N in the scaling test")
    ap.add_argument("--out", default=os.path.join("perf", "results"), help="directory for runtime.md/.json/.png")
    ap.add_argument("--only", default="", help="comma-separated sections to run (default: all): "
                    + ",".join(n for n, _ in SECTIONS))
    args = ap.parse_args(argv)
    cfg = Config(args.quick, max(1, args.max_actors))
    os.makedirs(args.out, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    t_start = time.perf_counter()
    R: dict[str, Any] = {"machine": machine_info(), "config": {"quick": cfg.quick, "max_actors": cfg.max_actors},
                         "targets": TARGETS}
    _log(f"perf.runtime on {R['machine']['cpu']} ({R['machine']['usable_cores']} cores), load {R['machine']['loadavg_start']}")
    fastparl.connect()
    try:
        for name, fn in SECTIONS:
            if only and name not in only:
                continue
            t0 = time.perf_counter()
            _log(f"{name} ...")
            # A hang (a deadlock in the runtime or a baseline) dumps every thread's stack and exits,
            # instead of stalling CI; the fork server then sees EOF and stops the actors.
            faulthandler.dump_traceback_later(SECTION_TIMEOUT_S, exit=True)
            try:
                R[name] = fn(cfg)
            except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
                import traceback

                traceback.print_exc()
                R[name] = {"error": f"{type(e).__name__}: {e}"}
            finally:
                faulthandler.cancel_dump_traceback_later()
            _log(f"{name} done in {time.perf_counter() - t0:.1f} s")
    finally:
        fastparl.disconnect()
    try:
        import psutil

        deadline = time.monotonic() + 3
        left = psutil.Process().children(recursive=True)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        R["leftover_processes"] = len(left)
    except Exception:  # noqa: BLE001
        R["leftover_processes"] = None
    try:
        R["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    R["elapsed_s"] = time.perf_counter() - t_start
    R["plots"] = make_plots(R, args.out)
    md = render_markdown(R)
    with open(os.path.join(args.out, "runtime.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(args.out, "runtime.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print()
    print(md)
    print(f"\nwrote {os.path.join(args.out, 'runtime.md')}, runtime.json"
          + (f", {', '.join(R['plots'])}" if R["plots"] else ""))
    return R


def main() -> None:
    run()


if __name__ == "__main__":
    main()
