"""Runtime report, data path: arrays in and out (1 KB .. 128 MB), the out-of-band threshold sweep,
``shared_array`` handoff and ``put()`` broadcast.

Every array size is put beside, in the same run and placement: memcpy, the *floor* (a no-op call +
two memcpys of the payload: what one copy in and one copy out on top of a round trip cost) and the
hand-written ``multiprocessing`` Pipe proxy.
"""

from __future__ import annotations

import gc
import os
from typing import Any, Callable

import numpy as np

import fastparl
from perf.common import plots
from perf.common.actors import FpAsyncBench, FpBench
from perf.common.baselines import MpProxy, touch
from perf.common.harness import KB, MB, Pinned, interleaved, log, md_table, median, size_name, time_once
from perf.runtime.config import Config

__all__ = ["bench_arrays", "bench_shared", "bench_put", "md_arrays", "md_shared", "md_put", "plot_arrays",
           "small_rows"]

SYSTEMS = ("fastparl_in", "fastparl_out", "mp_in", "mp_out")


def small_rows(arrs: dict, max_bytes: int) -> list[dict]:
    """The rows that the floor and mp-proxy targets cover (1 KB .. ``max_bytes``)."""
    return [r for r in arrs.get("rows", []) if r["bytes"] <= max_bytes]


# ============================================================================ arrays in / out
def _systems(a: Any, mp: Any, arr: np.ndarray, size: int) -> dict[str, Callable[[], Any]]:
    """The calls timed at one size, memcpy and the no-op among them (so that the floor sees the same load)."""
    dst = np.empty_like(arr)
    np.copyto(dst, arr)
    batch = range(_memcpy_batch(size))

    def memcpy() -> None:
        for _ in batch:
            np.copyto(dst, arr)

    def fp_out() -> None:
        touch(a.give(size))

    def mp_out() -> None:
        touch(mp.call("give", size))

    return {"memcpy": memcpy, "noop": a.noop, "fastparl_in": lambda: a.touch(arr), "fastparl_out": fp_out,
            "mp_in": lambda: mp.call("touch", arr), "mp_out": mp_out}


