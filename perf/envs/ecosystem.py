"""The ``ecosystem`` section of ``perf.envs``: fastparl's vector env against what gymnasium, Stable-Baselines3 and
EnvPool users step their envs with, per env (CartPole-v1, HalfCheetah-v5, an Atari game) and size (8, 64 envs).

Every system steps the same envs with the same driver-side policy (a NumPy MLP on the observations; Atari frames
subsampled 4x per side as perf.rl does), lockstep unless it is built otherwise (fastparl's double-buffered
``RemoteVectorEnv``; EnvPool's async mode).  Beside them, the *ceiling*: ``cores x`` the serial env loop (one env
stepped in this process with random actions, no policy), measured in the same run — no system using this machine's
cores can step envs faster.  Targets (issue 18): fastparl >= 0.9 x the ceiling, and >= 2 x gymnasium's
``AsyncVectorEnv`` and SB3's ``SubprocVecEnv`` for the same number of envs where the ceiling leaves that room
(ceiling / theirs >= 2).  Systems that are not installed are skipped with the reason (SB3 and EnvPool are optional:
``pip install stable-baselines3 envpool``).

EnvPool's ids and observations differ from gymnasium's for Atari (its own preprocessing: 84x84 grey, 4-frame stack,
episodic life off here, noop starts) and it runs its envs in C++ threads; the MuJoCo and classic-control ids match.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from perf.common.harness import log, md_table, median
from perf.rl.workload import features as _features, make_env

ATARI = "ALE/Pong-v5"


def _make_gym(env_id: str) -> Callable[[], gym.Env]:
    return functools.partial(make_env, env_id)  # perf.rl's envs: Atari preprocessed as there


class _Policy:
    """obs -> 64 -> 64 -> actions (argmax for discrete spaces, tanh for boxes), evaluated in the driver."""

    def __init__(self, obs_space: gym.Space, act_space: gym.Space):
        rng = np.random.default_rng(0)
        n_in = _features(np.zeros((1, *obs_space.shape), obs_space.dtype)).shape[1]
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        n_out = int(act_space.n) if self.discrete else int(np.prod(act_space.shape))
        self.shape = tuple(act_space.shape or ())
        self.w = [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32)
                  for i, o in ((n_in, 64), (64, 64), (64, n_out))]

    def __call__(self, obs: Any) -> np.ndarray:
        h = np.tanh(_features(obs) @ self.w[0])
        h = np.tanh(h @ self.w[1]) @ self.w[2]
        return h.argmax(1) if self.discrete else np.tanh(h).reshape(len(h), *self.shape)


# ------------------------------------------------------------------ systems: name -> (make, block)
def _gym_lockstep(env: Any, policy: _Policy, steps: int) -> Callable[[], None]:
    return _lockstep(env, policy, steps, env.reset(seed=0)[0])


def _sb3_lockstep(env: Any, policy: _Policy, steps: int) -> Callable[[], None]:
    return _lockstep(env, policy, steps, env.reset())  # SB3's reset returns the observations only


def _lockstep(env: Any, policy: _Policy, steps: int, obs: Any) -> Callable[[], None]:
    state = {"obs": obs}

    def block() -> None:
        obs = state["obs"]
        for _ in range(steps):
            obs = env.step(policy(obs))[0]
        state["obs"] = obs
    return block


def _double_buffered(env: Any, policy: _Policy, steps: int) -> Callable[[], None]:
    from perf.envs.report import _double_buffered_block  # the policy section's block (report imports this module)

    return _double_buffered_block(env, steps, policy)


def _envpool_async(env: Any, policy: _Policy, steps: int, n: int) -> Callable[[], None]:
    """EnvPool's async mode: batches of n/2 envs, each sent back as soon as the policy has acted on it."""
    env.async_reset()

    def block() -> None:
        for _ in range(2 * steps):
            obs, _, _, _, info = env.recv()
            env.send(policy(obs), info["env_id"])
    return block


def _systems(env_id: str, n: int, cores: int, steps: int, policy: _Policy) -> dict[str, tuple[Callable, Callable]]:
    from fastparl.env import make_vector_env

    make = _make_gym(env_id)
    same = gym.vector.AutoresetMode.SAME_STEP
    k = max(1, min(cores, n))
    out: dict[str, tuple[Callable, Callable]] = {
        f"gymnasium SyncVectorEnv({n})": (lambda: gym.vector.SyncVectorEnv([make] * n, autoreset_mode=same),
                                          _gym_lockstep),
        f"gymnasium AsyncVectorEnv({n})": (lambda: gym.vector.AsyncVectorEnv([make] * n, autoreset_mode=same),
                                           _gym_lockstep),
        f"fastparl RemoteVectorEnv({k} actors x {n // k}), double-buffered, pinned": (
            lambda: make_vector_env(make, n, num_actors=k, copy=False, groups=max(2, k), pin=True), _double_buffered),
        f"fastparl RemoteVectorEnv({k} actors x {n // k}), lockstep": (
            lambda: make_vector_env(make, n, num_actors=k, copy=False), _gym_lockstep),
    }
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

        out[f"SB3 DummyVecEnv({n})"] = (lambda: DummyVecEnv([make] * n), _sb3_lockstep)
        out[f"SB3 SubprocVecEnv({n})"] = (lambda: SubprocVecEnv([make] * n, start_method="fork"), _sb3_lockstep)
    except ImportError:
        pass
    try:
        import envpool

        ep_id = env_id.split("/", 1)[1] if env_id.startswith("ALE/") else env_id
        kw = {"episodic_life": False, "reward_clip": False} if env_id.startswith("ALE/") else {}
        out[f"EnvPool sync({n}, {cores} threads)"] = (
            lambda: envpool.make(ep_id, env_type="gymnasium", num_envs=n, num_threads=cores, seed=0, **kw),
            _gym_lockstep)
        if n >= 2:
            out[f"EnvPool async({n}, batches of {n // 2}, {cores} threads)"] = (
                lambda: envpool.make(ep_id, env_type="gymnasium", num_envs=n, batch_size=n // 2, num_threads=cores,
                                     seed=0, **kw),
                lambda env, pol, s: _envpool_async(env, pol, s, n))
    except ImportError:
        pass
    return out


