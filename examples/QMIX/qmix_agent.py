"""Agent and episode replay buffer of the QMIX example (PARL's ``qmix_agent.py`` and ``replay_buffer.py``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import fastparl as parl
from fastparl.core import import_paddle

paddle = import_paddle()

__all__ = ["EpisodeReplayBuffer", "QMixAgent"]

FIELDS = ("state", "actions", "reward", "terminated", "obs", "available_actions", "filled")


class EpisodeReplayBuffer:
    """Whole episodes of ``episode_len`` steps in preallocated numpy arrays (PARL keeps a deque of lists).

    Args:
        max_episodes: capacity; the oldest episode is overwritten first.
        episode_len: steps per stored episode (the episode limit + 1: the last step holds the final state).
        n_agents, state_dim, obs_dim, n_actions: the shapes of one step.
        seed: seed of the sampling generator.
    """

    def __init__(self, max_episodes: int, episode_len: int, n_agents: int, state_dim: int, obs_dim: int,
                 n_actions: int, seed: int = 0) -> None:
        shapes = {"state": ((state_dim,), np.float32), "actions": ((n_agents,), np.int64), "reward": ((1,), np.float32),
                  "terminated": ((1,), np.float32), "obs": ((n_agents, obs_dim), np.float32),
                  "available_actions": ((n_agents, n_actions), np.int64), "filled": ((1,), np.float32)}
        self.data = {k: np.zeros((max_episodes, episode_len, *s), d) for k, (s, d) in shapes.items()}
        self.max_episodes, self._next, self.count = max_episodes, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, episode: dict[str, np.ndarray]) -> None:
        """Store one episode: a dict with every field of :data:`FIELDS`, each ``(episode_len, ...)``."""
        for k in FIELDS:
            self.data[k][self._next] = episode[k]
        self._next = (self._next + 1) % self.max_episodes
        self.count = min(self.count + 1, self.max_episodes)

    def sample_batch(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """``batch_size`` distinct episodes (all of them if fewer), as the tuple PARL's agent ``learn`` takes."""
        idx = self.rng.choice(self.count, size=min(batch_size, self.count), replace=False)
        return tuple(self.data[k][idx] for k in FIELDS)


class QMixAgent(parl.Agent):
    """PARL's ``QMixAgent``: epsilon-greedy over available actions, a target sync every ``update_target_interval`` learns.

    Unlike PARL's, every step runs the agents' network (so the GRU state follows the whole
    episode even on exploratory steps) and each agent explores on its own coin, as pymarl.

    Args:
        algorithm: a :class:`fastparl.algorithms.QMIX`.
        exploration_start: initial epsilon.
        min_exploration: final epsilon.
        exploration_decay: subtracted from epsilon at every :meth:`sample`.
        update_target_interval: learn calls between target syncs.
        seed: seed of the exploration generator.
    """

    def __init__(self, algorithm: parl.Algorithm, exploration_start: float, min_exploration: float,
                 exploration_decay: float, update_target_interval: int, seed: int = 0) -> None:
        super().__init__(algorithm)
        self.global_step = 0
        self.exploration = exploration_start
        self.min_exploration = min_exploration
        self.exploration_decay = exploration_decay
        self.target_update_count = 0
        self.update_target_interval = update_target_interval
        self.rng = np.random.default_rng(seed)

    def reset_agent(self, batch_size: int = 1) -> None:
        """Start new episodes: reset the agents' recurrent state."""
        self.alg._init_hidden_states(batch_size)

    def predict(self, obs: np.ndarray, available_actions: np.ndarray) -> np.ndarray:
        """Greedy available actions ``(n_agents,)`` int64 for ``obs (n_agents, obs_dim)``; advances the GRU state."""
        with paddle.no_grad():
            q, self.alg.hidden_states = self.alg.predict_local_q(paddle.to_tensor(obs, dtype="float32"),
                                                                 self.alg.hidden_states)
        q = q.numpy()
        q[available_actions == 0] = -np.inf
        return q.argmax(axis=-1)

    def sample(self, obs: np.ndarray, available_actions: np.ndarray) -> np.ndarray:
        """Epsilon-greedy actions ``(n_agents,)``: each agent explores (uniformly over its available actions) w.p. epsilon."""
        actions = self.predict(obs, available_actions)
        explore = self.rng.random(len(actions)) < self.exploration
        for i in np.flatnonzero(explore):
            actions[i] = self.rng.choice(np.flatnonzero(available_actions[i]))
        self.exploration = max(self.min_exploration, self.exploration - self.exploration_decay)
        return actions

    def learn(self, state_batch: np.ndarray, actions_batch: np.ndarray, reward_batch: np.ndarray,
              terminated_batch: np.ndarray, obs_batch: np.ndarray, available_actions_batch: np.ndarray,
              filled_batch: np.ndarray) -> tuple[float, float]:
        """Numpy episodes -> tensors -> ``alg.learn``; returns ``(loss, mean_td_error)``."""
        if self.global_step % self.update_target_interval == 0:
            self.alg.sync_target()
            self.target_update_count += 1
        self.global_step += 1
        t = paddle.to_tensor
        return self.alg.learn(t(state_batch, dtype="float32"), t(actions_batch, dtype="int64"),
                              t(reward_batch, dtype="float32"), t(terminated_batch, dtype="float32"),
                              t(obs_batch, dtype="float32"), t(available_actions_batch, dtype="int64"),
                              t(filled_batch, dtype="float32"))

    def save(self, save_dir: str, agent_model_name: str = "agent_model.pdparams",  # type: ignore[override]
             qmixer_model_name: str = "qmixer_model.pdparams", model: Any = None) -> None:
        """Save both networks into ``save_dir`` (PARL's signature)."""
        os.makedirs(save_dir, exist_ok=True)
        paddle.save(self.alg.agent_model.state_dict(), os.path.join(save_dir, agent_model_name))
        paddle.save(self.alg.qmixer_model.state_dict(), os.path.join(save_dir, qmixer_model_name))

    def restore(self, save_dir: str, agent_model_name: str = "agent_model.pdparams",  # type: ignore[override]
                qmixer_model_name: str = "qmixer_model.pdparams", model: Any = None) -> None:
        """Load both networks saved by :meth:`save`."""
        self.alg.agent_model.set_state_dict(paddle.load(os.path.join(save_dir, agent_model_name)))
        self.alg.qmixer_model.set_state_dict(paddle.load(os.path.join(save_dir, qmixer_model_name)))
