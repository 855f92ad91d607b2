"""Learner throughput: PPO gradient steps in the driver, in 1 learner actor and in k data-parallel learners.

    python -m perf.learners [--learners 1,2] [--rounds 5] [--steps 20] [--quick] [--only cartpole,wide] [--out DIR]

Workload: PPO's update (``fastparl.algorithms.PPO.learn``, Adam, global-norm clip) on a random batch,
``--steps`` gradient steps per call (PPO's epochs), for two sizes: CartPole's (64-64 MLPs, 256 samples
a step, the PPO example's preset) and a wider one (256-256 MLPs, 64-dim observations, 4096 samples a
step).  With k learners each step takes 1/k of the batch on each learner and all-reduces the
gradients (gloo on CPU).  Samples/s = samples per step x steps / wall time of the call, driver side
(dispatch and gather included).  The systems take turns within each round; medians over the rounds,
and the best round (what a quiet moment of a shared machine gives).  The gloo all-reduce's own
latency is timed inside the learners, for one float and for the model's gradients.  GPUs: learners use one each (NCCL) when the driver sees GPUs; this report says when none
could be measured.  Runs on :mod:`perf.common.harness` (writes ``learners.md`` and ``learners.json`` to ``--out``).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable

import numpy as np

import fastparl
from fastparl.learners import LearnerGroup
from fastparl.learners.rendezvous import visible_gpu_count
from perf.common.harness import md_table, median, run_report

# section -> (title, obs_dim, hidden, samples per step)
SIZES = {"cartpole": ("CartPole (64-64, 256 samples/step)", 4, 64, 256),
         "wide": ("wide (256-256, 4096 samples/step)", 64, 256, 4096)}


class Replica:
    """A PPO learner on an actor-critic MLP (separate 2-layer tanh actor and critic, 2 actions)."""

    def __init__(self, obs_dim: int, hidden: int) -> None:
        import paddle

        import fastparl as parl

        nn = paddle.nn

        class ActorCritic(parl.Model):
            def __init__(self) -> None:
                super().__init__()
                self.pi = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                        nn.Linear(hidden, 2))
                self.v = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                       nn.Linear(hidden, 1))

            def policy(self, obs: Any) -> Any:
                return self.pi(obs)

            def value(self, obs: Any) -> Any:
                return self.v(obs)

        self.alg = parl.algorithms.PPO(ActorCritic(), initial_lr=3e-4, norm_adv=False)

    def epochs(self, obs: Any, act: Any, val: Any, ret: Any, logp: Any, adv: Any, steps: int) -> float:
        """``steps`` PPO steps on this batch; returns the seconds they took."""
        t = time.perf_counter()
        for _ in range(steps):
            self.alg.learn(obs, act, val, ret, logp, adv)
        return time.perf_counter() - t

    def allreduce_ms(self, reps: int) -> dict[str, tuple[float, float]]:
        """(median, best) ms of a gloo all-reduce of one float and of a buffer the size of the model's gradients."""
        import paddle

        n = sum(int(p.size) for p in self.alg.model.parameters()) + len(self.alg.model.parameters())
        out = {}
        for label, size in (("1 float", 1), (f"gradients ({n} floats)", n)):
            buf = paddle.zeros([size])
            paddle.distributed.all_reduce(buf)
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                paddle.distributed.all_reduce(buf)
                ts.append(time.perf_counter() - t)
            out[label] = (float(np.median(ts)) * 1e3, float(np.min(ts)) * 1e3)
        return out

    def get_weights(self) -> dict[str, Any]:
        return self.alg.get_weights()

    def set_weights(self, weights: dict[str, Any]) -> None:
        self.alg.set_weights(weights)


Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _batch(obs_dim: int, n: int) -> Batch:
    rng = np.random.default_rng(0)
    f = np.float32
    return (rng.normal(size=(n, obs_dim)).astype(f), rng.integers(0, 2, n), rng.normal(size=n).astype(f),
            rng.normal(size=n).astype(f), rng.normal(-0.7, 0.1, n).astype(f), rng.normal(size=n).astype(f))


def bench_size(obs_dim: int, hidden: int, batch_size: int, ks: list[int], steps: int, rounds: int
               ) -> tuple[dict[str, list[float]], dict[str, tuple[float, float]]]:
    """Samples/s of each system in each round (interleaved), and gloo all-reduce latencies (ms) for the largest k."""
    batch = _batch(obs_dim, batch_size)
    local = Replica(obs_dim, hidden)
    groups = {k: LearnerGroup(lambda: Replica(obs_dim, hidden), k, use_gpu=False) for k in ks}
    systems: dict[str, Any] = {"in-process (driver)": lambda: local.epochs(*batch, steps=steps)}
    for k, group in groups.items():
        group.set_weights(local.alg.get_weights())
        systems[f"LearnerGroup k={k}" + (" (gloo)" if k > 1 else " (no all-reduce)")] = (
            lambda g=group: g.run("epochs", *batch, steps=steps))
    rates: dict[str, list[float]] = {name: [] for name in systems}
    try:
        for fn in systems.values():  # warm-up
            fn()
        for _ in range(rounds):
            for name, fn in systems.items():
                t = time.perf_counter()
                fn()
                rates[name].append(batch_size * steps / (time.perf_counter() - t))
        multi = [k for k in ks if k > 1]
        latency = groups[max(multi)].call("allreduce_ms", [(50,)] * max(multi), [1.0] * max(multi))[0] if multi else {}
    finally:
        for group in groups.values():
            group.close()
    return rates, latency


