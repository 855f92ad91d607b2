"""Model and agent of the DDPG example: PARL's ``examples/DDPG`` ``MujocoModel`` and ``MujocoAgent``."""

from __future__ import annotations

import os
import sys

import fastparl as parl
from fastparl.core import import_paddle

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _offpolicy import DeterministicAgent  # noqa: E402

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["Actor", "Critic", "MujocoAgent", "MujocoModel"]


class MujocoModel(parl.Model):
    """Actor and critic, with the methods ``parl.algorithms.DDPG`` calls.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        hidden: hidden layer width (PARL: 256).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.actor_model = Actor(obs_dim, act_dim, hidden)
        self.critic_model = Critic(obs_dim, act_dim, hidden)

    def policy(self, obs: paddle.Tensor) -> paddle.Tensor:
        return self.actor_model(obs)

    def value(self, obs: paddle.Tensor, action: paddle.Tensor) -> paddle.Tensor:
        return self.critic_model(obs, action)

    def get_actor_params(self) -> list[paddle.Tensor]:
        return self.actor_model.parameters()

    def get_critic_params(self) -> list[paddle.Tensor]:
        return self.critic_model.parameters()


class Actor(parl.Model):
    """Deterministic policy ``tanh(MLP(obs))`` in ``[-1, 1]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.l1 = nn.Linear(obs_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, act_dim)

    def forward(self, obs: paddle.Tensor) -> paddle.Tensor:
        return paddle.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(obs))))))


class Critic(parl.Model):
    """``Q(obs, action)`` on ``concat(obs, action)``, shape ``(N, 1)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.l1 = nn.Linear(obs_dim + act_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def forward(self, obs: paddle.Tensor, action: paddle.Tensor) -> paddle.Tensor:
        sa = paddle.concat([obs, action], 1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))


class MujocoAgent(DeterministicAgent):
    """PARL's DDPG ``MujocoAgent``: deterministic actor plus Gaussian exploration noise (``expl_noise``)."""
