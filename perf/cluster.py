"""Cluster report: fastparl's ZeroMQ backend on loopback workers, against raw pyzmq in the same run.

Run from the repository root::

    python -m perf.cluster            # full report, a few minutes on 2 cores
    python -m perf.cluster --quick    # smoke test

Two ``fastparl worker`` daemons on loopback ports stand in for hosts (``FASTPARL_HOST_ID`` makes the
driver treat them as other machines, so every byte goes over TCP).  The baseline is a raw pyzmq
DEALER peer in a forked process, connected to a ROUTER in this process, exactly the topology of a
fastparl actor and its driver's hub; systems are interleaved in rounds so load drift hits both.

Sections: no-op latency; pipelined calls/s; arrays 1 KB .. 128 MB in and out (raw: ``copy=False``
frames); actor start on a running worker; time to notice a killed worker.  PARL's xparl and Ray
are measured by ``python -m perf.runtime`` when installed (see shared/BASELINES.md); neither is
installed by this project.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from typing import Any

import numpy as np
import zmq

if __package__ in (None, ""):  # python perf/cluster.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastparl  # noqa: E402
from perf import _baselines as B  # noqa: E402
from perf._harness import KB, MB, call_times, interleaved, log, md_table, median, run_report, size_name, status  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from _cluster import WorkerProc  # noqa: E402

FpBench = fastparl.remote_class(B.Bench)
FpAsyncBench = fastparl.remote_class(wait=False)(B.Bench)


@fastparl.remote_class(wait=False)
class Sleeper:
    def sleep(self, s: float) -> float:
        time.sleep(s)
        return s
SIZES = [1 * KB, 64 * KB, 1 * MB, 16 * MB, 128 * MB]
TARGETS = {"noop_ratio": 1.5, "array_128mb_ratio": 0.8, "start_ms": 20.0, "notice_s": 2.0}


class Config:
    def __init__(self, quick: bool):
        self.quick = quick
        self.lat_reps = 2000 if quick else 10000
        self.pipe_reps = 5 if quick else 20
        self.start_n = 5 if quick else 20
        self.kills = 1 if quick else 3
        self.tmp = tempfile.mkdtemp(prefix="fastparl-perf-cluster-")
        self.token = os.path.join(self.tmp, "token")
        self.workers: list[WorkerProc] = []

    def array_reps(self, size: int) -> int:
        return max(3, (20 if self.quick else 100) * MB // max(size, MB) if size >= MB else (50 if self.quick else 300))


# ------------------------------------------------------------------------------ the raw pyzmq peer
class RawZmq:
    """A forked DEALER peer and a ROUTER here: the same sockets and topology as an actor and its hub."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.pid = os.fork()
        if self.pid == 0:  # the peer
            try:
                _raw_peer(port)
            finally:
                os._exit(0)
        self.ident = self.sock.recv_multipart()[0]

    def ping(self) -> None:
        self.sock.send_multipart([self.ident, b"p"])
        self.sock.recv_multipart()

    def send_in(self, arr: np.ndarray) -> None:  # an array to the peer, which touches it and acks
        self.sock.send_multipart([self.ident, b"i", arr], copy=False)
        self.sock.recv_multipart()

    def get_out(self, n: int) -> np.ndarray:  # an array from the peer, received without a copy
        self.sock.send_multipart([self.ident, b"o", str(n).encode()])
        frames = self.sock.recv_multipart(copy=False)
        return np.frombuffer(frames[1].buffer, np.uint8)

    def pipelined(self, n: int) -> None:
        for _ in range(n):
            self.sock.send_multipart([self.ident, b"p"])
        for _ in range(n):
            self.sock.recv_multipart()

    def close(self) -> None:
        self.sock.send_multipart([self.ident, b"q"])
        os.waitpid(self.pid, 0)
        self.sock.close()
        self.ctx.term()


def _raw_peer(port: int) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(f"tcp://127.0.0.1:{port}")
    s.send(b"hi")
    held: dict[int, np.ndarray] = {}
    while True:
        frames = s.recv_multipart(copy=False)
        op = frames[0].bytes
        if op == b"p":
            s.send(b"r")
        elif op == b"i":
            B.touch(np.frombuffer(frames[1].buffer, np.uint8))
            s.send(b"k")
        elif op == b"o":
            n = int(frames[1].bytes)
            arr = held.setdefault(n, np.ones(n, np.uint8))
            s.send_multipart([b"a", arr], copy=False)
        else:
            break
    s.close()
    ctx.term()


# ------------------------------------------------------------------------------ sections
def setup(cfg: Config) -> Any:
    with open(cfg.token, "w") as f:
        f.write("perf-token-" + os.urandom(8).hex())
    os.chmod(cfg.token, 0o600)
    os.environ["FASTPARL_TOKEN_FILE"] = cfg.token
    cfg.workers = [WorkerProc(cfg.token, cpus=32, host_id=f"perf-host-{i}", log_dir=cfg.tmp) for i in range(2)]
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
        row = {k: {"p50_us": float(np.percentile(v, 50) * 1e6), "p99_us": float(np.percentile(v, 99) * 1e6)}
               for k, v in ts.items()}
        row["ratio_p50"] = row["fastparl zmq"]["p50_us"] / row["raw pyzmq"]["p50_us"]
        return row
    finally:
        raw.close()
        fastparl.kill(fa)