class Config:
    def __init__(self, a: Any):
        self.ks = [int(k) for k in a.learners.split(",")]
        self.steps, self.rounds = (5, 2) if a.quick else (a.steps, a.rounds)


def _section(key: str) -> Callable[[Config], dict]:
    _, obs_dim, hidden, batch_size = SIZES[key]

    def run(cfg: Config) -> dict:
        rates, latency = bench_size(obs_dim, hidden, batch_size, cfg.ks, cfg.steps, cfg.rounds)
        if not all(math.isfinite(x) for r in rates.values() for x in r):
            raise RuntimeError(f"a samples/s rate is not finite: {rates}")
        return {"rates": rates, "allreduce_ms": latency}
    return run


def render(R: dict) -> str:
    import paddle

    m, c = R["machine"], R["config"]
    lines = ["# Learner throughput: PPO steps, in-process vs data-parallel learners (CPU)", "",
             f"{m['cpu']}, {m['usable_cores']} cores, python {m['python']}, paddlepaddle {paddle.__version__}, "
             f"{m['date']}; load average {m['loadavg_start'][0]:.1f} at the start, {m['loadavg_end'][0]:.1f} at the end "
             "(other processes share the cores).", "",
             f"`python -m perf.learners{' --quick' if R['quick'] else ''}`: PPO.learn on a random batch, {c['steps']} "
             f"steps a call, median of {c['rounds']} interleaved rounds; samples/s = samples a step x steps / call time "
             "(driver side).  k learners split each step's batch k ways and all-reduce the gradients (gloo).", ""]
    for key, (label, *_) in SIZES.items():
        sec = R.get(key)
        if not sec:
            continue
        if "error" in sec:
            lines += [f"## {label}", "", f"**failed:** `{sec['error']}`", ""]
            continue
        rates, latency = sec["rates"], sec["allreduce_ms"]
        base = median(next(iter(rates.values())))
        lines += [f"## {label}", ""]
        lines += md_table(["learner", "samples/s (median)", "× in-process", "best round"],
                          [[name, f"{median(r):,.0f}", f"{median(r) / base:.2f}", f"{max(r):,.0f}"]
                           for name, r in rates.items()])
        if latency:
            lines += ["", "gloo all-reduce inside the learners, ms (median / best of 50): "
                      + ", ".join(f"{k} {med:.2f} / {best:.2f}" for k, (med, best) in latency.items())]
        lines.append("")
    gpus = visible_gpu_count()
    lines += ["Reading: a synchronous all-reduce waits, at every step, until every rank has been scheduled; with "
              "more runnable processes than cores (the load average above), that wait, not the bytes, sets the "
              "pace, which the gap between the median and best all-reduce shows.  Data-parallel learners pay "
              "off when a step costs much more than an all-reduce: larger models and batches, or GPUs.", "",
              "## GPUs", "",
              (f"{gpus} GPU(s) visible, but this report measures CPU learners only (`use_gpu=False`)." if gpus else
               "No GPU on this machine: k = 1 on a GPU and k > 1 with NCCL were **not measured**."),
              "k > 1 GPU learners need k GPUs on one host (NCCL, one device per rank: `n_gpu=1` each), or a "
              "backend that places learners on several hosts and supplies their rendezvous address "
              "(`fastparl.learners.rendezvous.plan` is the piece that moves behind it).", ""]
    return "\n".join(lines)


def _add_args(p: Any) -> None:
    p.add_argument("--learners", default="1,2", help="comma-separated k to measure")
    p.add_argument("--steps", type=int, default=20, help="gradient steps per call (PPO epochs)")
    p.add_argument("--rounds", type=int, default=5, help="rounds; the systems take turns in each")


def main(argv: list[str] | None = None) -> dict:
    cfgs: list[Config] = []

    def make_config(a: Any) -> Config:
        cfgs.append(Config(a))
        return cfgs[0]

    def setup(cfg: Config) -> Callable[[], None]:
        fastparl.connect()
        return fastparl.disconnect

    def finish(R: dict, out_dir: str) -> None:
        R["config"] = {"learners": cfgs[0].ks, "steps": cfgs[0].steps, "rounds": cfgs[0].rounds}

    R = run_report("learners", [(k, _section(k)) for k in SIZES], render, make_config, argv, add_args=_add_args,
                   setup=setup, finish=finish, description=(__doc__ or "").split("\n")[0])
    if any("error" in R.get(k, {}) for k in SIZES):
        sys.exit(1)
    return R

