"""Runtime report, other systems serving the same :class:`perf.common.baselines.Bench`: Ray (if importable)
and PARL (if importable and ``PARL_ADDRESS`` names a running xparl cluster).  In ``--quick`` runs they
are skipped unless ``--only`` names them (Ray's start alone takes 10-20 s on 2 cores)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from typing import Any

import numpy as np

from perf.common.baselines import Bench, touch
from perf.common.harness import MB, call_times, fmt, median, pct_us, time_once
from perf.runtime.config import Config

__all__ = ["bench_ray", "bench_parl", "md_peers"]


def bench_ray(cfg: Config) -> dict:
    if importlib.util.find_spec("ray") is None:
        return {"skipped": "ray not installed"}
    if not cfg.wants("ray"):
        return {"skipped": "not in --quick runs (name it in --only to run it)"}
    import ray

    tmp = tempfile.mkdtemp(prefix="fastparl-ray-")
    out: dict[str, Any] = {"version": getattr(ray, "__version__", "?")}
    t0 = time.perf_counter()
    ray.init(num_cpus=max(2, os.cpu_count() or 2), _temp_dir=tmp, include_dashboard=False,
             log_to_driver=False, ignore_reinit_error=True)
    out["init_s"] = time.perf_counter() - t0
    try:
        RayBench = ray.remote(Bench)
        starts = []
        for _ in range(3 if cfg.quick else 5):
            t0 = time.perf_counter()
            a = RayBench.remote()
            ray.get(a.noop.remote())
            starts.append(time.perf_counter() - t0)
            ray.kill(a)
        out["first_call_ms"] = median(starts) * 1e3
        a = RayBench.remote()
        ray.get(a.noop.remote())
        s = call_times(lambda: ray.get(a.noop.remote()), 300 if cfg.quick else 2000)
        out["noop_p50_us"], out["noop_p99_us"] = pct_us(s, 50), pct_us(s, 99)
        ts = [time_once(lambda: ray.get([a.noop.remote() for _ in range(500)])) for _ in range(3)]
        out["pipelined_500_calls_s"] = 500 / median(ts)
        size = 128 * MB
        arr = np.ones(size // 4, np.float32)
        ray.get(a.hold.remote(size))

        def ray_out() -> None:
            touch(ray.get(a.give.remote(size)))

        for fn, key in ((lambda: ray.get(a.touch.remote(arr)), "in_128mb_GBps"), (ray_out, "out_128mb_GBps")):
            fn()
            out[key] = size / median([time_once(fn) for _ in range(3 if cfg.quick else 7)]) / 1e9
        ray.kill(a)
        try:
            import psutil

            kids = psutil.Process().children(recursive=True)
            out["processes"] = len(kids)
            out["rss_mb"] = sum(p.memory_info().rss for p in kids) / MB
        except Exception:  # noqa: BLE001 - a process may exit while it is counted
            pass
    finally:
        ray.shutdown()
    return out


def bench_parl(cfg: Config) -> dict:
    if importlib.util.find_spec("parl") is None:
        return {"skipped": "parl not installed"}
    addr = os.environ.get("PARL_ADDRESS")
    if not addr:
        return {"skipped": "parl is installed, but PARL_ADDRESS (an xparl cluster, e.g. localhost:8037) is not set"}
    import parl

    parl.connect(addr)
    ParlBench = parl.remote_class(Bench)
    t0 = time.perf_counter()
    a = ParlBench()
    a.noop()
    out: dict[str, Any] = {"first_call_ms": (time.perf_counter() - t0) * 1e3}
    s = call_times(a.noop, 300 if cfg.quick else 2000)
    out["noop_p50_us"], out["noop_p99_us"] = pct_us(s, 50), pct_us(s, 99)
    return out


def md_peers(R: dict) -> list[str]:
    L = ["## 10. Other systems", ""]
    for name in ("ray", "parl"):
        v = R.get(name)
        if v is None:
            continue
        if "skipped" in v:
            L.append(f"- {name}: {v['skipped']}")
        elif "error" in v:
            L.append(f"- {name}: failed: {v['error']}")
        else:
            L.append(f"- {name}: " + ", ".join(f"{k} = {fmt(x)}" for k, x in v.items()))
    return L + [""]
