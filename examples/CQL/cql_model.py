"""Model and agent of the CQL example: PARL's ``examples/CQL`` ``MujocoModel`` and ``MujocoAgent``."""

from __future__ import annotations

import numpy as np

import fastparl as parl
from fastparl.core import NumpyMLP, import_paddle

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["Actor", "Critic", "MujocoAgent", "MujocoModel"]

LOG_SIG_MAX = 2.0
LOG_SIG_MIN = -5.0


class MujocoModel(parl.Model):
    """Gaussian actor and twin critics, three hidden layers each (PARL's CQL model), with SAC's methods.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        hidden: hidden layer width (PARL: 256).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.actor_model = Actor(obs_dim, act_dim, hidden)
        self.critic_model = Critic(obs_dim, act_dim, hidden)

    def policy(self, obs: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        return self.actor_model(obs)

    def value(self, obs: paddle.Tensor, action: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        return self.critic_model(obs, action)

    def get_actor_params(self) -> list[paddle.Tensor]:
        return self.actor_model.parameters()

    def get_critic_params(self) -> list[paddle.Tensor]:
        return self.critic_model.parameters()


class Actor(parl.Model):
    """``(mean, log_std)`` of a Gaussian over the pre-tanh action; ``log_std`` clipped to [-5, 2]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.l1 = nn.Linear(obs_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, hidden)
        self.mean_linear = nn.Linear(hidden, act_dim)
        self.std_linear = nn.Linear(hidden, act_dim)

    def forward(self, obs: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        x = F.relu(self.l3(F.relu(self.l2(F.relu(self.l1(obs))))))
        return self.mean_linear(x), paddle.clip(self.std_linear(x), min=LOG_SIG_MIN, max=LOG_SIG_MAX)


class Critic(parl.Model):
    """Two independent Q networks on ``concat(obs, action)``, three hidden layers each."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.q1 = nn.Sequential(nn.Linear(obs_dim + act_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.q2 = nn.Sequential(nn.Linear(obs_dim + act_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, obs: paddle.Tensor, action: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        x = paddle.concat([obs, action], 1)
        return self.q1(x), self.q2(x)


class MujocoAgent(parl.Agent):
    """PARL's CQL ``MujocoAgent``: ``predict`` is ``tanh(mean)`` (in numpy on views of the actor's weights).

    Args:
        algorithm: ``parl.algorithms.CQL`` over a :class:`MujocoModel`.
    """

    def __init__(self, algorithm: parl.Algorithm) -> None:
        super().__init__(algorithm)
        self.alg.sync_target(decay=0)
        actor = algorithm.model.actor_model
        self._mean = NumpyMLP([actor.l1, actor.l2, actor.l3, actor.mean_linear], activation="relu", output="tanh")

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action ``(act_dim,)`` in ``[-1, 1]`` for one observation (or ``(N, act_dim)`` for N)."""
        return self._mean(obs)

    def learn(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
              terminal: np.ndarray) -> tuple[float, float, float, float]:
        """One ``alg.learn`` on a numpy batch; returns ``(critic_loss, mse, actor_loss, min_q)`` as floats."""
        t = lambda x: paddle.to_tensor(x, dtype="float32")  # noqa: E731
        out = self.alg.learn(t(obs), t(action), t(reward.reshape(-1, 1)), t(next_obs), t(terminal.reshape(-1, 1)))
        values = paddle.stack([x.reshape([]) for x in out]).numpy()  # one device sync for the four scalars
        return float(values[0]), float(values[1]), float(values[2]), float(values[3])
