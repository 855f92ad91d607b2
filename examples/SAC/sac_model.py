"""Model and agent of the SAC example: PARL's ``examples/SAC`` ``MujocoModel`` and ``MujocoAgent``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np

import fastparl as parl
from fastparl.algorithms.common import tanh_gaussian_sample
from fastparl.core import NumpyMLP, import_paddle

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _offpolicy import OffPolicyAgent  # noqa: E402

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["Actor", "Critic", "MujocoAgent", "MujocoModel"]

LOG_SIG_MAX = 2.0
LOG_SIG_MIN = -20.0


class MujocoModel(parl.Model):
    """Gaussian actor and twin critics, with the methods ``parl.algorithms.SAC`` calls.

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
    """``(mean, log_std)`` of a Gaussian over the pre-tanh action; ``log_std`` clipped to [-20, 2]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.l1 = nn.Linear(obs_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mean_linear = nn.Linear(hidden, act_dim)
        self.std_linear = nn.Linear(hidden, act_dim)

    def forward(self, obs: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        x = F.relu(self.l2(F.relu(self.l1(obs))))
        return self.mean_linear(x), paddle.clip(self.std_linear(x), min=LOG_SIG_MIN, max=LOG_SIG_MAX)


class Critic(parl.Model):
    """Two independent Q networks on ``concat(obs, action)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.l1 = nn.Linear(obs_dim + act_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)
        self.l4 = nn.Linear(obs_dim + act_dim, hidden)
        self.l5 = nn.Linear(hidden, hidden)
        self.l6 = nn.Linear(hidden, 1)

    def forward(self, obs: paddle.Tensor, action: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        sa = paddle.concat([obs, action], 1)
        q1 = self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))
        q2 = self.l6(F.relu(self.l5(F.relu(self.l4(sa)))))
        return q1, q2


class MujocoAgent(OffPolicyAgent):
    """PARL's SAC ``MujocoAgent``: ``predict`` is ``tanh(mean)``, ``sample`` draws ``tanh(N(mean, std))``.

    Both run in numpy on zero-copy views of the actor's weights.

    Args:
        algorithm: ``parl.algorithms.SAC`` over a :class:`MujocoModel`.
        act_dim: action size.
    """

    def __init__(self, algorithm: parl.Algorithm, act_dim: int) -> None:
        super().__init__(algorithm, act_dim)
        actor = algorithm.model.actor_model
        self._trunk = NumpyMLP([actor.l1, actor.l2], activation="relu")
        self._mean = NumpyMLP([actor.mean_linear])
        self._log_std = NumpyMLP([actor.std_linear])
        self._policy = lambda obs: np.tanh(self._mean(np.maximum(self._trunk(obs), 0.0)))

    def sample(self, obs: np.ndarray) -> np.ndarray:
        """``tanh(mean + std * N(0, 1))`` for one observation, float32 ``(act_dim,)``."""
        h = np.maximum(self._trunk(obs), 0.0)
        log_std = np.clip(self._log_std(h), LOG_SIG_MIN, LOG_SIG_MAX)
        x = self._mean(h) + np.exp(log_std) * np.random.standard_normal(self.act_dim)
        return np.tanh(x).astype(np.float32)

    def acting_policy(self) -> Callable[..., np.ndarray] | None:
        """:meth:`sample` in numpy for actor processes; None for a subclass that samples otherwise (OAC's
        optimistic exploration reads the critics)."""
        if type(self).sample is not MujocoAgent.sample:
            return None
        from _offpolicy_actor import TanhGaussianPolicy

        return TanhGaussianPolicy(("l1", "l2"), "mean_linear", "std_linear", (LOG_SIG_MIN, LOG_SIG_MAX))

    def learn_noise(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """SAC's two draws of ``eps ~ N(0, 1)`` per row: for ``a' ~ pi(s')`` (critic target), then ``a ~ pi(s)``."""
        shape = (batch_size, self.act_dim)
        return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)

    def learn_with_noise(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
                         terminal: np.ndarray, *noise: np.ndarray) -> float:
        """:meth:`learn` with SAC's draws given (:meth:`learn_noise`) instead of drawn by paddle.

        ``SAC.learn`` samples the policy twice, at ``next_obs`` (critic step) then at ``obs`` (actor step):
        this agent's ``alg.sample`` takes the two arrays in that order, for this call only.

        Raises:
            RuntimeError: if ``alg.learn`` did not sample exactly twice (the draws would be misplaced).
        """
        if len(noise) != 2:
            raise TypeError(f"{type(self).__name__}.learn_with_noise takes 2 noise arrays (learn_noise()), "
                            f"got {len(noise)}")
        alg, draws = self.alg, [paddle.to_tensor(n, dtype="float32") for n in noise]

        def sample(obs_t: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
            if not draws:
                raise RuntimeError(f"{type(alg).__name__}.learn sampled the policy more than twice: learn_with_noise "
                                   f"feeds SAC's two draws (next_obs, then obs)")
            mean, log_std = alg.model.policy(obs_t)
            return tanh_gaussian_sample(mean, log_std, stable=alg.stable_log_prob, noise=draws.pop(0))

        alg.sample = sample  # shadows SAC.sample on this instance, for this call
        try:
            loss = self.learn(obs, action, reward, next_obs, terminal)
        finally:
            del alg.sample
        if draws:
            raise RuntimeError(f"{type(alg).__name__}.learn sampled the policy {2 - len(draws)} time(s), not 2: "
                               f"learn_with_noise feeds SAC's two draws (next_obs, then obs)")
        return loss
