"""What the transport's security costs: fastparl's hardened default and ``--curve``, each beside raw pyzmq
with the same ZMTP mechanism.

Raw pyzmq (the ROUTER/DEALER pair of :mod:`perf.cluster.raw`) runs with NULL (no security, the floor),
PLAIN checked by a ZAP handler (what fastparl's default transport does: the ticket is checked once, at the
connection's handshake) and CURVE (encryption of every frame, what ``--curve`` does).  fastparl runs on a
worker that looks like another host, with ``FASTPARL_SAME_HOST_SHM=0``, so every byte goes over TCP: the
default transport (PLAIN+ZAP gate, then the HMAC handshake and a MAC on every control message), then
``fastparl worker --curve`` with ``FASTPARL_CURVE=1``.  Each fastparl phase is interleaved with raw NULL
and raw pyzmq of its own mechanism, so load drift hits them alike.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

import fastparl
from perf.cluster.raw import RawZmq
from perf.common.actors import FpBench
from perf.common.harness import KB, MB, interleaved, log, md_table, median, size_name

__all__ = ["bench_security", "md_security"]


def _sizes(cfg: Any) -> list[int]:
    return [1 * KB, 1 * MB] if cfg.quick else [1 * KB, 1 * MB, 128 * MB]


def _reps(cfg: Any, size: int) -> int:
    if size == 0:
        return 1000 if cfg.quick else 5000
    if size < MB:
        return 200 if cfg.quick else 1000
    return max(3, (20 if cfg.quick else 100) * MB // size)


def _sender(raw: RawZmq, arr: np.ndarray) -> Callable[[], Any]:
    return lambda: raw.send_in(arr)


def _toucher(actor: Any, arr: np.ndarray) -> Callable[[], Any]:
    return lambda: actor.touch(arr)


def _phase(cfg: Any, mode: str, address: str) -> dict[str, Any]:
    """Round trips (median µs) of raw NULL, raw with ``mode``'s mechanism and fastparl in ``mode``."""
    mech = "plain" if mode == "default" else "curve"
    saved = {k: os.environ.get(k) for k in ("FASTPARL_CURVE", "FASTPARL_SAME_HOST_SHM")}
    os.environ["FASTPARL_SAME_HOST_SHM"] = "0"
    os.environ["FASTPARL_CURVE"] = "1" if mode == "curve" else "0"
    fastparl.disconnect()
    fastparl.connect(address)
    raws = {"null": RawZmq(mechanism="null"), mech: RawZmq(mechanism=mech)}
    fa = FpBench()
    out: dict[str, Any] = {}
    try:
        fa.noop()
        for size in [0, *_sizes(cfg)]:
            systems: dict[str, Callable[[], Any]] = {}
            if size:
                arr = np.ones(size, np.uint8)
                for m, r in raws.items():
                    systems[f"raw {m}"] = _sender(r, arr)
                systems[f"fastparl {mode}"] = _toucher(fa, arr)
            else:
                for m, r in raws.items():
                    systems[f"raw {m}"] = r.ping
                systems[f"fastparl {mode}"] = fa.noop
            reps = _reps(cfg, size)
            ts = interleaved(systems, reps, max(1, min(200, reps // 5)))
            name = size_name(size) if size else "no-op"
            out[name] = {k: median(v) * 1e6 for k, v in ts.items()}
            log(f"  security {mode} {name}: " + ", ".join(f"{k} {v:.0f} µs" for k, v in out[name].items()))
    finally:
        fastparl.kill(fa)
        for r in raws.values():
            r.close()
        fastparl.disconnect()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out


def bench_security(cfg: Any) -> dict:
    from _cluster import WorkerProc  # tests/_cluster.py, put on the path by perf.cluster.report

    curve_worker = WorkerProc(cfg.token, cpus=4, host_id="perf-curve-host", log_dir=cfg.tmp, extra=("--curve",))
    try:
        default = _phase(cfg, "default", cfg.workers[0].address)
        curve = _phase(cfg, "curve", curve_worker.address)
    finally:
        fastparl.disconnect()
        curve_worker.stop()
        fastparl.connect(",".join(w.address for w in cfg.workers))
    rows = []
    for name in default:
        d, c = default[name], curve[name]
        null = median([d["raw null"], c["raw null"]])
        rows.append({"size": name, "raw_null_us": null, "raw_plain_us": d["raw plain"], "raw_curve_us": c["raw curve"],
                     "fastparl_default_us": d["fastparl default"], "fastparl_curve_us": c["fastparl curve"],
                     "default_over_raw_plain": d["fastparl default"] / d["raw plain"],
                     "curve_over_raw_curve": c["fastparl curve"] / c["raw curve"],
                     "curve_over_default": c["fastparl curve"] / d["fastparl default"]})
    return {"rows": rows, "phases": {"default": default, "curve": curve}}


def md_security(sec: dict | None) -> list[str]:
    if not sec or "rows" not in sec:
        return []
    L = ["## Cost of the transport's security", "",
         "Median round trip in µs: a no-op call, or an array sent in (the peer touches every page) and "
         "acknowledged. Raw pyzmq: NULL (no security), PLAIN + ZAP (the default's mechanism: checked once per "
         "connection) and CURVE (every frame encrypted). fastparl: a worker on another (loopback) host with "
         "`FASTPARL_SAME_HOST_SHM=0`, default transport and `--curve`. Each fastparl mode is interleaved with raw "
         "NULL and raw pyzmq of its own mechanism (raw NULL: the median of both phases).", ""]
    L += md_table(["payload", "raw NULL", "raw PLAIN+ZAP", "fastparl default", "÷ raw PLAIN", "raw CURVE",
                   "fastparl --curve", "÷ raw CURVE", "--curve ÷ default"],
                  [[r["size"], f"{r['raw_null_us']:.0f}", f"{r['raw_plain_us']:.0f}", f"{r['fastparl_default_us']:.0f}",
                    f"{r['default_over_raw_plain']:.2f}", f"{r['raw_curve_us']:.0f}", f"{r['fastparl_curve_us']:.0f}",
                    f"{r['curve_over_raw_curve']:.2f}", f"{r['curve_over_default']:.2f}"] for r in sec["rows"]])
    return L + [""]
