"""Sampling actors of the IMPALA example (PARL's ``examples/IMPALA/actor.py``), in numpy only.

An :class:`ImpalaWorker` owns several envs and, on ``sample(weights)``, runs ``sample_batch_steps``
steps of each with those weights (a dict of numpy arrays, received through ``parl.put`` as
read-only shared views), sampling actions from the policy's softmax.  It returns PARL's batch:
``obs``, ``actions``, ``behaviour_logits``, ``rewards``, ``dones``, env-major (env 0's steps, then
env 1's ...), which is what ``IMPALA.learn`` splits into ``[T, B]``.  It never imports paddle.
``Actor`` is the same class under ``@parl.remote_class(wait=False)``: the learner keeps one
``sample`` future in flight per actor and learns from whichever finishes first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import fastparl as parl
from fastparl.env import make_vector_env
from fastparl.utils.numpy_mlp import mlp_forward

__all__ = ["ImpalaWorker", "Actor", "mlp_forward"]


class ImpalaWorker:
    """Samples ``sample_batch_steps`` steps of ``num_envs`` envs per call.

    Args:
        env_id: gymnasium id (discrete actions, vector observations).
        num_envs: envs owned by this worker (one batched forward pass per step).
        sample_batch_steps: steps per env per :meth:`sample` (``IMPALA``'s ``sample_batch_steps``).
        seed: seed of the envs (env i gets ``seed + i``) and of the action sampling.
    """

    def __init__(self, env_id: str, num_envs: int, sample_batch_steps: int, seed: int) -> None:
        self.envs = RecordEpisodeStatistics(make_vector_env(env_id, num_envs))  # same-step autoreset, episode stats
        self.obs, _ = self.envs.reset(seed=seed)
        self.T, self.n = sample_batch_steps, num_envs
        self.rng = np.random.default_rng(seed)
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []

    def sample(self, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``sample_batch_steps`` steps of every env with ``weights`` (the learner's ``get_weights()``).

        Returns:
            ``obs`` ``(n * T, obs_dim)`` float32, ``actions`` int64, ``behaviour_logits`` ``(n * T, act_dim)``
            float32, ``rewards`` float32, ``dones`` bool (terminated or truncated), env-major.
        """
        T, n = self.T, self.n
        obs_buf = np.empty((T, n, *self.obs.shape[1:]), np.float32)
        act_buf, rew_buf, done_buf = np.empty((T, n), np.int64), np.empty((T, n), np.float32), np.empty((T, n), bool)
        logit_buf: np.ndarray | None = None
        for t in range(T):
            obs = self.obs
            logits = mlp_forward(weights, "a", obs.astype(np.float32))
            if logit_buf is None:
                logit_buf = np.empty((T, n, logits.shape[1]), np.float32)
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = z.cumsum(axis=1)
            u = self.rng.random((n, 1)) * cdf[:, -1:]
            actions = np.minimum((cdf < u).sum(axis=1), logits.shape[1] - 1)
            self.obs, reward, term, trunc, info = self.envs.step(actions)
            obs_buf[t], act_buf[t], rew_buf[t], done_buf[t], logit_buf[t] = obs, actions, reward, term | trunc, logits
            if "episode" in info:
                done = info["_episode"]
                self.episode_returns.extend(info["episode"]["r"][done].tolist())
                self.episode_lengths.extend(info["episode"]["l"][done].tolist())
        assert logit_buf is not None

        def env_major(x: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(x.swapaxes(0, 1)).reshape(n * T, *x.shape[2:])

        return {"obs": env_major(obs_buf), "actions": env_major(act_buf), "behaviour_logits": env_major(logit_buf),
                "rewards": env_major(rew_buf), "dones": env_major(done_buf)}

    def get_metrics(self) -> dict[str, list[float]]:
        """Returns and lengths of the episodes finished since the last call (PARL's ``get_metrics``)."""
        metrics = {"episode_rewards": self.episode_returns, "episode_steps": self.episode_lengths}
        self.episode_returns, self.episode_lengths = [], []
        return metrics

    def close(self) -> None:
        """Close the envs."""
        self.envs.close()


@parl.remote_class(wait=False)
class Actor(ImpalaWorker):
    """:class:`ImpalaWorker` in its own process: every method returns a future (``.get()``)."""