def _serial_rate(env_id: str, seconds: float) -> float:
    """One env stepped in this process with random actions: the work every system must do, per core."""
    env = _make_gym(env_id)()
    env.reset(seed=0)
    env.action_space.seed(0)
    acts = [env.action_space.sample() for _ in range(512)]
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in acts[:64]:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        steps += 64
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def bench_ecosystem(cfg: Any) -> dict:
    envs = cfg.eco_envs
    sizes = cfg.eco_sizes
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rounds = 1 if cfg.quick else cfg.eco_rounds
    missing = []
    for mod, what in (("stable_baselines3", "SB3 DummyVecEnv / SubprocVecEnv"), ("envpool", "EnvPool")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"{what}: not installed (pip install {mod.replace('_', '-')})")
    results: dict[str, Any] = {"cores": cores, "missing": missing, "cells": []}
    for env_id in envs:
        try:
            serial = _serial_rate(env_id, 0.5 if cfg.quick else 2.0)
        except Exception as e:  # noqa: BLE001 - e.g. ale-py or mujoco missing
            results["cells"].append({"env": env_id, "error": f"{type(e).__name__}: {e}"})
            continue
        probe = _make_gym(env_id)()
        policy = _Policy(probe.observation_space, probe.action_space)
        probe.close()
        steps = max(4, int(cfg.eco_seconds * serial / 8 / max(sizes)))  # a block ~ eco_seconds / 8 per system
        for n in sizes:
            systems = _systems(env_id, n, cores, steps, policy)
            made, blocks, errors = {}, {}, {}
            for name, (mk, blk) in systems.items():
                if cfg.quick and ("AsyncVectorEnv" in name or "Subproc" in name) and n > 8:
                    continue
                try:
                    made[name] = mk()
                    blocks[name] = blk(made[name], policy, steps)
                    blocks[name]()  # warm up
                except Exception as e:  # noqa: BLE001 - one system failing must not lose the others
                    errors[name] = f"{type(e).__name__}: {e}"[:300]
            rates: dict[str, list[float]] = {name: [] for name in blocks}
            try:
                for _ in range(rounds):
                    for name, fn in blocks.items():
                        t = time.perf_counter()
                        fn()
                        rates[name].append(steps * n / (time.perf_counter() - t))
            finally:
                for env in made.values():
                    try:
                        env.close()
                    except Exception:  # noqa: BLE001
                        pass
            cell = {"env": env_id, "num_envs": n, "steps": steps, "serial": serial, "ceiling": cores * serial,
                    "rates": {name: median(r) for name, r in rates.items() if r}, "errors": errors}
            results["cells"].append(cell)
            log(f"ecosystem {env_id} x {n}: " + ", ".join(f"{k.split('(')[0]} {v:,.0f}" for k, v in cell["rates"].items()))
    return results


def render_ecosystem(E: dict) -> list[str]:
    L = ["## Ecosystem: what gymnasium, SB3 and EnvPool users step with (driver-side policy)", ""]
    if "error" in E:
        return L + [f"error: {E['error']}", ""]
    for m in E.get("missing", []):
        L.append(f"- {m}")
    if E.get("missing"):
        L.append("")
    for cell in E.get("cells", []):
        if "error" in cell:
            L += [f"{cell['env']}: {cell['error']}", ""]
            continue
        ceiling = cell["ceiling"]
        L += [f"### {cell['env']}, {cell['num_envs']} envs", "",
              f"Ceiling: {E['cores']} cores × serial env loop {cell['serial']:,.0f} steps/s = **{ceiling:,.0f}**.  "
              f"Blocks of {cell['steps']} batch steps.", ""]
        rates = cell["rates"]
        theirs = {k: v for k, v in rates.items() if k.startswith(("gymnasium AsyncVectorEnv", "SB3 SubprocVecEnv"))}
        rows = []
        for name, v in sorted(rates.items(), key=lambda kv: -kv[1]):
            note = ""
            if name.startswith("fastparl RemoteVectorEnv") and "double-buffered" in name:
                parts = [f"{v / ceiling:.2f} of the ceiling (target 0.9)"]
                for other, r in theirs.items():
                    room = ceiling / r
                    parts.append(f"{v / r:.2f}× {other.split('(')[0].strip()} (target 2×{'' if room >= 2 else f'; ceiling allows only {room:.2f}×'})")
                note = "; ".join(parts)
            rows.append([name, f"{v:,.0f}", f"{v / ceiling:.2f}", note])
        L += md_table(["system", "env steps/s", "÷ ceiling", "targets"], rows)
        for name, err in cell.get("errors", {}).items():
            L.append(f"- {name}: {err}")
        L.append("")
    return L