def bench_pipelined(cfg: Config) -> dict:
    raw = RawZmq()
    fa = FpAsyncBench()
    try:
        fa.noop().get()
        n = 500
        ts = interleaved({"raw pyzmq": lambda: raw.pipelined(n),
                          "fastparl zmq": lambda: fastparl.get([fa.noop() for _ in range(n)])}, cfg.pipe_reps, 1)
        return {k: n / median(v) for k, v in ts.items()}
    finally:
        raw.close()
        fastparl.kill(fa)


def bench_arrays(cfg: Config) -> dict:
    raw = RawZmq()
    fa = FpBench()
    out: dict[str, Any] = {}
    try:
        for size in SIZES:
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


SECTIONS = [("latency", bench_latency), ("pipelined", bench_pipelined), ("arrays", bench_arrays),
            ("start", bench_start), ("notice", bench_notice)]


def render(R: dict) -> str:
    m = R["machine"]
    L = ["# perf.cluster — the ZeroMQ backend on loopback workers", "",
         f"{m['date']}, {m['cpu']}, {m['usable_cores']} cores, load {m['loadavg_start']} → {m.get('loadavg_end')}; "
         f"Python {m['python']}, pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()}){' — quick run' if R['quick'] else ''}.",
         "Two workers on loopback ports act as two hosts (every byte over TCP); the baseline is raw pyzmq with the "
         "same ROUTER/DEALER topology, interleaved in the same run.", ""]
    rows = []
    lat, pipe, arr, st, no = (R.get(k, {}) for k in ("latency", "pipelined", "arrays", "start", "notice"))
    if "ratio_p50" in lat:
        rows.append(["no-op call p50", f"{lat['fastparl zmq']['p50_us']:.0f} µs vs raw {lat['raw pyzmq']['p50_us']:.0f} µs",
                     f"{lat['ratio_p50']:.2f}× raw", f"≤ {TARGETS['noop_ratio']}×",
                     status(lat["ratio_p50"] <= TARGETS["noop_ratio"])])
    if "fastparl zmq" in pipe:
        rows.append(["500 pipelined calls", f"{pipe['fastparl zmq'] / 1e3:.1f}k calls/s vs raw {pipe['raw pyzmq'] / 1e3:.1f}k",
                     f"{pipe['fastparl zmq'] / pipe['raw pyzmq']:.2f}× raw", "—", "n/a"])
    big = arr.get("128 MB")
    if big:
        worst = min(big["ratio_in"], big["ratio_out"])
        rows.append(["128 MB in / out", f"{big['fastparl in']:.2f} / {big['fastparl out']:.2f} GB/s "
                     f"(raw {big['raw in']:.2f} / {big['raw out']:.2f})", f"{big['ratio_in']:.2f}× / {big['ratio_out']:.2f}×",
                     f"≥ {TARGETS['array_128mb_ratio']}×", status(worst >= TARGETS["array_128mb_ratio"])])
    if "start_to_first_call_ms" in st:
        rows.append(["actor start → first call", f"{st['start_to_first_call_ms']:.1f} ms", "", f"≤ {TARGETS['start_ms']:g} ms",
                     status(st["start_to_first_call_ms"] <= TARGETS["start_ms"])])
    if no.get("notice_s") is not None:
        rows.append(["killed worker noticed", f"{no['notice_s']:.2f} s ({', '.join(f'{t:.2f}' for t in no['all_s'])})",
                     "", f"≤ {TARGETS['notice_s']:g} s", status(no["notice_s"] <= TARGETS["notice_s"])])
    L += md_table(["measure", "fastparl", "ratio", "target", "status"], rows)
    if arr and "error" not in arr:
        L += ["", "Arrays (GB/s; in = driver → actor, which touches every page; out = actor → driver):", ""]
        L += md_table(["size", "fastparl in", "raw in", "ratio", "fastparl out", "raw out", "ratio"],
                      [[k, f"{v['fastparl in']:.3f}", f"{v['raw in']:.3f}", f"{v['ratio_in']:.2f}",
                        f"{v['fastparl out']:.3f}", f"{v['raw out']:.3f}", f"{v['ratio_out']:.2f}"] for k, v in arr.items()])
    for k in ("latency", "pipelined", "arrays", "start", "notice"):
        if isinstance(R.get(k), dict) and "error" in R[k]:
            L.append(f"\n{k}: error: {R[k]['error']}")
    L += ["", f"Took {R['elapsed_s']:.0f} s. PARL (xparl) and Ray: not installed by this project; "
          "see shared/BASELINES.md to install them beside it."]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> dict:
    return run_report("cluster", SECTIONS, render, lambda a: Config(a.quick), argv, setup=setup)


if __name__ == "__main__":
    main()
