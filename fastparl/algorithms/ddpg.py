"""Deep Deterministic Policy Gradient (Lillicrap et al., 2016), as ``parl.algorithms.DDPG``."""

from __future__ import annotations

import copy
from typing import Any

from fastparl.algorithms.common import ACTOR_CRITIC_METHODS, SoftTargetMixin, check_actor_critic_args, frozen
from fastparl.core import Algorithm, Model, check_model_method, import_paddle

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["DDPG"]

class DDPG(SoftTargetMixin, Algorithm):
    """DDPG: a deterministic actor ``mu(s)`` and a critic ``Q(s, a)``, with soft-updated targets.

    Critic: ``y = r + (1 - terminal) * gamma * Q_target(s', mu_target(s'))``, MSE to ``Q(s, a)``.
    Actor: maximise ``Q(s, mu(s))``.  After each :meth:`learn`, ``target_model`` moves towards
    ``model`` with ``target = (1 - tau) * target + tau * model`` (:meth:`sync_target`, PARL's).

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> action`` (in ``[-1, 1]``),
            ``value(obs, action) -> Q`` of shape ``(N, 1)``, ``get_actor_params()`` and
            ``get_critic_params()`` (lists of parameters), as PARL's ``MujocoModel``.
        gamma: discount factor in ``[0, 1]`` (required, as in PARL).
        tau: soft-update rate of the target network in ``[0, 1]`` (required), e.g. 0.005.
        actor_lr: Adam learning rate of the actor (required).
        critic_lr: Adam learning rate of the critic (required).

    Attributes:
        model, target_model: the online and target networks (``target_model`` is a deepcopy).
        actor_optimizer, critic_optimizer: ``paddle.optimizer.Adam`` over the actor's and the
            critic's parameters.

    Raises:
        ModelMethodError: if the model lacks one of the methods above.
        TypeError: if a hyper-parameter is missing or not a number.
        ValueError: if a hyper-parameter is out of range.
    """

    def __init__(
        self,
        model: Model,
        gamma: float | None = None,
        tau: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
    ) -> None:
        name = type(self).__name__
        for method in ACTOR_CRITIC_METHODS:
            check_model_method(model, method, name)
        args = check_actor_critic_args(
            name, f"{name}(model, gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)",
            gamma=gamma, tau=tau, actor_lr=actor_lr, critic_lr=critic_lr,
        )
        self.gamma, self.tau = args["gamma"], args["tau"]
        self.actor_lr, self.critic_lr = args["actor_lr"], args["critic_lr"]
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

    def learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> tuple[Any, Any]:
        """One critic step, one actor step, then a soft target update.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
            action: float32 tensor ``(N, act_dim)``.
            reward: float32 tensor ``(N, 1)``.
            next_obs: float32 tensor ``(N, obs_dim)``.
            terminal: tensor ``(N, 1)``, 1 where the episode terminated (not truncated).

        Returns:
            ``(critic_loss, actor_loss)``, paddle scalar tensors.
        """
        critic_loss = self._critic_learn(obs, action, reward, next_obs, terminal)
        actor_loss = self._actor_learn(obs)
        self.sync_target()
        return critic_loss, actor_loss

    def _critic_learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> Any:
        with paddle.no_grad():
            target_q = self.target_model.value(next_obs, self.target_model.policy(next_obs))
            terminal = paddle.cast(terminal, dtype="float32")
            target_q = reward + (1.0 - terminal) * self.gamma * target_q
        critic_loss = F.mse_loss(self.model.value(obs, action), target_q)
        self.critic_optimizer.clear_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        return critic_loss

    def _actor_learn(self, obs: Any) -> Any:
        with frozen(self.model.get_critic_params(), keep=self.model.get_actor_params()):
            actor_loss = -self.model.value(obs, self.model.policy(obs)).mean()
            self.actor_optimizer.clear_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        return actor_loss
