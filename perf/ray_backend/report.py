"""Ray backend report: fastparl's proxies on Ray actors against plain Ray actors, in the same run.

Run from the repository root::

    python -m perf.ray_backend            # full report, about a minute on 2 cores
    python -m perf.ray_backend --quick    # smoke test

One local Ray instance serves both systems (started here unless this process already joined one):
a plain Ray actor of ``perf.common.baselines.Bench`` called with ``ray.get(a.m.remote(...))``, and the
same class as a fastparl ``@remote_class`` on ``fastparl.connect("ray")``.  Systems are interleaved
in rounds, so that load drift hits both alike; only the ratios carry over to other machines.

Sections: no-op call latency (target: fastparl ≤ 1.2× plain Ray); 500 pipelined calls
(``wait=False`` futures and ``fastparl.get`` vs ``ray.get`` of a list of refs); arrays of 1 KB,
64 KB and 1 MB in and out; actor start to first call.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from typing import Any, Callable

import numpy as np

import fastparl
from perf.common.actors import FpAsyncBench, FpBench
from perf.common.baselines import Bench, touch
from perf.common.harness import KB, MB, interleaved, log, md_table, median, run_report, size_name, status, time_once

SIZES = [1 * KB, 64 * KB, 1 * MB]
TARGETS = {"noop_ratio": 1.2}


class Config:
    def __init__(self, quick: bool):
        self.quick = quick
        self.lat_reps = 300 if quick else 3000
        self.pipe_rounds = 3 if quick else 20
        self.array_reps = 30 if quick else 300
        self.start_n = 1 if quick else 6
        self.tmp: str | None = None
        self.ray: Any = None
        self.plain: Any = None  # the plain Ray actor class
        self.actors: tuple[Any, Any, Any] | None = None  # (plain Ray, fastparl, fastparl wait=False), warm


def setup(cfg: Config) -> Any:
    import ray

    cfg.ray = ray
    started = not ray.is_initialized()
    if started:  # our own instance, in a temp dir (Ray's socket paths must stay short: under /tmp)
        cfg.tmp = tempfile.mkdtemp(prefix="fastparl-perf-ray-", dir="/tmp")
        ray.init(address="local", num_cpus=2, object_store_memory=200 * MB, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR, _temp_dir=cfg.tmp)
    fastparl.disconnect()
    fastparl.connect("ray")
    cfg.plain = ray.remote(Bench)
    plain, fp, fp_async = cfg.plain.remote(), FpBench(), FpAsyncBench()
    ray.get(plain.noop.remote())
    fp.noop()
    fp_async.noop().get()
    cfg.actors = (plain, fp, fp_async)
    log(f"ray {ray.__version__}: {int(ray.cluster_resources().get('CPU', 0))} CPUs")

    def teardown() -> None:
        cfg.actors = None
        fastparl.disconnect()
        if started:
            ray.shutdown()
        if cfg.tmp:
            shutil.rmtree(cfg.tmp, ignore_errors=True)

    return teardown


def bench_latency(cfg: Config) -> dict:
    ray = cfg.ray
    plain, fp, _ = cfg.actors  # type: ignore[misc]
    submit = plain.noop.remote  # plain Ray with the method looked up once, as fastparl does
    ts = interleaved({"ray": lambda: ray.get(plain.noop.remote()), "ray_cached": lambda: ray.get(submit()),
                      "fastparl": fp.noop}, cfg.lat_reps, 100)
    out: dict[str, Any] = {k: {"p50_us": median(v) * 1e6, "p90_us": float(np.percentile(v, 90)) * 1e6}
                           for k, v in ts.items()}
    out["ratio_p50_cached"] = out["fastparl"]["p50_us"] / out["ray_cached"]["p50_us"]
    out["ratio_p50"] = out["fastparl"]["p50_us"] / out["ray"]["p50_us"]
    log(f"  no-op p50: ray {out['ray']['p50_us']:.0f} µs, fastparl {out['fastparl']['p50_us']:.0f} µs "
        f"({out['ratio_p50']:.2f}x)")
    return out


def bench_pipelined(cfg: Config) -> dict:
    ray = cfg.ray
    plain, _, fp = cfg.actors  # type: ignore[misc]
    n = 500
    ts = interleaved({"ray": lambda: ray.get([plain.noop.remote() for _ in range(n)]),
                      "fastparl": lambda: fastparl.get([fp.noop() for _ in range(n)])}, cfg.pipe_rounds, 1)
    out: dict[str, Any] = {k: {"calls_per_s": n / median(v)} for k, v in ts.items()}
    out["ratio"] = out["fastparl"]["calls_per_s"] / out["ray"]["calls_per_s"]
    log(f"  500 pipelined: ray {out['ray']['calls_per_s']:.0f}/s, fastparl {out['fastparl']['calls_per_s']:.0f}/s")
    return out


def _array_systems(ray: Any, plain: Any, fp: Any, arr: np.ndarray, size: int) -> dict[str, Any]:
    """An array in (the actor touches every page) and out (the driver does), on each system."""
    return {"ray_in": lambda: ray.get(plain.touch.remote(arr)), "fastparl_in": lambda: fp.touch(arr),
            "ray_out": lambda: touch(ray.get(plain.give.remote(size))), "fastparl_out": lambda: touch(fp.give(size))}


def bench_arrays(cfg: Config) -> dict:
    ray = cfg.ray
    plain, fp, _ = cfg.actors  # type: ignore[misc]
    rows = []
    for size in SIZES:
        arr = np.ones(size // 4, np.float32)
        ray.get(plain.hold.remote(size))
        fp.hold(size)
        ts = interleaved(_array_systems(ray, plain, fp, arr, size), cfg.array_reps, 10)
        row: dict[str, Any] = {"size": size, **{f"{k}_us": median(v) * 1e6 for k, v in ts.items()}}
        for d in ("in", "out"):
            row[f"ratio_{d}"] = row[f"fastparl_{d}_us"] / row[f"ray_{d}_us"]
        log(f"  {size_name(size)}: in {row['ratio_in']:.2f}x, out {row['ratio_out']:.2f}x plain Ray")
        rows.append(row)
    ray.get(plain.drop.remote())
    fp.drop()
    return {"rows": rows}


def bench_start(cfg: Config) -> dict:
    """Actor creation to its first reply: each system starts a fresh Ray worker process every time."""
    ray = cfg.ray
    keep: list[Any] = []  # alive until the round ends, so that no actor shutdown overlaps a start

    def plain() -> None:
        a = cfg.plain.remote()
        ray.get(a.noop.remote())
        keep.append(a)

    def fp() -> None:
        p = FpBench()
        p.noop()
        keep.append(p)

    times: dict[str, list[float]] = {"ray": [], "fastparl": []}
    for _ in range(cfg.start_n):
        times["ray"].append(time_once(plain))
        times["fastparl"].append(time_once(fp))
        keep.clear()
    out: dict[str, Any] = {k: {"median_ms": median(v) * 1e3} for k, v in times.items()}
    out["ratio"] = out["fastparl"]["median_ms"] / out["ray"]["median_ms"]
    return out


SECTIONS: list[tuple[str, Callable[[Any], dict]]] = [("latency", bench_latency), ("pipelined", bench_pipelined), ("arrays", bench_arrays),
            ("start", bench_start)]


def _fmt(x: float, unit: str = "") -> str:
    return f"{x:,.0f}{unit}" if x >= 100 else f"{x:.1f}{unit}"


def render(R: dict) -> str:
    m = R["machine"]
    lines = ["# fastparl on Ray vs plain Ray", "",
             f"Machine: {m['cpu']}, {m['usable_cores']} usable cores, Python {m['python']}, load "
             f"{m['loadavg_start']} → {m.get('loadavg_end')}, {m['date']}{' (quick)' if R['quick'] else ''}. "
             "Same Ray instance, same `perf.common.baselines.Bench` class, interleaved in rounds; medians.", ""]
    rows = []
    lat = R.get("latency", {})
    if "ratio_p50" in lat:
        ok = lat["ratio_p50"] <= TARGETS["noop_ratio"]
        rows.append(["no-op call p50", _fmt(lat["ray"]["p50_us"], " µs"), _fmt(lat["fastparl"]["p50_us"], " µs"),
                     f"{lat['ratio_p50']:.2f}×", f"≤ {TARGETS['noop_ratio']}× ({status(ok)})"])
        rows.append(["no-op call p50, vs Ray with `m = a.noop.remote` looked up once", _fmt(lat["ray_cached"]["p50_us"], " µs"),
                     _fmt(lat["fastparl"]["p50_us"], " µs"), f"{lat['ratio_p50_cached']:.2f}×", ""])
        rows.append(["no-op call p90", _fmt(lat["ray"]["p90_us"], " µs"), _fmt(lat["fastparl"]["p90_us"], " µs"),
                     f"{lat['fastparl']['p90_us'] / lat['ray']['p90_us']:.2f}×", ""])
    pipe = R.get("pipelined", {})
    if "ratio" in pipe:
        rows.append(["500 pipelined calls", _fmt(pipe["ray"]["calls_per_s"], " calls/s"),
                     _fmt(pipe["fastparl"]["calls_per_s"], " calls/s"), f"{pipe['ratio']:.2f}× the rate", ""])
    for row in R.get("arrays", {}).get("rows", []):
        for d, what in (("in", "argument"), ("out", "result")):
            rows.append([f"{size_name(row['size'])} array {d} ({what})", _fmt(row[f"ray_{d}_us"], " µs"),
                         _fmt(row[f"fastparl_{d}_us"], " µs"), f"{row[f'ratio_{d}']:.2f}×", ""])
    st = R.get("start", {})
    if "ratio" in st:
        rows.append(["start actor → first call", _fmt(st["ray"]["median_ms"], " ms"),
                     _fmt(st["fastparl"]["median_ms"], " ms"), f"{st['ratio']:.2f}×", ""])
    lines += md_table(["measure", "plain Ray", "fastparl on Ray", "fastparl / Ray", "target"], rows)
    errors = [f"- {k}: {v['error']}" for k, v in R.items() if isinstance(v, dict) and "error" in v]
    if errors:
        lines += ["", "Sections that failed:", *errors]
    lines += ["", "Times are per call (lower is better) except the pipelined rate.  Plain Ray is called as its "
              "users write it, `ray.get(a.noop.remote())`, which looks the method up on every call; the second row "
              "looks it up once, as fastparl's proxy does.  A fastparl call is one Ray task to the method of the "
              "same name on a generated subclass of `Host` (fastparl's dispatcher inside the Ray actor), with the "
              "user's own arguments and result: no request or reply tuple, which Ray would charge about 0.1 ms "
              "per extra argument.  A fastparl actor start also imports fastparl in the new worker.",
              "", f"Run: `python -m perf.ray_backend{' --quick' if R['quick'] else ''}` ({R['elapsed_s']:.0f} s)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    return run_report("ray_backend", SECTIONS, render, lambda a: Config(a.quick), argv, setup=setup)

