"""Where a synchronous sampler call's time goes: ``python -m perf.rl.breakdown``.

``perf.rl`` finds fastparl's A2C samplers on CartPole at 0.8-0.9 of the ceiling (N x the serial loop)
at N = 1, where the learner does not share the sampler's core.  A synchronous call (weights in,
one 5 x 20-step rollout out, ~1.1 ms of env work) cannot overlap anything, so every microsecond
the runtime adds is lost.  This splits one call into parts, each measured in the same run, calls
interleaved in blocks so the machine's load hits every row alike:

- *serial*: ``Sampler.sample`` in this process: the ceiling's unit of work;
- *inner*: the same method timed inside the actor (the actor's own slowdown: caches, its CPU);
- *no-op call*: a call that does nothing (the runtime's round trip);
- *same payload*: a call that takes the weights and returns a batch of the same arrays at once;
- *busy, same payload*: a call that busy-waits as long as a rollout, then returns that batch: with
  *same payload* it gives the cost of waiting ~1 ms for the reply (the driver's poll or wake-up);
- the full call, with the driver's poll learning the wait (default) and with it off
  (``SPIN_MAX_NS = 0``: the driver blocks after 50 us, as before).

Writes ``perf/results/rl_breakdown.{md,json}``.  ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # ``workload`` as a top-level module, as perf/rl/runner.py imports it

import workload  # noqa: E402

from perf.common.harness import REPO, machine_info, md_table  # noqa: E402


class Probe(workload.Sampler):
    """The perf.rl sampler plus the calls that isolate each part of a call's cost."""

    def timed(self, weights: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        t = time.perf_counter()
        batch = self.sample(weights)
        return batch, time.perf_counter() - t

    def noop(self) -> None:
        return None

    def keep(self, batch: dict[str, np.ndarray]) -> None:
        self.kept = {k: v.copy() for k, v in batch.items()}

    def same_payload(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.kept.items()}  # fresh arrays, as sample() returns

    def busy(self, weights: np.ndarray, seconds: float) -> dict[str, np.ndarray]:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return self.same_payload(weights)


def measure(task: str, calls: int, block: int) -> dict[str, float]:
    """Median µs of each part for ``task`` at N = 1."""
    import fastparl
    from fastparl.remote.local import channel

    fastparl.connect()
    try:
        actor = fastparl.remote_class(Probe)(task, 0)
        local = workload.Sampler(task, 0)
        weights = workload.init_weights(task)
        batch, _ = actor.timed(weights)
        actor.keep(batch)
        for _ in range(5):  # warm-up
            local.sample(weights)
        serial = []
        for _ in range(20):
            t = time.perf_counter()
            local.sample(weights)
            serial.append(time.perf_counter() - t)
        rollout_s = float(np.median(serial))
        learned = channel.SPIN_MAX_NS
        t_: dict[str, list[float]] = {k: [] for k in ("serial", "inner", "call", "call_blocking", "noop",
                                                        "same_payload", "busy", "busy_inner")}

        def timed_call(key: str, fn: Any) -> Any:
            t = time.perf_counter()
            out = fn()
            t_[key].append(time.perf_counter() - t)
            return out

        done = 0
        while done < calls:
            for _ in range(block):
                timed_call("serial", lambda: local.sample(weights))
            for _ in range(block):
                _, inner = timed_call("call", lambda: actor.timed(weights))
                t_["inner"].append(inner)
            channel.SPIN_MAX_NS = 0
            for _ in range(block):
                timed_call("call_blocking", lambda: actor.timed(weights))
            channel.SPIN_MAX_NS = learned
            for _ in range(block):
                timed_call("noop", actor.noop)
            for _ in range(block):
                timed_call("same_payload", lambda: actor.same_payload(weights))
            for _ in range(block):
                t0 = time.perf_counter()
                actor.busy(weights, rollout_s)
                t_["busy"].append(time.perf_counter() - t0)
                t_["busy_inner"].append(rollout_s)
            done += block
        fastparl.kill(actor)
        local.close()
    finally:
        fastparl.disconnect()
    return {k: float(np.median(v)) * 1e6 for k, v in t_.items()}


def render(task: str, us: dict[str, float], info: dict[str, Any]) -> str:
    serial, call = us["serial"], us["call"]
    wait = us["busy"] - us["busy_inner"] - us["same_payload"]
    actor_slowdown = us["inner"] - serial
    rest = call - us["inner"] - us["same_payload"] - wait
    parts = [
        ["runtime round trip (no-op call)", us["noop"]],
        ["the arrays in and out (same payload − no-op)", us["same_payload"] - us["noop"]],
        ["waiting ~1 ms for the reply (busy − its wait − same payload)", wait],
        ["the actor's rollout runs slower than in this process (inner − serial)", actor_slowdown],
        ["the rest (caches cold after the rollout, both sides)", rest],
    ]
    rows = [[name, f"{v:,.0f}", f"{v / call:.1%}"] for name, v in parts]
    lines = [
        f"# Where a synchronous sampler call goes (`python -m perf.rl.breakdown`), {task}, N = 1",
        "",
        f"{info['date']}, {info['cpu']}, {info['cores']} cores, load {info['loadavg_start']}; Python {info['python']}.",
        "",
        f"- serial rollout in this process: **{serial:,.0f} µs**; the same rollout called on an actor: "
        f"**{call:,.0f} µs** → {serial / call:.2f} of the ceiling (N × serial) at N = 1;",
        f"- with the driver blocking after its 50 µs poll (before the poll learned the wait, "
        f"`FASTPARL_SPIN_MAX_US=0`): {us['call_blocking']:,.0f} µs → {serial / us['call_blocking']:.2f} of the ceiling.",
        "",
        "What the call adds to the rollout, µs (medians; the parts are differences of medians, so they need not "
        "sum exactly):",
        "",
        *md_table(["part", "µs", "share of the call"], rows),
        "",
        "A synchronous call (weights in, batch out, as PARL's A2C) leaves the actor idle while the driver receives "
        "the batch and sends the next weights: only overlapping the next rollout with the transfer (stale "
        "weights: a different algorithm) or longer rollouts per call would move the ceiling fraction past "
        "~0.9 here.  Raw timings (µs): " + ", ".join(f"{k} {v:,.0f}" for k, v in us.items()) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="a2c-cartpole", choices=[k for k, v in workload.TASKS.items() if v["kind"] != "es"])
    p.add_argument("--calls", type=int, default=600)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="", help="folder for rl_breakdown.{md,json} (default perf/results; --quick: none)")
    a = p.parse_args(argv)
    calls, block = (40, 10) if a.quick else (a.calls, 50)
    info = machine_info()
    us = measure(a.task, calls, block)
    text = render(a.task, us, info)
    print(text)
    out = a.out or ("" if a.quick else os.path.join(REPO, "perf", "results"))
    if out:
        with open(os.path.join(out, "rl_breakdown.md"), "w") as f:
            f.write(text)
        with open(os.path.join(out, "rl_breakdown.json"), "w") as f:
            json.dump({"task": a.task, "us": us, "machine": info}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
