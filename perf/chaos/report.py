"""Chaos run: A2C on CartPole over 3 network hosts while a schedule kills one host, partitions another
for less than the host timeout, and restarts a worker; it must still reach the CartPole bar.

    python -m perf.chaos                     # the full run (needs root: Linux network namespaces)
    python -m perf.chaos --quick             # a shorter schedule (a smoke test)
    python -m perf.chaos --out perf/results  # update the committed report

The hosts are the test suite's namespace hosts (``tests/_netns.py``): each its own network stack, IP
address, hostname, ``/dev/shm`` and ``/tmp``, one ``fastparl worker --cpus 1`` inside, joined to
this process by a veth pair.  A2C's samplers are an ``ActorPool`` of 3 actors (one per host), so
training goes on with the healthy ones and restores the lost one when a host answers again.  The
report plots env steps/s over time with the faults marked, and states the final evaluation
(10 deterministic episodes) against the bar (475).  ``FASTPARL_HOST_TIMEOUT`` is ``--host-timeout``.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from perf.common.harness import REPO, log, md_table, run_report, target_row
from perf.common.plots import pyplot, save

BAR = 475.0


@dataclass
class Config:
    quick: bool
    host_timeout: float
    seed: int
    total_steps: int
    schedule: list[tuple[float, str, int, float]] = field(default_factory=list)  # (at s, fault, host, length s)


def make_config(args: Any) -> Config:
    # Times from the call of A2C's train() (the faults' clock; the plot and tables use it too): a power cut on host 3 (back 15 s later), a partition of host 2
    # shorter than the host timeout, a SIGKILL + restart of host 1's worker.
    scale = 0.5 if args.quick else 1.0
    schedule = [(10 * scale, "power cut", 2, 15 * scale), (30 * scale, "partition", 1, 0.6 * args.host_timeout),
                (38 * scale, "worker restart", 0, 1.0)]
    return Config(args.quick, args.host_timeout, args.seed, 250_000 if args.quick else args.total_steps, schedule)


def add_args(ap: Any) -> None:
    ap.add_argument("--host-timeout", type=float, default=4.0, help="FASTPARL_HOST_TIMEOUT for the run (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--total-steps", type=int, default=600_000, help="A2C's env steps (default 600,000)")


class _PoolLog(logging.Handler):
    """Collects the ActorPool's deaths and restores with their times, and when A2C's training loop
    started (its "A2C on ..." line, logged as its progress.csv clock starts)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, str]] = []
        self.loop_start: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "fastparl.pool":
            self.events.append((record.created, message))
        elif message.startswith("A2C on ") and self.loop_start is None:
            self.loop_start = record.created


def _faults(hosts: list[Any], cfg: Config, t0: float, done: threading.Event, marks: list) -> None:
    def mark(what: str) -> None:
        marks.append((time.time() - t0, what))
        log(f"chaos: {what}")

    for at, fault, k, length in sorted(cfg.schedule):
        if done.wait(max(0.0, t0 + at - time.time())):
            return
        h = hosts[k]
        if fault == "power cut":
            h.partition()
            h.kill_all()
            mark(f"host {k + 1}: power cut")
            threading.Timer(length, lambda h=h, k=k: (h.heal(), h.start_worker(cpus=1),
                                                      mark(f"host {k + 1}: back"))).start()
        elif fault == "partition":
            h.partition()
            mark(f"host {k + 1}: partitioned for {length:.1f} s")
            threading.Timer(length, lambda h=h, k=k: (h.heal(), mark(f"host {k + 1}: healed"))).start()
        elif fault == "worker restart":
            os.kill(h.worker_pid(), signal.SIGKILL)
            mark(f"host {k + 1}: worker SIGKILLed")
            time.sleep(length)
            h.start_worker(cpus=1)
            mark(f"host {k + 1}: worker restarted")


def chaos(cfg: Config) -> dict:
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from _netns import NetHost, available  # the test suite's namespace hosts

    reason = available()
    if reason:
        return {"error": f"namespace hosts unavailable: {reason}"}
    import fastparl

    token = secrets.token_hex(16)
    os.environ["FASTPARL_TOKEN"] = token
    os.environ.pop("FASTPARL_TOKEN_FILE", None)
    os.environ["FASTPARL_HOST_TIMEOUT"] = str(cfg.host_timeout)
    logs = os.path.join(REPO, "perf", "scratch", "chaos-logs")
    os.makedirs(logs, exist_ok=True)
    hosts: list[Any] = []
    handler = _PoolLog()
    logging.getLogger("fastparl").addHandler(handler)  # fastparl.pool's records reach it too
    from _examples import load_example

    a2c = load_example("A2C")
    done = threading.Event()
    marks: list[tuple[float, str]] = []
    try:
        for _ in range(3):
            hosts.append(NetHost(token, logs))
            hosts[-1].start_worker(cpus=1)
        fastparl.disconnect()
        fastparl.connect(",".join(h.address for h in hosts))
        logdir = os.path.join(REPO, "perf", "scratch", "chaos-a2c")
        args = a2c.Args(env="CartPole-v1", seed=cfg.seed, total_steps=cfg.total_steps, actors=3, num_envs=12,
                        logdir=logdir, tensorboard=False)
        t0 = time.time()
        faults = threading.Thread(target=_faults, args=(hosts, cfg, t0, done, marks), daemon=True)
        faults.start()
        result = a2c.train(args)
        done.set()
        faults.join(60)
        backend_hosts = fastparl.remote.current_backend().hosts()
    finally:
        done.set()
        fastparl.disconnect()
        logging.getLogger("fastparl").removeHandler(handler)
        for h in hosts:
            h.close()
    rows = _progress(os.path.join(logdir, "progress.csv"))
    start = handler.loop_start or t0
    return {"result": result, "faults": marks, "pool": [(t - t0, m) for t, m in handler.events],
            "progress": rows, "hosts": backend_hosts, "schedule": cfg.schedule, "host_timeout": cfg.host_timeout,
            "train_offset_s": start - t0, "leftover_namespaces": [h.name for h in hosts if h.pids()]}


