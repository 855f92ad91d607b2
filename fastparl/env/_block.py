"""The stepping core of fastparl's vector envs: a block of gymnasium envs writing into batch buffers.

Used in-process by :class:`~fastparl.env.LocalVectorEnv` and inside the actors of
:class:`~fastparl.env.RemoteVectorEnv` (where the buffers are shared arrays).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from fastparl.env.spaces import action_dtype, check_spaces

__all__ = ["EnvFn", "Block", "buffers"]

EnvFn = Callable[[], gym.Env]


def buffers(n: int, obs_space: Any, act_space: gym.Space, alloc: Callable[..., np.ndarray]
             ) -> dict[str, np.ndarray]:
    act_shape: tuple[int, ...] = () if isinstance(act_space, gym.spaces.Discrete) else tuple(act_space.shape or ())
    return {
        "obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "final_obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "rewards": alloc((n,), np.float32),
        "terminations": alloc((n,), np.bool_),
        "truncations": alloc((n,), np.bool_),
        "ended": alloc((n,), np.bool_),
        "ep_return": alloc((n,), np.float64),
        "ep_length": alloc((n,), np.int64),
        "done_return": alloc((n,), np.float64),
        "done_length": alloc((n,), np.int64),
        "actions": alloc((n, *act_shape), action_dtype(act_space)),
    }


def _fast_step(env: gym.Env) -> tuple[Callable[[Any], tuple], int]:
    """(step function, time limit) for the hot loop.

    ``gymnasium.make`` wraps an env in ``TimeLimit(OrderEnforcing(env))`` (plus the env checker,
    which fastparl turns off): two Python calls per step that cost ~10% of a CartPole step.  For
    exactly that stack, step the inner env directly and count the time limit here (0: no limit);
    any other wrapper stack is stepped as it is.
    """
    from gymnasium.wrappers import OrderEnforcing, TimeLimit

    if type(env) is TimeLimit and type(env.env) is OrderEnforcing and env.env.env is env.unwrapped:
        return env.unwrapped.step, int(env._max_episode_steps or 0)
    return env.step, 0


class Block:
    """Steps a contiguous block ``[lo, hi)`` of environments, writing into the batch buffers."""

    def __init__(self, env_fns: Sequence[EnvFn], bufs: dict[str, np.ndarray], lo: int):
        self.envs = [fn() for fn in env_fns]
        for env in self.envs:
            check_spaces(env)
        self.steppers = [_fast_step(env) for env in self.envs]
        self.elapsed = [0] * len(self.envs)
        self.lo, self.hi = lo, lo + len(self.envs)
        # Plain ndarray views (of shared memory, in an actor): SharedArray's Python hooks cost ~6% here.
        self.b = {k: v[lo:self.hi].view(np.ndarray) for k, v in bufs.items()}

    def reset(self, seed: int | None = None) -> None:
        b = self.b
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + self.lo + i)
            b["obs"][i] = obs
        self.elapsed = [0] * len(self.envs)
        b["ep_return"][:] = 0
        b["ep_length"][:] = 0
        b["ended"][:] = False

    def step(self) -> int:
        """Step every env once with the actions in the shared buffer; returns how many episodes ended."""
        b = self.b
        act = list(b["actions"])  # NumPy scalars: gymnasium's Discrete.contains checks them faster than ints
        elapsed = self.elapsed
        observations, rewards, terms, truncs, ended = [], [], [], [], []
        for i, (step, limit) in enumerate(self.steppers):  # the hot loop: Python lists, one bulk write per field
            obs, r, term, trunc, _ = step(act[i])
            if limit:
                elapsed[i] += 1
                if elapsed[i] >= limit:
                    trunc = True
            if term or trunc:
                ended.append(i)
                b["final_obs"][i] = obs
                obs, _ = self.envs[i].reset()
                elapsed[i] = 0
            observations.append(obs)
            rewards.append(r)
            terms.append(term)
            truncs.append(trunc)
        b["obs"][:] = observations
        b["rewards"][:] = rewards
        b["terminations"][:] = terms
        b["truncations"][:] = truncs
        ep_ret, ep_len = b["ep_return"], b["ep_length"]
        ep_ret += b["rewards"]
        ep_len += 1
        flags = b["ended"]
        flags[:] = False
        if ended:
            flags[ended] = True
            b["done_return"][ended] = ep_ret[ended]
            b["done_length"][ended] = ep_len[ended]
            ep_ret[ended] = 0.0
            ep_len[ended] = 0
        return len(ended)

    def close(self) -> None:
        for env in self.envs:
            env.close()
