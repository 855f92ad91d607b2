"""Model and agent of the MADDPG example: PARL's ``examples/MADDPG`` ``MAModel`` and ``MAAgent``."""

from __future__ import annotations

from typing import Any

import numpy as np

import fastparl as parl
from fastparl.core import import_paddle
from fastparl.utils import ReplayMemory

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["ActorModel", "CriticModel", "MAAgent", "MAModel"]


class MAModel(parl.Model):
    """A local actor and a centralised critic, with the methods ``parl.algorithms.MADDPG`` calls.

    Args:
        obs_dim: this agent's observation size.
        act_dim: this agent's action size (number of discrete actions, or Box dimension).
        critic_in_dim: sum of every agent's observation and action sizes.
        continuous_actions: the actor returns ``(mean, logstd)`` (a Box action space).
        hidden: hidden layer width (PARL: 64).
    """

    def __init__(self, obs_dim: int, act_dim: int, critic_in_dim: int, continuous_actions: bool = False,
                 hidden: int = 64) -> None:
        super().__init__()
        self.actor_model = ActorModel(obs_dim, act_dim, continuous_actions, hidden)
        self.critic_model = CriticModel(critic_in_dim, hidden)

    def policy(self, obs: Any) -> Any:
        return self.actor_model(obs)

    def value(self, obs_n: list[Any], act_n: list[Any]) -> Any:
        return self.critic_model(obs_n, act_n)

    def get_actor_params(self) -> list[Any]:
        return self.actor_model.parameters()

    def get_critic_params(self) -> list[Any]:
        return self.critic_model.parameters()


class ActorModel(parl.Model):
    """``fc3(relu(fc2(relu(fc1(obs)))))``: logits, or ``(mean, logstd)`` for a Box space."""

    def __init__(self, obs_dim: int, act_dim: int, continuous_actions: bool = False, hidden: int = 64) -> None:
        super().__init__()
        self.continuous_actions = continuous_actions
        self.fc1 = nn.Linear(obs_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, act_dim)
        if continuous_actions:
            self.std_fc = nn.Linear(hidden, act_dim)

    def forward(self, obs: Any) -> Any:
        hid = F.relu(self.fc2(F.relu(self.fc1(obs))))
        means = self.fc3(hid)
        if self.continuous_actions:
            return means, self.std_fc(hid)
        return means


class CriticModel(parl.Model):
    """``Q(obs_n, act_n)`` on the concatenation of every agent's observation and action, shape ``(N,)``."""

    def __init__(self, critic_in_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.fc1 = nn.Linear(critic_in_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, obs_n: list[Any], act_n: list[Any]) -> Any:
        x = paddle.concat(list(obs_n) + list(act_n), axis=1)
        return paddle.squeeze(self.fc3(F.relu(self.fc2(F.relu(self.fc1(x))))), axis=1)


class MAAgent(parl.Agent):
    """PARL's ``MAAgent``: one replay memory per agent, learning every ``learn_every`` calls.

    Args:
        algorithm: ``parl.algorithms.MADDPG`` for this agent.
        agent_index: index of this agent.
        obs_dim_n: every agent's observation size.
        act_dim_n: every agent's action size.
        batch_size: transitions per gradient step (PARL: 1024).
        memory_size: replay memory capacity (PARL: 1e6).
        learn_every: learn on every this many calls of :meth:`learn` (PARL: 100).
        min_memory_size: no learning until the memory holds more (PARL: ``batch_size * 25``).
        seed: seed of the replay memory's sampler.
    """

    def __init__(self, algorithm: parl.Algorithm, agent_index: int, obs_dim_n: list[int], act_dim_n: list[int],
                 batch_size: int = 1024, memory_size: int = 1_000_000, learn_every: int = 100,
                 min_memory_size: int | None = None, seed: int | None = None) -> None:
        super().__init__(algorithm)
        self.agent_index = agent_index
        self.obs_dim_n, self.act_dim_n = list(obs_dim_n), list(act_dim_n)
        self.n = len(act_dim_n)
        self.batch_size = batch_size
        self.learn_every = learn_every
        self.min_memory_size = batch_size * 25 if min_memory_size is None else min_memory_size
        self.rpm = ReplayMemory(memory_size, obs_dim_n[agent_index], act_dim_n[agent_index], rng=seed)
        self.global_train_step = 0
        self.alg.sync_target(decay=0)  # as PARL: start with target == model

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """A (soft one-hot or ``[-1, 1]``) action for one observation, as PARL (sampled)."""
        obs_t = paddle.to_tensor(np.asarray(obs, dtype=np.float32).reshape(1, -1))
        with paddle.no_grad():
            return self.alg.predict(obs_t).numpy()[0]

    def sample(self, obs: np.ndarray) -> np.ndarray:
        """Same as :meth:`predict` (the policy is stochastic)."""
        return self.predict(obs)

    def add_experience(self, obs: np.ndarray, act: np.ndarray, reward: float, next_obs: np.ndarray,
                       terminal: bool) -> None:
        self.rpm.append(obs, act, reward, next_obs, terminal)

    def learn(self, agents: list[MAAgent]) -> float:
        """Every ``learn_every`` calls: one MADDPG update of this agent on a joint batch; else 0."""
        self.global_train_step += 1
        if self.global_train_step % self.learn_every != 0 or self.rpm.size() <= self.min_memory_size:
            return 0.0
        index = self.rpm.make_index(self.batch_size)
        batches = [a.rpm.sample_batch_by_index(index) for a in agents]
        obs_n = [paddle.to_tensor(b[0], dtype="float32") for b in batches]
        act_n = [paddle.to_tensor(b[1], dtype="float32") for b in batches]
        next_obs_n = [paddle.to_tensor(b[3], dtype="float32") for b in batches]
        reward = paddle.to_tensor(batches[self.agent_index][2], dtype="float32").reshape([-1])
        done = paddle.to_tensor(batches[self.agent_index][4], dtype="float32").reshape([-1])
        with paddle.no_grad():
            next_act_n = [a.alg.predict(o, use_target_model=True) for a, o in zip(agents, next_obs_n)]
            target_q = reward + self.alg.gamma * (1.0 - done) * self.alg.Q(next_obs_n, next_act_n, use_target_model=True)
        return float(self.alg.learn(obs_n, act_n, target_q))
