"""Checks of environment spaces, and an adapter for old gym-style environments."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["check_spaces", "action_dtype", "GymAdapter"]


def check_spaces(env: Any) -> None:
    """Raise a clear error unless ``env`` has a Box observation space and a Discrete or Box action space."""
    if not isinstance(env, gym.Env):
        hint = (" It looks like an old gym environment: wrap it with fastparl.env.GymAdapter(env)."
                if hasattr(env, "step") and hasattr(env, "reset") else "")
        raise TypeError(f"expected a gymnasium.Env, got {type(env).__name__}.{hint}")
    obs, act = env.observation_space, env.action_space
    if not isinstance(obs, gym.spaces.Box):
        raise ValueError(f"fastparl's vector envs need a Box observation space, got {obs}; flatten it, e.g. "
                         "gymnasium.wrappers.FlattenObservation(env) (Dict/Tuple/Discrete observations)")
    if not isinstance(act, (gym.spaces.Discrete, gym.spaces.Box)):
        raise ValueError(f"fastparl's vector envs need a Discrete or Box action space, got {act}")


def action_dtype(space: gym.Space) -> np.dtype:
    return np.dtype(np.int64) if isinstance(space, gym.spaces.Discrete) else np.dtype(space.dtype or np.float32)


def _convert_space(space: Any) -> gym.Space:
    if isinstance(space, gym.Space):
        return space
    name = type(space).__name__
    if name == "Discrete":
        return gym.spaces.Discrete(int(space.n))
    if name == "Box":
        return gym.spaces.Box(low=np.asarray(space.low), high=np.asarray(space.high), dtype=space.dtype)
    raise ValueError(f"cannot convert old gym space {space!r} (only Box and Discrete are supported)")


class GymAdapter(gym.Env):
    """Run an old gym-style environment (``reset() -> obs``, ``step() -> (obs, r, done, info)``) as a
    gymnasium one.  ``done`` becomes ``terminated``, unless ``info["TimeLimit.truncated"]`` says the
    episode was cut by a time limit, which becomes ``truncated``.
    """

    def __init__(self, env: Any):
        self.env = env
        self.observation_space = _convert_space(env.observation_space)
        self.action_space = _convert_space(env.action_space)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None and hasattr(self.env, "seed"):
            self.env.seed(seed)
        out = self.env.reset()
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
            return out
        return out, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        out = self.env.step(action)
        if len(out) == 5:
            return out
        obs, reward, done, info = out
        truncated = bool(info.get("TimeLimit.truncated", False)) if isinstance(info, dict) else False
        return obs, float(reward), bool(done) and not truncated, truncated, info

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        if hasattr(self.env, "close"):
            self.env.close()
