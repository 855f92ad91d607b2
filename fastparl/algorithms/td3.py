"""Twin Delayed DDPG (Fujimoto et al., 2018), as ``parl.algorithms.TD3``."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from fastparl.algorithms.common import ACTOR_CRITIC_METHODS, SoftTargetMixin, check_actor_critic_args, frozen
from fastparl.core import Algorithm, Model, check_model_method, import_paddle

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["TD3"]


class TD3(SoftTargetMixin, Algorithm):
    """TD3: clipped double-Q learning, target policy smoothing and delayed policy updates.

    Critic: ``a' = clip(mu_target(s') + clip(N(0, policy_noise), -noise_clip, noise_clip), -1, 1)``,
    ``y = r + (1 - terminal) * gamma * min(Q1_target, Q2_target)(s', a')``, MSE of both critics.
    Every ``policy_freq``-th :meth:`learn` also maximises ``Q1(s, mu(s))`` and soft-updates the
    target network (``target = (1 - tau) * target + tau * model``), as PARL.

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> action`` in ``[-1, 1]``,
            ``value(obs, action) -> (Q1, Q2)`` each ``(N, 1)``, ``Q1(obs, action) -> Q1``,
            ``get_actor_params()`` and ``get_critic_params()``, as PARL's TD3 ``MujocoModel``.
        gamma: discount factor in ``[0, 1]`` (required).
        tau: soft-update rate of the target network in ``[0, 1]`` (required), e.g. 0.005.
        actor_lr: Adam learning rate of the actor (required).
        critic_lr: Adam learning rate of the critics (required).
        policy_noise: std of the Gaussian noise added to the target action (>= 0).
        noise_clip: the noise is clipped to ``[-noise_clip, noise_clip]`` (>= 0).
        policy_freq: one actor update (and target sync) every ``policy_freq`` critic updates (int >= 1).

    Attributes:
        model, target_model: the online and target networks.
        actor_optimizer, critic_optimizer: Adam over the actor's and the critics' parameters.
        total_it: number of :meth:`learn` calls so far.
        actor_loss: the loss of the last actor update (``None`` before the first).

    Raises:
        ModelMethodError: if the model lacks one of the methods above.
        TypeError: if a hyper-parameter is missing or of the wrong type.
        ValueError: if a hyper-parameter is out of range.
    """

    def __init__(
        self,
        model: Model,
        gamma: float | None = None,
        tau: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
        policy_noise: float = 0.2,
        noise_clip: float = 0.5,
        policy_freq: int = 2,
    ) -> None:
        name = type(self).__name__
        for method in (*ACTOR_CRITIC_METHODS, "Q1"):
            check_model_method(model, method, name)
        example = f"{name}(model, gamma=0.99, tau=0.005, actor_lr=3e-4, critic_lr=3e-4)"
        args = check_actor_critic_args(
            name, example, gamma=gamma, tau=tau, actor_lr=actor_lr, critic_lr=critic_lr,
            policy_noise=policy_noise, noise_clip=noise_clip,
        )
        for key in ("policy_noise", "noise_clip"):
            if args[key] < 0.0:
                raise ValueError(f"{name}: {key} must be >= 0, got {args[key]}")
        if isinstance(policy_freq, bool) or not isinstance(policy_freq, (int, np.integer)) or policy_freq < 1:
            raise ValueError(f"{name}: policy_freq must be an int >= 1 (actor updates per critic updates), "
                             f"got {policy_freq!r}; e.g. policy_freq=2")
        self.gamma, self.tau = args["gamma"], args["tau"]
        self.actor_lr, self.critic_lr = args["actor_lr"], args["critic_lr"]
        self.policy_noise, self.noise_clip = args["policy_noise"], args["noise_clip"]
        self.policy_freq = int(policy_freq)
        self.total_it = 0
        self.actor_loss: Any = None
        super().__init__(model)
        self.target_model = copy.deepcopy(model)
        self.actor_optimizer = paddle.optimizer.Adam(learning_rate=self.actor_lr, parameters=model.get_actor_params())
        self.critic_optimizer = paddle.optimizer.Adam(
            learning_rate=self.critic_lr, parameters=model.get_critic_params()
        )

    def predict(self, obs: Any) -> Any:
        """Return the deterministic action ``model.policy(obs)``.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
        """
        return self.model.policy(obs)

    def learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> Any:
        """One critic step; every ``policy_freq``-th call also an actor step and a target sync.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
            action: float32 tensor ``(N, act_dim)`` in ``[-1, 1]``.
            reward: float32 tensor ``(N, 1)``.
            next_obs: float32 tensor ``(N, obs_dim)``.
            terminal: tensor ``(N, 1)``, 1 where the episode terminated (not truncated).

        Returns:
            The critic loss, a paddle scalar tensor (as PARL; the actor loss of the last actor
            update is kept in :attr:`actor_loss`).
        """
        self.total_it += 1
        critic_loss = self._critic_learn(obs, action, reward, next_obs, terminal)
        if self.total_it % self.policy_freq == 0:
            self.actor_loss = self._actor_learn(obs)
        return critic_loss

    def _critic_learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> Any:
        with paddle.no_grad():
            noise = paddle.clip(paddle.randn(action.shape) * self.policy_noise, -self.noise_clip, self.noise_clip)
            next_action = paddle.clip(self.target_model.policy(next_obs) + noise, -1.0, 1.0)
            target_q1, target_q2 = self.target_model.value(next_obs, next_action)
            terminal = paddle.cast(terminal, dtype="float32")
            target_q = reward + (1.0 - terminal) * self.gamma * paddle.minimum(target_q1, target_q2)
        current_q1, current_q2 = self.model.value(obs, action)
        critic_loss = F.mse_loss(current_q1, target_q) + F.mse_loss(current_q2, target_q)
        self.critic_optimizer.clear_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        return critic_loss

    def _actor_learn(self, obs: Any) -> Any:
        with frozen(self.model.get_critic_params(), keep=self.model.get_actor_params()):
            actor_loss = -self.model.Q1(obs, self.model.policy(obs)).mean()
            self.actor_optimizer.clear_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        self.sync_target()
        return actor_loss
