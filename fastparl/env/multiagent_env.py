"""PARL's ``parl.env.multiagent_env.MAenv`` on ``mpe2`` (the maintained multi-agent particle environments).

PARL built ``MAenv`` on PettingZoo 1.17's MPE (``simple_spread_v2`` ...) with the old 4-value API;
here the same scenarios and settings come from ``mpe2`` (``simple_spread_v3`` ...), and the wrapper
turns its parallel API back into PARL's: lists in agent order, ``reset() -> obs_n`` and
``step(act_n) -> (obs_n, reward_n, done_n, info_n)`` with ``done = terminated or truncated``.
Needs ``pip install 'fastparl[mpe]'``.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

__all__ = ["MAenv", "mpe_wrapper_for_pettingzoo"]

# scenario -> (mpe2 module, parallel_env kwargs besides max_cycles/continuous_actions), as PARL sets them
_SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "simple": ("simple_v3", {}),
    "simple_adversary": ("simple_adversary_v3", {"N": 2}),
    "simple_crypto": ("simple_crypto_v3", {}),
    "simple_push": ("simple_push_v3", {}),
    "simple_speaker_listener": ("simple_speaker_listener_v4", {}),
    "simple_spread": ("simple_spread_v3", {"N": 3, "local_ratio": 0}),
    "simple_tag": ("simple_tag_v3", {"num_good": 1, "num_adversaries": 3, "num_obstacles": 2}),
    "simple_world_comm": ("simple_world_comm_v3", {"num_good": 2, "num_adversaries": 4, "num_obstacles": 1,
                                                   "num_food": 2, "num_forests": 2}),
}


def MAenv(scenario_name: str, continuous_actions: bool = False) -> mpe_wrapper_for_pettingzoo:  # noqa: N802 - PARL's name
    """Make an MPE scenario with PARL's settings (25 steps per episode), as PARL's ``MAenv``.

    Args:
        scenario_name: one of ``simple``, ``simple_adversary``, ``simple_crypto``, ``simple_push``,
            ``simple_speaker_listener``, ``simple_spread``, ``simple_tag``, ``simple_world_comm``.
        continuous_actions: Box actions in [-1, 1] (mapped to the env's bounds) instead of one-hot-like
            vectors whose argmax is the discrete action.

    Raises:
        ValueError: unknown scenario.
        ImportError: mpe2 is not installed.
    """
    if scenario_name not in _SCENARIOS:
        raise ValueError(f"Env {scenario_name!r} not found (valid envs include {sorted(_SCENARIOS)})")
    module_name, kwargs = _SCENARIOS[scenario_name]
    try:
        module = importlib.import_module(f"mpe2.{module_name}")
    except ImportError as exc:
        raise ImportError("MAenv needs the multi-agent particle environments: pip install 'fastparl[mpe]' "
                          "(or pip install mpe2)") from exc
    env = module.parallel_env(max_cycles=25, continuous_actions=continuous_actions, **kwargs)
    return mpe_wrapper_for_pettingzoo(env, continuous_actions)


class mpe_wrapper_for_pettingzoo:  # noqa: N801 - PARL's name
    """A PettingZoo parallel env with PARL's list-based multi-agent API.

    Attributes:
        observation_space, action_space: lists of the agents' spaces, in agent order.
        n: number of agents.
        agents_name: the agents' names.
        obs_shape_n, act_shape_n: per agent, the size of a 1-D Box (or its shape), or ``n`` of a Discrete.
    """

    def __init__(self, env: Any, continuous_actions: bool = False) -> None:
        self.env = env
        self.continuous_actions = continuous_actions
        self.agents_name = list(env.possible_agents)
        self.observation_space = [env.observation_space(a) for a in self.agents_name]
        self.action_space = [env.action_space(a) for a in self.agents_name]
        self.n = len(self.agents_name)
        self.obs_shape_n = [self.get_shape(s) for s in self.observation_space]
        self.act_shape_n = [self.get_shape(s) for s in self.action_space]

    def get_shape(self, input_space: spaces.Space[Any]) -> Any:
        """Size of a 1-D Box (its shape if not 1-D), or ``n`` of a Discrete.

        Raises:
            NotImplementedError: for other spaces.
        """
        if isinstance(input_space, spaces.Box):
            return input_space.shape[0] if len(input_space.shape) == 1 else input_space.shape
        if isinstance(input_space, spaces.Discrete):
            return int(input_space.n)
        raise NotImplementedError(f"space {input_space} is neither Box nor Discrete")

    def reset(self, seed: int | None = None) -> list[Any]:
        """Reset every agent; returns the list of observations (``seed`` seeds the scenario)."""
        obs, _infos = self.env.reset(seed=seed)
        return [obs[a] for a in self.agents_name]

    def step(self, actions: Sequence[Any]) -> tuple[list[Any], list[Any], list[bool], list[Any]]:
        """Step with one action per agent (see :func:`MAenv`); returns lists in agent order.

        Raises:
            ValueError: a continuous action outside [-1, 1].
        """
        actions_dict: dict[str, Any] = {}
        for i, act in enumerate(actions):
            agent = self.agents_name[i]
            if self.continuous_actions:
                act = np.asarray(act)
                if np.any(act > 1.0 + 1e-3) or np.any(act < -1.0 - 1e-3):
                    raise ValueError(f"the action should be in range [-1.0, 1.0], but got {act}")
                space = self.action_space[i]
                high, low = space.high, space.low
                mapped = np.clip(low + (act + 1.0) * ((high - low) / 2.0), low, high)
                actions_dict[agent] = mapped.astype(space.dtype)  # the env warns about any other dtype
            else:
                actions_dict[agent] = int(np.argmax(act))
        obs, reward, terminated, truncated, info = self.env.step(actions_dict)
        names = self.agents_name
        return ([obs[a] for a in names], [reward[a] for a in names],
                [bool(terminated[a] or truncated[a]) for a in names], [info[a] for a in names])

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or "env" not in vars(self):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(vars(self)["env"], name)
