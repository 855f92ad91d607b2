"""The sampling side of the off-policy examples' ``--actors n`` path, in numpy only (no paddle).

A :class:`Collector` owns one gymnasium env and, on ``collect(weights, steps, random_steps)``, steps it
``steps`` times with a numpy copy of the agent's exploration policy (given once by ``set_policy``) and
returns the transitions (``obs, action, reward, next_obs, terminal``, as the replay memory stores them)
and the episodes that ended.  Its env runs on across calls: an episode may span several chunks.  ``RemoteCollector`` is the
same class under ``@parl.remote_class(wait=False)``, one process each; the driver keeps one ``collect``
in flight per actor (``examples/_offpolicy_parallel.py``).

The policies are copies of the agents' ``sample`` in numpy, over the actor network's weights as
``actor_model.get_weights()`` names them (paddle's ``Linear`` stores ``W`` as ``(in, out)``):

* :class:`GaussianNoisePolicy` (DDPG, TD3): ``clip(tanh(MLP_relu(obs)) + N(0, expl_noise), -1, 1)``;
* :class:`TanhGaussianPolicy` (SAC): ``h = MLP_relu(obs)``, ``tanh(mean(h) + exp(clip(log_std(h))) * N(0, 1))``.

Each also has ``greedy(weights, obs)``, the agent's ``predict``: the parallel loop evaluates with it, so none
of its acting goes through paddle or reads paddle's parameters in place (the weights travel as numpy copies).

Actions are in ``[-1, 1]``; the collector maps them to the env's bounds (PARL's ``ActionMappingWrapper``),
as the serial loop does.  ``terminal`` is gymnasium's ``terminated`` (time-limit truncations bootstrap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import fastparl as parl

__all__ = ["Collector", "GaussianNoisePolicy", "RemoteCollector", "TanhGaussianPolicy"]

Weights = Mapping[str, np.ndarray]


def _relu_mlp(w: Weights, layers: Sequence[str], x: np.ndarray) -> np.ndarray:
    """``relu`` after every layer of ``layers`` (names of ``Linear`` layers in ``w``)."""
    for name in layers:
        x = np.maximum(x @ w[f"{name}.weight"] + w[f"{name}.bias"], 0.0)
    return x


def _linear(w: Weights, name: str, x: np.ndarray) -> np.ndarray:
    return x @ w[f"{name}.weight"] + w[f"{name}.bias"]


class GaussianNoisePolicy:
    """DDPG's and TD3's exploration: ``clip(tanh(last(relu(... relu(first(obs))))) + N(0, expl_noise), -1, 1)``.

    Args:
        layers: the actor's ``Linear`` layers in order (e.g. ``("l1", "l2", "l3")``); relu between, tanh after
            the last.
        expl_noise: std of the Gaussian noise, relative to the ``[-1, 1]`` action range.
    """

    def __init__(self, layers: Sequence[str], expl_noise: float) -> None:
        self.layers, self.expl_noise = tuple(layers), float(expl_noise)

    def __call__(self, w: Weights, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action ``(act_dim,)`` float32 for one observation."""
        a = self.greedy(w, obs)
        return np.clip(a + rng.normal(0.0, self.expl_noise, size=a.shape), -1.0, 1.0).astype(np.float32)

    def greedy(self, w: Weights, obs: np.ndarray) -> np.ndarray:
        """The deterministic action (the agent's ``predict``): ``tanh(MLP_relu(obs))``, float32."""
        h = _relu_mlp(w, self.layers[:-1], np.asarray(obs, np.float32))
        return np.tanh(_linear(w, self.layers[-1], h)).astype(np.float32)


