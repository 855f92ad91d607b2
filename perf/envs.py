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


def _rate(env, steps: int, n_envs: int, discrete: bool, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    space = env.single_action_space
    acts = (rng.integers(0, space.n, (steps, n_envs)) if discrete
            else rng.uniform(-1, 1, (steps, n_envs, *space.shape)).astype(np.float32))
    env.reset(seed=0)
    for i in range(min(20, steps)):
        env.step(acts[i])
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(steps):
            env.step(acts[i])
        best = max(best, steps * n_envs / (time.perf_counter() - t))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--envs-per-actor", type=int, default=64)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--async-envs", type=int, default=8, help="gymnasium AsyncVectorEnv size (0: skip)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "envs.md"))
    a = p.parse_args()
    probe = gym.make(a.env)
    discrete = isinstance(probe.action_space, gym.spaces.Discrete)
    n = a.envs_per_actor
    make = lambda: gym.make(a.env)  # noqa: E731
    rows = []
    sync = gym.vector.SyncVectorEnv([make] * n)
    base = _rate(sync, a.steps, n, discrete)
    sync.close()
    rows.append((f"gymnasium SyncVectorEnv({n})", base))
    if a.async_envs:
        asy = gym.vector.AsyncVectorEnv([make] * a.async_envs)
        rows.append((f"gymnasium AsyncVectorEnv({a.async_envs})", _rate(asy, max(50, a.steps // 4), a.async_envs, discrete)))
        asy.close()
    local = make_vector_env(a.env, n, num_actors=0)
    rows.append((f"fastparl VectorEnv({n}), in-process", _rate(local, a.steps, n, discrete)))
    local.close()
    fastparl.connect()
    for actors in sorted({1, a.actors}):
        env = make_vector_env(a.env, n * actors, num_actors=actors, copy=False)
        rows.append((f"fastparl RemoteVectorEnv({actors} actors x {n})", _rate(env, a.steps, n * actors, discrete)))
        env.close()
    fastparl.disconnect()
    lines = [f"# Vector env throughput: {a.env}", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"python {platform.python_version()}, gymnasium {gym.__version__}, {time.strftime('%Y-%m-%d')}", "",
             "| vector env | env steps/s | × SyncVectorEnv |", "|---|---:|---:|"]
    lines += [f"| {name} | {rate:,.0f} | {rate / base:.2f} |" for name, rate in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
