"""Sampling actors of the A2C example (PARL's ``examples/A2C/actor.py``), in numpy only.

A :class:`RolloutWorker` owns several envs, receives the learner's weights as a dict of numpy
arrays (``agent.get_weights()``), and returns ``n_steps`` steps of every env with GAE advantages
and value targets computed on the spot, as PARL's ``Actor.sample``.  It never imports paddle:
the forward pass of the two small MLPs is a few numpy matmuls for all its envs at once.
``Actor`` is the same class decorated with ``@parl.remote_class(wait=False)``: one process each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import fastparl as parl
from fastparl.env import make_vector_env
from fastparl.kernels import gae
from fastparl.utils.numpy_mlp import mlp_forward

__all__ = ["RolloutWorker", "Actor", "mlp_forward"]


class RolloutWorker:
    """Samples ``n_steps`` steps of ``num_envs`` envs with the latest weights.

    Args:
        env_id: gymnasium id (discrete actions, vector observations).
        num_envs: envs owned by this worker (stepped together, one forward pass per step).
        n_steps: steps per env per :meth:`sample`.
        gamma: discount.
        gae_lambda: GAE lambda (PARL's A2C: 1.0, i.e. n-step returns).
        seed: seed of the envs (env i gets ``seed + i``) and of the action sampling.
    """

    def __init__(self, env_id: str, num_envs: int, n_steps: int, gamma: float, gae_lambda: float, seed: int) -> None:
        self.envs = RecordEpisodeStatistics(make_vector_env(env_id, num_envs))  # same-step autoreset, episode stats
        self.obs, _ = self.envs.reset(seed=seed)
        self.n_steps, self.gamma, self.gae_lambda = n_steps, gamma, gae_lambda
        self.rng = np.random.default_rng(seed)
        self.weights: dict[str, np.ndarray] | None = None
        n, t = num_envs, n_steps
        self.buf = {"obs": np.zeros((t, n, *self.obs.shape[1:]), np.float32), "actions": np.zeros((t, n), np.int64),
                    "rewards": np.zeros((t, n), np.float32), "values": np.zeros((t, n), np.float32),
                    "terminated": np.zeros((t, n), bool), "truncated": np.zeros((t, n), bool),
                    "bootstrap": np.zeros((t, n), np.float32)}
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []

    def set_weights(self, weights: dict[str, Any]) -> None:
        """Use ``weights`` (the learner's ``get_weights()``) from now on.

        They are copied: arrays received from the learner are read-only views.
        """
        self.weights = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}

    def _value(self, obs: np.ndarray) -> np.ndarray:
        assert self.weights is not None
        return mlp_forward(self.weights, "c", obs)[:, 0]

    def sample(self) -> dict[str, np.ndarray]:
        """Run ``n_steps`` steps of every env; return the flattened batch.

        Returns:
            ``obs`` ``(n_steps * num_envs, obs_dim)`` float32, ``actions`` int64, ``advantages`` and
            ``target_values`` float32 (``(n_steps * num_envs,)`` each), time-major.

        Raises:
            RuntimeError: if :meth:`set_weights` was never called.
        """
        if self.weights is None:
            raise RuntimeError("RolloutWorker.sample() before set_weights(): send agent.get_weights() first")
        b, w = self.buf, self.weights
        b["bootstrap"][:] = 0.0
        for t in range(self.n_steps):
            obs = self.obs
            logits = mlp_forward(w, "a", obs)
            values = mlp_forward(w, "c", obs)[:, 0]
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = z.cumsum(axis=1)
            u = self.rng.random((len(obs), 1)) * cdf[:, -1:]
            actions = np.minimum((cdf < u).sum(axis=1), logits.shape[1] - 1)
            self.obs, reward, term, trunc, info = self.envs.step(actions)
            b["obs"][t], b["actions"][t], b["rewards"][t], b["values"][t] = obs, actions, reward, values
            b["terminated"][t], b["truncated"][t] = term, trunc
            if trunc.any():  # time limit: bootstrap from V(final obs)
                b["bootstrap"][t, trunc] = self._value(np.stack(info["final_obs"][trunc]))
            if "episode" in info:
                done = info["_episode"]
                self.episode_returns.extend(info["episode"]["r"][done].tolist())
                self.episode_lengths.extend(info["episode"]["l"][done].tolist())
        adv, ret = gae(b["rewards"], b["values"], b["terminated"], self._value(self.obs), self.gamma,
                       self.gae_lambda, truncated=b["truncated"], bootstrap_values=b["bootstrap"])
        n = self.n_steps * self.obs.shape[0]
        return {"obs": b["obs"].reshape(n, -1).copy(), "actions": b["actions"].reshape(n).copy(),
                "advantages": np.ascontiguousarray(adv, np.float32).reshape(n),
                "target_values": np.ascontiguousarray(ret, np.float32).reshape(n)}

    def get_metrics(self) -> dict[str, list[float]]:
        """Returns and lengths of the episodes finished since the last call (PARL's ``get_metrics``)."""
        metrics = {"episode_rewards": self.episode_returns, "episode_steps": self.episode_lengths}
        self.episode_returns, self.episode_lengths = [], []
        return metrics

    def close(self) -> None:
        """Close the envs."""
        self.envs.close()


@parl.remote_class(wait=False)
class Actor(RolloutWorker):
    """:class:`RolloutWorker` in its own process: every method returns a future (``.get()``)."""
