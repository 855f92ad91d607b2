"""Soft Actor-Critic (Haarnoja et al., 2018), as ``parl.algorithms.SAC``.

Same constructor, methods, losses and random draws as PARL 2.x's paddle ``SAC``: with the same
seed and batches it computes PARL's numbers (the log-probability is PARL's formula, op for op).
Differences: arguments are checked with real exceptions, and two keyword-only extensions,
``alpha_lr`` (learn the temperature, SAC v2) and ``stable_log_prob`` (an exact tanh correction
instead of PARL's ``log(1 - tanh(x)^2 + 1e-6)``), both off by default.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from fastparl.algorithms.common import (
    ACTOR_CRITIC_METHODS,
    SoftTargetMixin,
    check_actor_critic_args,
    check_bool,
    frozen,
    tanh_gaussian_sample,
)
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["SAC"]


class SAC(SoftTargetMixin, Algorithm):
    """SAC with a tanh-squashed Gaussian policy, twin critics and (optionally) a learned temperature.

    Critic: ``a' ~ pi(s')``, ``y = r + gamma * (1 - terminal) * (min(Q1, Q2)_target(s', a') -
    alpha * log pi(a'|s'))``, MSE of both critics.  Actor: minimise
    ``alpha * log pi(a|s) - min(Q1, Q2)(s, a)`` with ``a ~ pi(s)`` reparameterised.  After each
    :meth:`learn`, ``target = (1 - tau) * target + tau * model``.

    PARL's SAC keeps ``alpha`` fixed.  Passing ``alpha_lr`` (a fastparl extension) also learns
    ``log alpha`` by minimising ``-log_alpha * (log pi + target_entropy)`` (SAC v2), starting
    from the given ``alpha``; :attr:`alpha` then holds the current value.

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> (mean, log_std)`` each ``(N, act_dim)``,
            ``value(obs, action) -> (Q1, Q2)`` each ``(N, 1)``, ``get_actor_params()`` and
            ``get_critic_params()``, as PARL's SAC ``MujocoModel``.
        gamma: discount factor in ``[0, 1]`` (required).
        tau: soft-update rate of the target network in ``[0, 1]`` (required), e.g. 0.005.
        alpha: entropy temperature (required, >= 0), e.g. 0.2.
        actor_lr: Adam learning rate of the actor (required).
        critic_lr: Adam learning rate of the critics (required).
        alpha_lr: if given, learn ``alpha`` with Adam at this rate (keyword only).
        target_entropy: entropy target for the learned ``alpha``; default ``-act_dim``.
        stable_log_prob: compute ``log(1 - tanh(x)^2)`` exactly (keyword only) instead of PARL's
            ``log(1 - tanh(x)^2 + 1e-6)``, which saturates for ``|x|`` beyond about 7; off by default
            so that runs match PARL's.

    Attributes:
        model, target_model: the online and target networks.
        alpha: the current temperature (a float).
        log_alpha, alpha_optimizer: the learned ``log alpha`` and its optimizer, or ``None``.

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
        alpha: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
        *,
        alpha_lr: float | None = None,
        target_entropy: float | None = None,
        stable_log_prob: bool = False,
    ) -> None:
        name = type(self).__name__
        for method in ACTOR_CRITIC_METHODS:
            check_model_method(model, method, name)
        example = f"{name}(model, gamma=0.99, tau=0.005, alpha=0.2, actor_lr=3e-4, critic_lr=3e-4)"
        args = check_actor_critic_args(
            name, example, gamma=gamma, tau=tau, alpha=alpha, actor_lr=actor_lr, critic_lr=critic_lr
        )
        if args["alpha"] < 0.0:
            raise ValueError(f"{name}: alpha must be >= 0, got {args['alpha']}; e.g. {example}")
        self.gamma, self.tau, self.alpha = args["gamma"], args["tau"], args["alpha"]
        self.actor_lr, self.critic_lr = args["actor_lr"], args["critic_lr"]
        self.stable_log_prob = check_bool(stable_log_prob, "stable_log_prob", name)
        self.target_entropy = None if target_entropy is None else check_number(
            target_entropy, "target_entropy", name, "target_entropy=-act_dim")
        super().__init__(model)
        self.target_model = copy.deepcopy(model)
        self.actor_optimizer = paddle.optimizer.Adam(learning_rate=self.actor_lr, parameters=model.get_actor_params())
        self.critic_optimizer = paddle.optimizer.Adam(
            learning_rate=self.critic_lr, parameters=model.get_critic_params()
        )
        self.alpha_lr: float | None = None
        self.log_alpha: Any = None
        self.alpha_optimizer: Any = None
        if alpha_lr is not None:
            self.alpha_lr = check_actor_critic_args(name, example + ", alpha_lr=3e-4", alpha_lr=alpha_lr)["alpha_lr"]
            if self.alpha <= 0.0:
                raise ValueError(f"{name}: a learned alpha (alpha_lr given) needs an initial alpha > 0, got {self.alpha}")
            self.log_alpha = paddle.create_parameter(
                shape=[1], dtype="float32",
                default_initializer=paddle.nn.initializer.Constant(math.log(self.alpha)),
            )
            self.alpha_optimizer = paddle.optimizer.Adam(learning_rate=self.alpha_lr, parameters=[self.log_alpha])

    def predict(self, obs: Any) -> Any:
        """Return the deterministic action ``tanh(mean)``.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
        """
        act_mean, _ = self.model.policy(obs)
        return paddle.tanh(act_mean)

    def sample(self, obs: Any) -> tuple[Any, Any]:
        """Sample ``a = tanh(mean + std * eps)`` (reparameterised) and its log-probability.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.

        Returns:
            ``(action, log_prob)`` of shapes ``(N, act_dim)`` and ``(N, 1)``; ``log_prob`` is
            ``log N(x; mean, std) - log(1 - tanh(x)^2 + 1e-6)`` summed over actions, as PARL
            (exact tanh correction with ``stable_log_prob``).
        """
        act_mean, act_log_std = self.model.policy(obs)
        return tanh_gaussian_sample(act_mean, act_log_std, stable=self.stable_log_prob)

    def learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> tuple[Any, Any]:
        """One critic step, one actor step (and one alpha step if learned), then a soft target update.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
            action: float32 tensor ``(N, act_dim)`` in ``[-1, 1]``.
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
            next_action, next_log_pro = self.sample(next_obs)
            q1_next, q2_next = self.target_model.value(next_obs, next_action)
            target_q = paddle.minimum(q1_next, q2_next) - self.alpha * next_log_pro
            terminal = paddle.cast(terminal, dtype="float32")
            target_q = reward + self.gamma * (1.0 - terminal) * target_q
        cur_q1, cur_q2 = self.model.value(obs, action)
        critic_loss = F.mse_loss(cur_q1, target_q) + F.mse_loss(cur_q2, target_q)
        self.critic_optimizer.clear_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        return critic_loss

    def _actor_learn(self, obs: Any) -> Any:
        with frozen(self.model.get_critic_params(), keep=self.model.get_actor_params()):
            act, log_pi = self.sample(obs)
            q1_pi, q2_pi = self.model.value(obs, act)
            actor_loss = (self.alpha * log_pi - paddle.minimum(q1_pi, q2_pi)).mean()
            self.actor_optimizer.clear_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        if self.log_alpha is not None:
            self._alpha_learn(log_pi.detach(), int(act.shape[-1]))
        return actor_loss

    def _alpha_learn(self, log_pi: Any, act_dim: int) -> None:
        if self.target_entropy is None:
            self.target_entropy = -float(act_dim)
        alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy)).mean()
        self.alpha_optimizer.clear_grad()
        alpha_loss.backward()
        self.alpha_optimizer.step()
        self.alpha = float(self.log_alpha.exp().item())
