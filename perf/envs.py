"""Vector-env throughput: fastparl's remote vector env against gymnasium's, in one run.

    python -m perf.envs [--env CartPole-v1] [--envs-per-actor 64] [--actors 2] [--steps 400]

The target (DESIGN §5): CartPole-v1 with 2 actors x 64 envs >= 1.8x gymnasium's SyncVectorEnv(64).
Random actions; steps/s counts environment steps (batch steps x envs).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gymnasium as gym
import numpy as np

import fastparl
from fastparl.env import make_vector_env


def _actions(env, steps: int, n_envs: int, discrete: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    space = env.single_action_space
    return (rng.integers(0, space.n, (steps, n_envs)) if discrete
            else rng.uniform(-1, 1, (steps, n_envs, *space.shape)).astype(np.float32))


def _interleaved_rates(systems: dict[str, tuple], steps: int, rounds: int) -> dict[str, float]:
    """Median env steps/s of each system over ``rounds`` rounds of ``steps`` batch steps, the systems
    taking turns within each round, so that drift in the machine's speed hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in systems}
    for env, acts in systems.values():
        env.reset(seed=0)
        for i in range(min(20, steps)):
            env.step(acts[i])
    for _ in range(rounds):
        for name, (env, acts) in systems.items():
            t = time.perf_counter()
            for i in range(steps):
                env.step(acts[i])
            samples[name].append(steps * acts.shape[1] / (time.perf_counter() - t))
    return {name: float(np.median(v)) for name, v in samples.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--envs-per-actor", type=int, default=64)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--steps", type=int, default=50, help="batch steps per system per round")
    p.add_argument("--rounds", type=int, default=15, help="rounds; the systems take turns in each")
    p.add_argument("--async-envs", type=int, default=8, help="gymnasium AsyncVectorEnv size (0: skip)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "envs.md"))
    a = p.parse_args()
    probe = gym.make(a.env)
    discrete = isinstance(probe.action_space, gym.spaces.Discrete)
    n = a.envs_per_actor
    make = lambda: gym.make(a.env)  # noqa: E731
    fastparl.connect()
    envs = {f"gymnasium SyncVectorEnv({n})": gym.vector.SyncVectorEnv([make] * n)}
    if a.async_envs:
        envs[f"gymnasium AsyncVectorEnv({a.async_envs})"] = gym.vector.AsyncVectorEnv([make] * a.async_envs)
    envs[f"fastparl LocalVectorEnv({n}), in-process"] = make_vector_env(a.env, n, num_actors=0)
    for actors in sorted({1, a.actors}):
        envs[f"fastparl RemoteVectorEnv({actors} actors x {n})"] = make_vector_env(a.env, n * actors, num_actors=actors,
                                                                                  copy=False)
    try:
        systems = {name: (env, _actions(env, a.steps, env.num_envs, discrete)) for name, env in envs.items()}
        rates = _interleaved_rates(systems, a.steps, a.rounds)
    finally:
        for env in envs.values():
            env.close()
        fastparl.disconnect()
    base = next(iter(rates.values()))
    rows = list(rates.items())
    lines = [f"# Vector env throughput: {a.env}", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"python {platform.python_version()}, gymnasium {gym.__version__}, {time.strftime('%Y-%m-%d')}", "",
             f"Median of {a.rounds} interleaved rounds of {a.steps} batch steps each, random actions.", "",
             "| vector env | env steps/s | × SyncVectorEnv |", "|---|---:|---:|"]
    lines += [f"| {name} | {rate:,.0f} | {rate / base:.2f} |" for name, rate in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