def _memcpy_batch(size: int) -> int:
    """Copies per timed memcpy call: small copies are timed in batches of about 1 MB."""
    return max(1, MB // max(size, 1))


def bench_arrays(cfg: Config) -> dict:
    """Call time of a float32 array in (the actor reads a byte per page) and out (the actor returns an array
    it holds, the driver reads a byte per page), driver, actor and proxy pinned to one CPU."""
    cpu = min(os.sched_getaffinity(0))
    a = FpBench()
    mp = MpProxy(cpu=cpu)
    rows = []
    try:
        if a.pin(cpu) != [cpu]:
            raise RuntimeError(f"the actor could not pin itself to CPU {cpu}")
        with Pinned(cpu):
            for size in cfg.array_sizes:
                rows.append(_array_row(cfg, a, mp, size))
                log(f"  arrays {size_name(size)}: in {rows[-1]['fastparl_in_x_floor']:.2f}x floor "
                    f"({rows[-1]['fastparl_in_s'] * 1e6:.0f} us), out {rows[-1]['fastparl_out_x_floor']:.2f}x floor; "
                    f"mp in {rows[-1]['mp_in_x_floor']:.2f}x, out {rows[-1]['mp_out_x_floor']:.2f}x")
            sweep = _oob_sweep(a, cfg)
    finally:
        mp.close()
        fastparl.kill(a)
    return {"rows": rows, "oob_sweep": sweep, "placement": f"driver, actor and mp proxy on CPU {cpu}"}


def _array_row(cfg: Config, a: Any, mp: Any, size: int) -> dict:
    reps = cfg.array_reps(size)
    arr = np.ones(size // 4, np.float32)
    a.hold(size)
    mp.call("hold", size)
    systems = _systems(a, mp, arr, size)
    for fn in systems.values():  # warm up: arena segments are created on first use
        for _ in range(1 if size >= 16 * MB and cfg.quick else 3):
            fn()
    gc.collect()
    times = interleaved(systems, reps, max(1, min(50, reps // 10)))
    memcpy = median(times.pop("memcpy")) / _memcpy_batch(size)
    noop = median(times.pop("noop"))
    floor = noop + 2 * memcpy
    row: dict[str, Any] = {"bytes": size, "reps": reps, "memcpy_s": memcpy, "memcpy_GBps": size / memcpy / 1e9,
                           "noop_s": noop, "floor_s": floor}
    for k, ts in times.items():
        t = median(ts)
        row[f"{k}_s"] = t
        row[f"{k}_p90_s"] = float(np.percentile(ts, 90))
        row[f"{k}_GBps"] = size / t / 1e9
        row[f"{k}_x_memcpy"] = memcpy / t
        row[f"{k}_x_floor"] = t / floor
    for d in ("in", "out"):
        row[f"fastparl_{d}_x_mp"] = row[f"fastparl_{d}_s"] / row[f"mp_{d}_s"]
    a.drop()
    mp.call("drop")
    return row


def _oob_sweep(a: Any, cfg: Config) -> dict:
    """Driver -> actor call time of an array argument sent inline (in the pickle body) vs out of band."""
    actor = a.__dict__["_fp_actor"]
    ch = getattr(actor, "transport", None) or getattr(actor, "ch", None)  # the local backend's Channel
    if ch is None or not hasattr(ch, "oob_threshold"):
        return {"skipped": "the backend's channel has no oob_threshold"}
    default = ch.oob_threshold
    rows = []
    try:
        for size in cfg.sweep_sizes:
            arr = np.ones(size // 4, np.float32)

            def mode(thr: int, arr: np.ndarray = arr) -> Callable[[], Any]:
                def call() -> None:
                    ch.oob_threshold = thr
                    a.touch(arr)
                return call

            systems = {"inline": mode(1 << 62), "oob": mode(1)}
            interleaved(systems, 10, 10)
            res = interleaved(systems, cfg.sweep_reps, 20)
            rows.append({"bytes": size, "inline_us": median(res["inline"]) * 1e6, "oob_us": median(res["oob"]) * 1e6})
    finally:
        ch.oob_threshold = default
    cross = None  # the smallest size from which out of band wins at every larger size
    for r in reversed(rows):
        if r["oob_us"] > r["inline_us"]:
            break
        cross = r["bytes"]
    return {"rows": rows, "default_threshold": default, "oob_wins_from_bytes": cross}


def md_arrays(arrs: dict) -> list[str]:
    L = ["## 4. Arrays in and out", "",
         f"*in*: the driver passes a float32 array, the actor reads one byte of every page and returns an int. *out*: "
         "the actor returns an array it holds, the driver reads one byte of every page. memcpy: `np.copyto` between two "
         "pre-faulted arrays of the same size (bytes counted once), timed in the same rounds. **floor** = a no-op call (timed in the same rounds) "
         f"+ 2 memcpys of the payload. {arrs.get('placement', 'unpinned')[:1].upper()}{arrs.get('placement', 'unpinned')[1:]}; systems interleaved in rounds; medians.",
         ""]
    rows = [[size_name(r["bytes"]), f"{r['floor_s'] * 1e6:.1f}", f"{r['fastparl_in_s'] * 1e6:.1f}",
             f"{r['fastparl_in_x_floor']:.2f}", f"{r['fastparl_out_s'] * 1e6:.1f}", f"{r['fastparl_out_x_floor']:.2f}",
             f"{r['mp_in_s'] * 1e6:.1f}", f"{r['mp_out_s'] * 1e6:.1f}",
             f"{r['fastparl_in_x_mp']:.2f} / {r['fastparl_out_x_mp']:.2f}"] for r in arrs["rows"]]
    L += ["Call time, µs:", ""]
    L += md_table(["size", "floor", "fastparl in", "÷ floor", "fastparl out", "÷ floor", "mp in", "mp out",
                   "fastparl ÷ mp (in / out)"], rows)
    rows = [[size_name(r["bytes"]), f"{r['memcpy_GBps']:.2f}", f"{r['fastparl_in_GBps']:.2f}",
             f"{r['fastparl_in_x_memcpy']:.2f}", f"{r['fastparl_out_GBps']:.2f}", f"{r['fastparl_out_x_memcpy']:.2f}",
             f"{r['mp_in_GBps']:.2f}", f"{r['mp_out_GBps']:.2f}"] for r in arrs["rows"]]
    L += ["", "Throughput, GB/s (array bytes / median call time, the round trip included):", ""]
    L += md_table(["size", "memcpy", "fastparl in", "× memcpy", "fastparl out", "× memcpy", "mp in", "mp out"], rows)
    L.append("")
    sw = arrs.get("oob_sweep", {})
    if sw.get("rows"):
        cross = sw["oob_wins_from_bytes"]
        L += [f"Out-of-band threshold sweep (driver → actor call with one array, median µs; current `OOB_THRESHOLD` = "
              f"{sw['default_threshold'] // KB} KiB; out of band wins from {size_name(cross) if cross else 'never in range'}):",
              ""]
        L += md_table(["size", "inline (pickle body)", "out of band (arena)"],
                      [[size_name(r["bytes"]), f"{r['inline_us']:.1f}", f"{r['oob_us']:.1f}"] for r in sw["rows"]])
        L.append("")
    elif sw.get("skipped"):
        L += [f"Out-of-band threshold sweep skipped: {sw['skipped']}.", ""]
    return L


def plot_arrays(arrs: dict, out_dir: str, prefix: str = "runtime") -> list[str]:
    plt = plots.pyplot()
    rows = arrs.get("rows") or []
    if plt is None or not rows:
        return []
    x = [r["bytes"] for r in rows]
    ticks = (x, [size_name(v) for v in x])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    gbps = {"memcpy": ([r["memcpy_GBps"] for r in rows], "k--")}
    us = {"floor (no-op + 2 memcpy)": ([r["floor_s"] * 1e6 for r in rows], "k--")}
    for key, label, style in (("fastparl_in", "fastparl in", "C0-o"), ("fastparl_out", "fastparl out", "C1-o"),
                              ("mp_in", "mp Pipe in", "C0:x"), ("mp_out", "mp Pipe out", "C1:x")):
        gbps[label] = ([r[f"{key}_GBps"] for r in rows], style)
        us[label] = ([r[f"{key}_s"] * 1e6 for r in rows], style)
    plots.line_plot(axes[0], x, gbps, xlabel="array size", ylabel="GB/s (array bytes / median call time)",
                     title="throughput against payload size", xlog=True, ylog=True, xticks=ticks)
    plots.line_plot(axes[1], x, us, xlabel="array size", ylabel="µs per call (median)",
                     title="call time against the floor", xlog=True, ylog=True, xticks=ticks)
    return [plots.save(fig, out_dir, f"{prefix}_arrays.png")]


# ============================================================================ shared arrays
def bench_shared(cfg: Config) -> dict:
    """An actor writes one element of a ``fastparl.shared_array``: the call time should not depend on size."""
    a = FpBench()
    rows = []
    try:
        arrays = {size: fastparl.shared_array(size // 4, np.float32) for size in (1 * KB, 64 * KB, 1 * MB, 16 * MB,
                                                                                   128 * MB)}
        first = {size: time_once(lambda sa=sa: a.write_one(sa)) for size, sa in arrays.items()}
        systems: dict[str, Callable[[], Any]] = {"no-op": a.noop}
        for size, sa in arrays.items():
            systems[str(size)] = lambda sa=sa: a.write_one(sa)
        interleaved(systems, 5, 5)
        times = interleaved(systems, cfg.shared_reps, 20)
        noop = median(times["no-op"])
        for size, sa in arrays.items():
            ts = times[str(size)]
            rows.append({"bytes": size, "first_call_us": first[size] * 1e6, "median_us": median(ts) * 1e6,
                         "p90_us": float(np.percentile(ts, 90)) * 1e6, "write_seen": bool(sa.reshape(-1)[0] == 1)})
        del arrays, systems
    finally:
        fastparl.kill(a)
    meds = [r["median_us"] for r in rows]
    return {"rows": rows, "noop_us": noop * 1e6, "max_over_min": max(meds) / min(meds)}


def md_shared(sh: dict) -> list[str]:
    rows = [[size_name(r["bytes"]), f"{r['first_call_us']:.0f}", f"{r['median_us']:.1f}", f"{r['p90_us']:.1f}",
             "yes" if r["write_seen"] else "NO"] for r in sh["rows"]]
    return (["## 5. `shared_array` handoff (actor writes one element)", "",
             f"Sizes interleaved in rounds; a no-op call on the same actor, interleaved alike, takes {sh['noop_us']:.1f} µs.",
             ""] + md_table(["size", "first call µs (descriptor + mmap)", "median µs", "p90 µs", "write seen by driver"],
                            rows) + [""])


# ============================================================================ put() broadcast
def bench_put(cfg: Config, n_actors: int = 4) -> dict:
    """~64 MB of weights (8 arrays) to 4 actors: sent to each, or ``put()`` once and the ref sent."""
    layers = 8
    per = 64 * MB // layers
    weights = {f"layer{i}": np.full(per // 4, float(i), np.float32) for i in range(layers)}
    nbytes = sum(v.nbytes for v in weights.values())
    actors = [FpAsyncBench() for _ in range(n_actors)]
    state: dict[str, Any] = {}
    try:
        def send_each() -> None:
            fastparl.get([x.read_weights(weights) for x in actors])

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
            t_each.append(time_once(send_each))
            t_put.append(time_once(put_then_send))
            t_reuse.append(time_once(reuse_ref))
            state.clear()
            t_put_only.append(time_once(lambda: state.setdefault("r", fastparl.put(weights))))
            state.clear()
            fastparl.get([x.noop() for x in actors])  # carries the 'forget' of the dead references
    finally:
        for x in actors:
            fastparl.kill(x)
    each, put, reuse = median(t_each), median(t_put), median(t_reuse)
    return {"bytes": nbytes, "n_actors": n_actors, "send_each_ms": each * 1e3, "put_and_send_ms": put * 1e3,
            "reuse_ref_ms": reuse * 1e3, "put_only_ms": median(t_put_only) * 1e3,
            "speedup_put": each / put, "speedup_reuse": each / reuse}


def md_put(pt: dict) -> list[str]:
    return ([f"## 6. `put()` broadcast: {pt['bytes'] / MB:.0f} MB of weights (8 arrays) to {pt['n_actors']} actors", "",
             "Each actor reads one byte per page of every array. Medians, ms.", ""]
            + md_table(["send the dict to each", "put() + send the ref", "send the same ref again", "put() alone",
                        "speedup (put)", "speedup (reuse)"],
                       [[f"{pt['send_each_ms']:.1f}", f"{pt['put_and_send_ms']:.1f}", f"{pt['reuse_ref_ms']:.1f}",
                         f"{pt['put_only_ms']:.1f}", f"{pt['speedup_put']:.2f}×", f"{pt['speedup_reuse']:.2f}×"]])
            + [""])
