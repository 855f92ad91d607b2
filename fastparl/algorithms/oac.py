"""Optimistic Actor-Critic (Ciosek et al., NeurIPS 2019, arXiv:1910.12807), as ``parl.algorithms.OAC``.

OAC learns exactly as SAC (same critic, actor and soft target update: :class:`~fastparl.algorithms.SAC`);
it differs in how it *explores*.  :meth:`OAC.get_optimistic_exploration_action` shifts the policy's
Gaussian towards a higher upper confidence bound of Q, ``Q_UB = mean(Q1, Q2) + beta * |Q1 - Q2| / 2``,
by the largest step that keeps the KL to the policy below ``delta``:

    mu_E = mu_T + sqrt(2 delta) * Sigma grad / ||grad||_Sigma,   grad = d Q_UB / d a at a = mu_T,

and samples ``tanh(N(mu_E, Sigma))``.  As PARL, ``mu_T`` is one sample of the policy (the paper
uses its mean) and the norm runs over the whole batch; constructor, methods and random draws are
PARL 2.x's paddle ``OAC``.
"""

from __future__ import annotations

import math
from typing import Any

from fastparl.algorithms.common import check_actor_critic_args
from fastparl.algorithms.sac import SAC
from fastparl.core import Model, import_paddle

paddle = import_paddle()

__all__ = ["OAC"]


class OAC(SAC):
    """SAC's learner with optimistic exploration.

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> (mean, log_std)``, ``value(obs, action) -> (Q1, Q2)``,
            ``get_actor_params()`` and ``get_critic_params()``, as PARL's OAC ``MujocoModel``.
        gamma: discount factor in ``[0, 1]`` (required).
        tau: soft-update rate of the target network in ``[0, 1]`` (required).
        alpha: entropy temperature (required, >= 0; PARL: 0.2).
        beta: weight of the critics' disagreement in ``Q_UB`` (required, >= 0; PARL: 4.66).
        delta: KL budget of the exploration shift (required, >= 0; PARL: 23.53).
        actor_lr: Adam learning rate of the actor (required).
        critic_lr: Adam learning rate of the critics (required).

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
        beta: float | None = None,
        delta: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
    ) -> None:
        example = "OAC(model, gamma=0.99, tau=0.005, alpha=0.2, beta=4.66, delta=23.53, actor_lr=3e-4, critic_lr=3e-4)"
        args = check_actor_critic_args("OAC", example, beta=beta, delta=delta)
        for key in ("beta", "delta"):
            if args[key] < 0.0:
                raise ValueError(f"OAC: {key} must be >= 0, got {args[key]}; e.g. {example}")
        self.beta, self.delta = args["beta"], args["delta"]
        super().__init__(model, gamma=gamma, tau=tau, alpha=alpha, actor_lr=actor_lr, critic_lr=critic_lr)

    def get_optimistic_exploration_action(self, obs: Any) -> Any:
        """An exploratory action ``tanh(z)``, ``z ~ N(mu_E, Sigma)`` shifted towards optimism (see above).

        Args:
            obs: float32 tensor ``(N, obs_dim)`` (PARL's agent passes one observation, ``N = 1``).

        Returns:
            ``(N, act_dim)`` float32 tensor in ``(-1, 1)``, without gradient.
        """
        act_mean, act_log_std = self.model.policy(obs)
        act_std = paddle.exp(act_log_std)
        pre_tanh_mu_t = paddle.randn([1, *act_mean.shape], dtype=act_mean.dtype) * act_std + act_mean
        q1, q2 = self.model.value(obs, paddle.tanh(pre_tanh_mu_t)[0])
        q_ub = (q1 + q2) / 2.0 + self.beta * (paddle.abs(q1 - q2) / 2.0)
        grad = paddle.grad(q_ub, pre_tanh_mu_t)[0]  # d Q_UB / d mu_T; parameters' .grad are not touched
        sigma_t = paddle.pow(act_std, 2)
        denom = paddle.sqrt(paddle.sum(paddle.multiply(paddle.pow(grad, 2), sigma_t))) + 10e-6
        mu_c = math.sqrt(2.0 * self.delta) * paddle.multiply(sigma_t, grad) / denom
        mu_e = paddle.squeeze(pre_tanh_mu_t + mu_c, axis=0)
        z = (paddle.randn([1, *mu_e.shape], dtype=mu_e.dtype) * act_std + mu_e).detach()
        return paddle.tanh(z)[0]
