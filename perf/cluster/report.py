"""Cluster report: fastparl's ZeroMQ backend on loopback workers, against raw pyzmq in the same run.

Run from the repository root::

    python -m perf.cluster                    # full report, about a minute on 2 cores
    python -m perf.cluster --quick            # smoke test
    python -m perf.cluster --max-actors 16    # scaling sweep up to N = 16 (default: the usable cores)

Two ``fastparl worker`` daemons on loopback ports stand in for hosts (``FASTPARL_HOST_ID`` makes the
driver treat them as other machines, so every byte goes over TCP).  The baseline is raw pyzmq: DEALER
peers in forked processes, connected to a ROUTER in this process, exactly the topology of fastparl
actors and their driver's hub; systems are interleaved in rounds so load drift hits both.

Sections: no-op latency; pipelined calls/s with N = 1 .. cores actors (aggregate); arrays 1 KB .. 128 MB
in and out (raw: ``copy=False`` frames); CPU scaling of N actors against ``multiprocessing.Pool(N)``;
actor start on a running worker; time to notice a killed worker; the cost of the transport's security
(the hardened default and ``--curve`` beside raw pyzmq NULL, PLAIN+ZAP and CURVE: perf/cluster/security.py).  Plots: ``cluster_scaling.png``
(throughput against N) and ``cluster_arrays.png`` (GB/s against size).  PARL's xparl and Ray are
measured by ``python -m perf.runtime`` when installed (perf/README.md, "Baselines", says how to install
them); neither is installed by this project.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np
import zmq

import fastparl
from perf.cluster import scaling, security
from perf.cluster.raw import RawZmq
from perf.common import cpu_scaling
from perf.common.actors import FpBench
from perf.common.harness import (KB, MB, REPO, TARGET_HEAD, call_times, error_line, interleaved, log, md_table,
                                 median, run_report, size_name, target_row)

sys.path.append(os.path.join(REPO, "tests"))  # tests/_cluster.py: the test suite's loopback worker daemons
from _cluster import WorkerProc  # noqa: E402


@fastparl.remote_class(wait=False)
class Sleeper:
    def sleep(self, s: float) -> float:
        time.sleep(s)
        return s


TARGETS = {"noop_ratio": 1.5, "array_128mb_ratio": 0.8, "start_ms": 20.0, "notice_s": 2.0, "scaling_eff_2": 0.95}


class Config:
    """Repeats of every section: ``quick`` is a smoke test (seconds), the default the committed report."""

    def __init__(self, quick: bool, max_actors: int):
        self.quick = quick
        self.max_actors = max(1, max_actors)
        self.lat_reps = 2000 if quick else 10000
        self.pipe_reps = 5 if quick else 20
        self.sizes = ([1 * KB, 64 * KB, 1 * MB, 16 * MB, 128 * MB] if quick else
                      [1 * KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, 1 * MB, 4 * MB, 16 * MB, 64 * MB, 128 * MB])
        self.spin_seconds = 0.05 if quick else 0.3  # perf.common.cpu_scaling.bench_scaling reads these three
        self.spin_reps = 2 if quick else 9
        self.start_n = 5 if quick else 20
        self.kills = 1 if quick else 3
        self.tmp = tempfile.mkdtemp(prefix="fastparl-perf-cluster-")
        self.token = os.path.join(self.tmp, "token")
        self.workers: list[WorkerProc] = []

    def array_reps(self, size: int) -> int:
        """Calls per system at ``size``: hundreds of small arrays, a few of 128 MB (0.1 s each)."""
        if size < MB:
            return 50 if self.quick else 300
        return max(3 if self.quick else 5, (20 if self.quick else 100) * MB // size)

    def as_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, "max_actors": self.max_actors, "sizes": self.sizes}


# ------------------------------------------------------------------------------ sections
def setup(cfg: Config) -> Any:
    with open(cfg.token, "w") as f:
        f.write("perf-token-" + os.urandom(8).hex())
    os.chmod(cfg.token, 0o600)
    os.environ["FASTPARL_TOKEN_FILE"] = cfg.token
    cfg.workers = [WorkerProc(cfg.token, cpus=max(32, cfg.max_actors), host_id=f"perf-host-{i}", log_dir=cfg.tmp) for i in range(2)]
    fastparl.connect(",".join(w.address for w in cfg.workers))

    def teardown() -> None:
        fastparl.disconnect()
        for w in cfg.workers:
            w.stop()
    return teardown


def bench_latency(cfg: Config) -> dict:
    raw = RawZmq()
    fa = FpBench()
    try:
        systems = {"raw pyzmq": raw.ping, "fastparl zmq": fa.noop}
        for fn in systems.values():
            call_times(fn, 300)
        ts = interleaved(systems, cfg.lat_reps, 500)
        row: dict[str, Any] = {k: {"p50_us": float(np.percentile(v, 50) * 1e6), "p99_us": float(np.percentile(v, 99) * 1e6)}
               for k, v in ts.items()}
        row["ratio_p50"] = row["fastparl zmq"]["p50_us"] / row["raw pyzmq"]["p50_us"]
        return row
    finally:
        raw.close()
        fastparl.kill(fa)


def bench_arrays(cfg: Config) -> dict:
    raw = RawZmq()
    fa = FpBench()
    out: dict[str, Any] = {}
    try:
        for size in cfg.sizes:
            arr = np.ones(size, np.uint8)
            fa.hold(size)
            reps = cfg.array_reps(size)
            ts = interleaved({"raw in": lambda a=arr: raw.send_in(a), "fastparl in": lambda a=arr: fa.touch(a),
                              "raw out": lambda n=size: raw.get_out(n), "fastparl out": lambda n=size: fa.give(n)},
                             reps, max(1, min(20, reps // 3)))
            row = {k: size / median(v) / 1e9 for k, v in ts.items()}  # GB/s
            row["ratio_in"] = row["fastparl in"] / row["raw in"]
            row["ratio_out"] = row["fastparl out"] / row["raw out"]
            row["fastparl_in_us"] = median(ts["fastparl in"]) * 1e6
            row["raw_in_us"] = median(ts["raw in"]) * 1e6
            out[size_name(size)] = row
            fa.drop()
            log(f"  {size_name(size)}: in {row['ratio_in']:.2f}x raw, out {row['ratio_out']:.2f}x raw")
    finally:
        raw.close()
        fastparl.kill(fa)
    return out


def bench_start(cfg: Config) -> dict:
    FpBench().noop()  # warm
    ts = []
    for _ in range(cfg.start_n):
        t0 = time.perf_counter()
        a = FpBench()
        a.noop()
        ts.append(time.perf_counter() - t0)
        fastparl.kill(a)
    return {"start_to_first_call_ms": median(ts) * 1e3, "min_ms": min(ts) * 1e3}


def bench_notice(cfg: Config) -> dict:
    """Time from SIGKILL of a worker daemon to ActorDiedError of a call pending on one of its actors."""
    fastparl.disconnect()
    times = []
    try:
        for _ in range(cfg.kills):
            w = WorkerProc(cfg.token, cpus=2, host_id="perf-victim", log_dir=cfg.tmp)
            fastparl.connect(w.address)
            a = Sleeper()
            a.sleep(0).get()
            pending = a.sleep(60)
            t0 = time.perf_counter()
            w.stop(signal.SIGKILL)
            try:
                pending.get(timeout=30)
            except fastparl.errors.ActorDiedError:
                times.append(time.perf_counter() - t0)
            fastparl.disconnect()
    finally:
        fastparl.connect(",".join(w.address for w in cfg.workers))
    return {"notice_s": median(times) if times else None, "all_s": times}


SECTIONS: list[tuple[str, Callable[[Any], dict]]] = [
    ("latency", bench_latency), ("pipelined", scaling.bench_calls_n), ("arrays", bench_arrays),
    ("scaling", cpu_scaling.bench_scaling), ("start", bench_start), ("notice", bench_notice),
    ("security", security.bench_security)]


def _ok(R: dict, name: str, key: str) -> dict | None:
    v = R.get(name)
    return v if isinstance(v, dict) and key in v else None


def targets(R: dict) -> list[list[str]]:
    """One row per target (and per scaling measure without one), each saying where it stands."""
    T, rows = TARGETS, []
    if lat := _ok(R, "latency", "ratio_p50"):
        fp, raw = lat["fastparl zmq"]["p50_us"], lat["raw pyzmq"]["p50_us"]
        rows.append(target_row("no-op call p50", f"{fp:.0f} µs = {lat['ratio_p50']:.2f}× raw", f"raw pyzmq {raw:.0f} µs",
                               f"≤ {T['noop_ratio']}× raw", lat["ratio_p50"] <= T["noop_ratio"]))
    if pipe := _ok(R, "pipelined", "rows"):
        for r in [pipe["rows"][0]] + pipe["rows"][1:][-1:]:
            rows.append(target_row(f"pipelined no-op calls, N = {r['n']} actor{'s' if r['n'] > 1 else ''}",
                                   f"{r['fastparl_calls_s'] / 1e3:.1f}k calls/s = {r['ratio']:.2f}× raw",
                                   f"raw pyzmq {r['raw_calls_s'] / 1e3:.1f}k", "—", None, "no target"))
    if arr := R.get("arrays"):
        if big := arr.get("128 MB"):
            worst = min(big["ratio_in"], big["ratio_out"])
            rows.append(target_row("128 MB in / out", f"{big['fastparl in']:.2f} / {big['fastparl out']:.2f} GB/s = "
                                   f"{big['ratio_in']:.2f}× / {big['ratio_out']:.2f}× raw",
                                   f"raw {big['raw in']:.2f} / {big['raw out']:.2f} GB/s",
                                   f"≥ {T['array_128mb_ratio']}× raw", worst >= T["array_128mb_ratio"]))
        sized = {k: v for k, v in arr.items() if isinstance(v, dict) and "ratio_in" in v}
        if sized:
            lo = min(sized, key=lambda k: min(sized[k]["ratio_in"], sized[k]["ratio_out"]))
            hi = max(sized, key=lambda k: max(sized[k]["ratio_in"], sized[k]["ratio_out"]))
            w, b = sized[lo], sized[hi]
            rows.append(target_row(f"arrays {next(iter(sized))} … {list(sized)[-1]}, in and out",
                                   f"{min(w['ratio_in'], w['ratio_out']):.2f}× raw at worst ({lo}), "
                                   f"{max(b['ratio_in'], b['ratio_out']):.2f}× at best ({hi})",
                                   "raw pyzmq, same sizes", "—", None, "no target below 128 MB"))
    if sc := _ok(R, "scaling", "rows"):
        last = sc["rows"][-1]["n"]
        for r in sc["rows"]:
            if r["n"] not in (2, last) or r["n"] == 1:
                continue
            got = f"{r['fastparl_speedup']:.2f} ({r['fastparl_eff']:.2f} N)"
            base = f"Pool {r['pool_speedup']:.2f} ({r['pool_eff']:.2f} N)"
            if r["n"] == 2:
                rows.append(target_row("CPU-bound speedup, N = 2", got, base, f"≥ {T['scaling_eff_2']:g} N and ≥ Pool",
                                       r["fastparl_eff"] >= T["scaling_eff_2"] and r["fastparl_speedup"] >= r["pool_speedup"]))
            else:
                rows.append(target_row(f"CPU-bound speedup, N = {r['n']}", got, base, "(target at N = 2)", None))
    if st := _ok(R, "start", "start_to_first_call_ms"):
        rows.append(target_row("actor start → first call", f"{st['start_to_first_call_ms']:.1f} ms "
                               f"(min {st['min_ms']:.1f})", "", f"≤ {T['start_ms']:g} ms",
                               st["start_to_first_call_ms"] <= T["start_ms"]))
    if (no := R.get("notice")) and no.get("notice_s") is not None:
        rows.append(target_row("killed worker noticed", f"{no['notice_s']:.2f} s "
                               f"({', '.join(f'{t:.2f}' for t in no['all_s'])})", "", f"≤ {T['notice_s']:g} s",
                               no["notice_s"] <= T["notice_s"]))
    return rows


def render(R: dict) -> str:
    m, cfg = R["machine"], R.get("config", {})
    cmd = "python -m perf.cluster" + "".join(f" {a}" for a in R.get("argv", []))
    L = ["# perf.cluster — the ZeroMQ backend on loopback workers", "",
         f"`{cmd}` — {m['date']}, {m['cpu']}, {m['usable_cores']} usable cores, N up to {cfg.get('max_actors', '?')}, "
         f"load {m['loadavg_start']} → {m.get('loadavg_end')}; Python {m['python']}, pyzmq {zmq.__version__} "
         f"(libzmq {zmq.zmq_version()}){' — quick run' if R['quick'] else ''}.",
         "Two workers on loopback ports act as two hosts (every byte over TCP); the baseline is raw pyzmq with the "
         "same ROUTER/DEALER topology, interleaved in the same run.", "", "## Targets", ""]
    L += md_table(TARGET_HEAD, targets(R)) + [""]
    for k in ("latency", "pipelined", "start", "notice"):
        L += error_line(R.get(k))
    L += scaling.md_scaling(_ok(R, "scaling", "rows"), _ok(R, "pipelined", "rows"))
    L += error_line(R.get("scaling"))
    arr = R.get("arrays")
    if arr and "error" not in arr:
        L += ["## Arrays against payload size", "",
              "GB/s; in = driver → actor, which touches every page; out = actor → driver. Medians, the four "
              "interleaved.", ""]
        L += md_table(["size", "fastparl in", "raw in", "ratio", "fastparl out", "raw out", "ratio"],
                      [[k, f"{v['fastparl in']:.3f}", f"{v['raw in']:.3f}", f"{v['ratio_in']:.2f}",
                        f"{v['fastparl out']:.3f}", f"{v['raw out']:.3f}", f"{v['ratio_out']:.2f}"] for k, v in arr.items()])
        L.append("")
    L += error_line(arr)
    L += security.md_security(R.get("security"))
    L += error_line(R.get("security"))
    if R.get("plots"):
        L += ["## Plots", ""] + [f"![{p}]({p})" for p in R["plots"]] + [""]
    L += [f"Took {R['elapsed_s']:.0f} s. PARL (xparl) and Ray: not installed by this project; "
          "perf/README.md (Baselines) says how to install them beside it."]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> dict:
    cfgs: list[Config] = []

    def make_config(a: Any) -> Config:
        cfgs.append(Config(a.quick, a.max_actors))
        return cfgs[0]

    def add_args(ap: Any) -> None:
        ap.add_argument("--max-actors", type=int, default=len(os.sched_getaffinity(0)),
                        help="largest N in the scaling sections (default: the usable cores)")

    def finish(R: dict, out_dir: str) -> None:
        cfg = cfgs[0]
        R["config"], R["targets"] = cfg.as_dict(), TARGETS
        R["plots"] = (scaling.plot_scaling(_ok(R, "scaling", "rows"), _ok(R, "pipelined", "rows"), out_dir)
                      + (scaling.plot_arrays(R["arrays"], cfg.sizes, out_dir) if "error" not in R.get("arrays", {"error": 1})
                         else []))

    return run_report("cluster", SECTIONS, render, make_config, argv, add_args=add_args, setup=setup, finish=finish,
                      description=(__doc__ or "").split("\n")[0])