class TanhGaussianPolicy:
    """SAC's exploration: ``tanh(mean + std * N(0, 1))``, ``log std`` clipped to ``log_std_range``.

    Args:
        trunk: the shared hidden ``Linear`` layers (relu after each), e.g. ``("l1", "l2")``.
        mean: the layer of the pre-tanh mean, e.g. ``"mean_linear"``.
        log_std: the layer of the log std, e.g. ``"std_linear"``.
        log_std_range: ``(min, max)`` of the log std (PARL: ``(-20, 2)``).
    """

    def __init__(self, trunk: Sequence[str], mean: str, log_std: str, log_std_range: tuple[float, float]) -> None:
        self.trunk, self.mean, self.log_std = tuple(trunk), mean, log_std
        self.log_std_range = (float(log_std_range[0]), float(log_std_range[1]))

    def __call__(self, w: Weights, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action ``(act_dim,)`` float32 for one observation."""
        h = _relu_mlp(w, self.trunk, np.asarray(obs, np.float32))
        mean = _linear(w, self.mean, h)
        log_std = np.clip(_linear(w, self.log_std, h), *self.log_std_range)
        return np.tanh(mean + np.exp(log_std) * rng.standard_normal(mean.shape)).astype(np.float32)

    def greedy(self, w: Weights, obs: np.ndarray) -> np.ndarray:
        """The deterministic action (the agent's ``predict``): ``tanh(mean)``, float32."""
        h = _relu_mlp(w, self.trunk, np.asarray(obs, np.float32))
        return np.tanh(_linear(w, self.mean, h)).astype(np.float32)


class Collector:
    """Steps one env with a numpy policy and returns its transitions, chunk by chunk.

    Args:
        env_id: gymnasium id with a Box action space.
        seed: seeds the env (its first reset) and the generator of actions and noise.
    """

    def __init__(self, env_id: str, seed: int) -> None:
        self.env = gym.make(env_id)
        self.policy: Any = None
        self.rng = np.random.default_rng(seed)
        self.env.action_space.seed(seed)
        self.obs, _ = self.env.reset(seed=seed)
        self.low, self.high = self.env.action_space.low, self.env.action_space.high
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self.act_dim = int(self.env.action_space.shape[0])
        self.ep_return, self.ep_len = 0.0, 0

    def set_policy(self, policy: Any) -> None:
        """Act with ``policy``: a :class:`GaussianNoisePolicy`, :class:`TanhGaussianPolicy` (any
        ``policy(weights, obs, rng) -> action``).  A call of its own, not a constructor argument, so that the
        serial loop's in-process collector and the actors' collectors are given their policy the same way."""
        self.policy = policy

    def collect(self, weights: Weights | None, steps: int, random_steps: int = 0) -> dict[str, np.ndarray]:
        """Step the env ``steps`` times: uniform random actions for the first ``random_steps`` (warm-up), then
        the policy with ``weights`` (the agent's ``acting_weights()``, read during this call only).

        Returns:
            ``obs``, ``next_obs`` ``(steps, obs_dim)`` float32, ``action`` ``(steps, act_dim)`` float32 in
            ``[-1, 1]``, ``reward`` ``(steps,)`` float32, ``terminal`` ``(steps,)`` bool, and ``episodes``
            ``(m, 3)`` float64: return, length and the index in this chunk of the last step of each episode
            that ended in it.

        Raises:
            ValueError: if the policy is needed (``random_steps < steps``) and ``weights`` is None.
        """
        if (weights is None or self.policy is None) and random_steps < steps:
            raise ValueError(f"Collector.collect: {steps - random_steps} of {steps} steps act with the policy, so it "
                             f"needs set_policy() first and the agent's acting_weights(); got policy {self.policy!r}, "
                             f"weights {'None' if weights is None else 'given'}")
        obs_buf = np.empty((steps, self.obs_dim), np.float32)
        next_buf = np.empty((steps, self.obs_dim), np.float32)
        act_buf = np.empty((steps, self.act_dim), np.float32)
        rew_buf = np.empty(steps, np.float32)
        term_buf = np.empty(steps, bool)
        episodes: list[tuple[float, float, float]] = []
        low, high = self.low, self.high
        for t in range(steps):
            if t < random_steps:
                action = self.rng.uniform(-1.0, 1.0, size=self.act_dim).astype(np.float32)
            else:
                action = self.policy(weights, self.obs, self.rng)
            next_obs, reward, terminated, truncated, _ = self.env.step(low + (action + 1.0) * 0.5 * (high - low))
            obs_buf[t], act_buf[t], next_buf[t] = self.obs, action, next_obs
            rew_buf[t], term_buf[t] = reward, terminated
            self.obs = next_obs
            self.ep_return += float(reward)
            self.ep_len += 1
            if terminated or truncated:
                episodes.append((self.ep_return, float(self.ep_len), float(t)))
                self.obs, _ = self.env.reset()
                self.ep_return, self.ep_len = 0.0, 0
        return {"obs": obs_buf, "action": act_buf, "reward": rew_buf, "next_obs": next_buf, "terminal": term_buf,
                "episodes": np.array(episodes, np.float64).reshape(-1, 3)}

    def close(self) -> None:
        """Close the env."""
        self.env.close()


@parl.remote_class(wait=False)
class RemoteCollector(Collector):
    """:class:`Collector` in its own process: every method returns a future."""
