"""Offline datasets for the CQL example, in a ``parl.utils.ReplayMemory``.

D4RL (PARL's datasets) needs mujoco-py and a download, and Minari downloads its datasets too, so
the example makes its own, as D4RL's "medium" sets were made: train SAC for a while (the SAC
example's ``train``), then record episodes of its *stochastic* policy.  For quick runs and tests,
``scripted_dataset`` records a noisy hand-written controller instead (Pendulum-v1: energy pumping,
then a PD controller near the top; InvertedPendulum-v5: a linear state feedback).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from fastparl.utils import ReplayMemory

__all__ = ["CONTROLLERS", "inverted_pendulum_controller", "pendulum_controller", "record", "sac_dataset",
           "scripted_dataset"]

EXAMPLES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(env_id: str, policy: Callable[[np.ndarray], np.ndarray], steps: int, seed: int) -> tuple[ReplayMemory, float]:
    """Run ``policy`` (obs -> action in ``[-1, 1]``) for ``steps`` env steps into a ReplayMemory.

    Returns:
        ``(memory, mean return of the finished episodes)``; ``terminal`` is gymnasium's ``terminated``.
    """
    env = gym.make(env_id)
    low, high = env.action_space.low, env.action_space.high
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])
    rpm = ReplayMemory(steps, obs_dim, act_dim, rng=seed)
    obs, _ = env.reset(seed=seed)
    returns, ret = [], 0.0
    for _ in range(steps):
        action = np.clip(policy(obs), -1.0, 1.0).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(low + (action + 1.0) * 0.5 * (high - low))
        rpm.append(obs, action, reward, next_obs, terminated)
        ret += float(reward)
        obs = next_obs
        if terminated or truncated:
            returns.append(ret)
            ret = 0.0
            obs, _ = env.reset()
    return rpm, float(np.mean(returns)) if returns else float("nan")


def sac_dataset(env_id: str, sac_steps: int, steps: int, seed: int, workdir: str, hidden: int = 128,
                warmup_steps: int = 1000) -> tuple[ReplayMemory, float]:
    """Train the SAC example for ``sac_steps`` env steps, then record ``steps`` steps of its sampled policy.

    Returns:
        ``(memory, mean return of the recorded episodes)``.
    """
    spec = importlib.util.spec_from_file_location("fastparl_example_SAC", os.path.join(EXAMPLES, "SAC", "train.py"))
    assert spec is not None and spec.loader is not None
    sac = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = sac  # dataclasses look their module up while the module runs
    spec.loader.exec_module(sac)
    args = sac.Args(env=env_id, seed=seed, total_steps=sac_steps, warmup_steps=warmup_steps, hidden=hidden,
                    batch_size=128, eval_every=max(sac_steps, 1), logdir=os.path.join(workdir, "sac"),
                    tensorboard=False)
    sac.train(args)
    env = gym.make(env_id)
    agent = sac.make_agent(int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0]), args)
    agent.restore(os.path.join(workdir, "sac", "model.ckpt"))
    return record(env_id, agent.sample, steps, seed + 1)


def pendulum_controller(noise: float, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A Pendulum-v1 policy scoring about -130 (noise 0) to -150 (noise 1): swing up by energy, hold by PD.

    With ``theta`` from upright, ``theta'' = 15 sin(theta) + 3 u``: the energy ``0.5 w^2 + 15 (cos theta - 1)``
    grows with torque along the velocity until the top, where ``u = -(10 theta + 2 w)`` holds it.
    ``noise`` is the std of Gaussian noise on the torque (in ``[-2, 2]`` units).
    """
    rng = np.random.default_rng(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        c, s, w = (float(x) for x in obs)
        if c > 0.85:
            u = -(10.0 * np.arctan2(s, c) + 2.0 * w)
        else:
            energy = 0.5 * w * w + 15.0 * (c - 1.0)
            u = 2.0 * np.sign(-w * energy) if abs(w) > 1e-3 else 2.0
        return np.array([np.clip(u + noise * rng.standard_normal(), -2.0, 2.0) / 2.0], np.float32)

    return policy


def inverted_pendulum_controller(noise: float, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """An InvertedPendulum-v5 policy: ``u = x + 10 theta + x' + theta'`` plus Gaussian noise of std ``noise``.

    Noise-free it balances for the whole 1000 steps; with ``noise=1`` episodes end after about 140 steps.
    """
    rng = np.random.default_rng(seed)
    gains = np.array([1.0, 10.0, 1.0, 1.0])

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.array([np.clip(gains @ obs + noise * rng.standard_normal(), -3.0, 3.0) / 3.0], np.float32)

    return policy


CONTROLLERS = {"Pendulum-v1": pendulum_controller, "InvertedPendulum-v5": inverted_pendulum_controller}


def scripted_dataset(env_id: str, steps: int, seed: int, noise: float = 1.0) -> tuple[ReplayMemory, float]:
    """``steps`` steps of the noisy controller of ``env_id`` (see :data:`CONTROLLERS`); ``(memory, mean return)``."""
    if env_id not in CONTROLLERS:
        raise ValueError(f"no scripted controller for {env_id!r}; choose one of {sorted(CONTROLLERS)} or --dataset sac")
    return record(env_id, CONTROLLERS[env_id](noise, seed), steps, seed)