def _progress(path: str) -> list[tuple[float, float, float]]:
    """(env steps, time into training, steps/s since the last row) from A2C's progress.csv."""
    import csv

    out: list[tuple[float, float, float]] = []
    last = None
    with open(path) as f:
        for row in csv.DictReader(f):
            if not row.get("steps_per_s"):
                continue
            steps, t = float(row["env_steps"]), float(row["time_elapsed"])
            if last is not None and t > last[1]:
                out.append((steps, t, (steps - last[0]) / (t - last[1])))
            last = (steps, t)
    return out


def _table(head: list[str], rows: list[list[Any]]) -> str:
    return "\n".join(md_table(head, rows))


def render(R: dict) -> str:
    c = R.get("chaos", {})
    if "error" in c:
        return f"# perf.chaos\n\n{c['error']}\n"
    res = c["result"]
    lines = ["# perf.chaos — A2C on CartPole through host faults", "",
             f"`python -m perf.chaos {' '.join(R['argv'])}` — {R['machine']['cpu']}, "
             f"{R['machine']['usable_cores']} usable cores; 3 namespace hosts (own network stack, IP, hostname, "
             f"/dev/shm, /tmp), `fastparl worker --cpus 1` each; FASTPARL_HOST_TIMEOUT={c['host_timeout']:g} s; "
             f"A2C with 3 sampler actors (an `ActorPool`), 12 envs.", ""]
    ok = res["eval_return"] >= BAR
    lines += ["## Result", "", _table(["measure", "measured", "baseline", "target", "status"], [
        target_row("final evaluation (10 deterministic episodes)", f"{res['eval_return']:.1f}", "untrained "
                   f"{res['initial_eval_return']:.1f}", f"≥ {BAR:g}", ok),
        target_row("samplers died / restored", f"{res['sampler_deaths']:.0f} / {res['sampler_restores']:.0f}", "—",
                   "every death restored", res["sampler_restores"] >= res["sampler_deaths"] > 0),
        target_row("namespaces or processes left", str(len(c["leftover_namespaces"])), "—", "0",
                   not c["leftover_namespaces"]),
    ]), "", f"{res['env_steps']:.0f} env steps in {res['train_time']:.1f} s ({res['steps_per_s']:.0f} steps/s "
             "overall).", "", "## Faults and what the pool did (seconds from the call of `train()`)", ""]
    events = sorted([(t, "fault", m) for t, m in c["faults"]] + [(t, "pool", m) for t, m in c["pool"]])
    lines += [_table(["t (s)", "who", "what"], [[f"{t:.1f}", who, m.replace("|", "/")[:160]]
                                                  for t, who, m in events]), ""]
    lines += ["## The driver's view of the hosts at the end", "",
              _table(["address", "host", "state", "sessions"], [[h["address"], h["host"], h["state"], h["sessions"]]
                                                                 for h in c["hosts"]]), ""]
    lines += ["## Plot", "", "![chaos.png](chaos.png)", ""]
    return "\n".join(lines)


def finish(R: dict, out: str) -> None:
    c = R.get("chaos", {})
    plt = pyplot()
    if plt is None or "progress" not in c:
        return
    fig, ax = plt.subplots(figsize=(9, 4))
    off = c["train_offset_s"]
    t = [row[1] + off for row in c["progress"]]
    ax.plot(t, [row[2] for row in c["progress"]], lw=1.2, label="env steps/s")
    for k, (when, what) in enumerate(c["faults"]):
        ax.axvline(when, color="tab:red" if "back" not in what and "restarted" not in what and "healed" not in what
                   else "tab:green", ls="--", lw=0.8)
        ax.text(when, ax.get_ylim()[1] * (0.95 - 0.08 * (k % 5)), what, fontsize=7, rotation=0)
    ax.set_xlabel("seconds from the call of train()")
    ax.set_ylabel("env steps/s")
    ax.set_title(f"A2C on 3 namespace hosts through faults: final eval {c['result']['eval_return']:.0f}")
    save(fig, out, "chaos.png")


def main(argv: list[str] | None = None) -> dict:
    R = run_report("chaos", [("chaos", chaos)], render, make_config, argv, add_args=add_args, finish=finish,
                   description=__doc__.split("\n")[0])
    res = R.get("chaos", {}).get("result")
    if res is not None and res["eval_return"] < BAR:
        log(f"chaos: the final evaluation {res['eval_return']:.1f} is below the bar {BAR:g}")
    return R
