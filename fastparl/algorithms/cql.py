"""Conservative Q-Learning (Kumar et al., NeurIPS 2020, arXiv:2006.04779), as ``parl.algorithms.CQL``.

Offline RL: learn from a fixed dataset without acting.  CQL is SAC's actor-critic plus a penalty
that pushes Q down on actions the dataset does not contain and up on those it does::

    critic loss = sum_i MSE(Q_i(s, a), y) + min_q_weight * (logsumexp_a' Q_i(s, a') - Q_i(s, a))

with ``y = r + gamma (1 - terminal) min_i Q_target,i(s', a'~pi)`` (no entropy term, as PARL) and
the ``logsumexp`` estimated from 10 uniform actions, 10 policy actions at ``s`` and 10 at ``s'``
(importance-weighted, ``min_q_version=3``, "CQL(H)"); ``with_lagrange`` tunes the penalty's weight
so that the gap stays near ``lagrange_thresh``.  The actor is SAC's (optionally with an automatic
temperature); for the first ``policy_eval_start`` steps it does behaviour cloning instead,
maximising ``log pi(a_data|s)``.

Same constructor, methods, losses and random draws as PARL 2.x's paddle ``CQL``; the return of
:meth:`CQL.learn` is PARL's ``(critic_loss, mse, actor_loss, mean min Q)``.  Internal differences
(the same numbers up to float rounding): the policy actions inside the penalty are drawn without
building their unused actor graph and are scored in one critic pass with the uniform ones, the
temperature enters the actor loss as a constant, and behaviour cloning averages an ``(N,)`` loss
where PARL's broadcasts it to ``(N, N)`` (same mean).
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
    gaussian_log_prob,
    tanh_gaussian_sample,
)
from fastparl.core import Algorithm, Model, check_model_method, import_paddle

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["CQL"]

_EXAMPLE = "CQL(model, gamma=0.99, tau=0.005, actor_lr=1e-4, critic_lr=3e-4)"


class CQL(SoftTargetMixin, Algorithm):
    """CQL(H) with twin critics and a tanh-Gaussian actor, as PARL.

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> (mean, log_std)``, ``value(obs, action) -> (Q1, Q2)``,
            ``get_actor_params()`` and ``get_critic_params()``.
        gamma: discount factor in ``[0, 1]`` (required).
        tau: soft-update rate of the target network in ``[0, 1]`` (required).
        actor_lr: Adam learning rate of the actor (and of the temperature) (required).
        critic_lr: Adam learning rate of the critics (and of the Lagrange multiplier) (required).
        policy_eval_start: behaviour cloning for this many :meth:`learn` calls first (int >= 0).
        with_automatic_entropy_tuning: learn the temperature towards entropy ``-act_dim``.
        with_lagrange: learn the penalty's weight ``alpha_prime`` towards a gap of ``lagrange_thresh``.
        lagrange_thresh: the target gap (PARL suggests 10 on MuJoCo).
        min_q_version: 3 (importance-sampled CQL(H)) or 2 (plain logsumexp); ignored with Lagrange.
        min_q_weight: weight of the penalty (PARL: 5.0).
        alpha: the temperature, fixed unless tuned automatically.

    Attributes:
        alpha: the temperature (a float).
        alpha_prime: the Lagrange weight (a tensor) once learned, else ``0.0``.

    Raises:
        ModelMethodError: if the model lacks one of the methods above.
        TypeError: if a hyper-parameter is missing or of the wrong type.
        ValueError: if a hyper-parameter is out of range.
    """

    num_random = 10  # actions of each kind per state in the logsumexp estimate
    temp = 1.0  # temperature of the logsumexp

    def __init__(
        self,
        model: Model,
        gamma: float | None = None,
        tau: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
        policy_eval_start: int = 40000,
        with_automatic_entropy_tuning: bool = True,
        with_lagrange: bool = False,
        lagrange_thresh: float = 10.0,
        min_q_version: int = 3,
        min_q_weight: float = 5.0,
        alpha: float = 1.0,
    ) -> None:
        name = type(self).__name__
        for method in ACTOR_CRITIC_METHODS:
            check_model_method(model, method, name)
        args = check_actor_critic_args(name, _EXAMPLE, gamma=gamma, tau=tau, actor_lr=actor_lr, critic_lr=critic_lr,
                                       lagrange_thresh=lagrange_thresh, min_q_weight=min_q_weight, alpha=alpha)
        for key in ("policy_eval_start", "min_q_version"):
            value = locals()[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TypeError(f"{name} needs {key} to be an int >= 0, got {value!r}; e.g. {_EXAMPLE}")
        if min_q_version not in (2, 3):
            raise ValueError(f"{name}: min_q_version must be 3 (CQL(H), importance-sampled) or 2, got {min_q_version}")
        self.gamma, self.tau = args["gamma"], args["tau"]
        self.actor_lr, self.critic_lr = args["actor_lr"], args["critic_lr"]
        self.policy_eval_start = policy_eval_start
        self.with_automatic_entropy_tuning = check_bool(with_automatic_entropy_tuning,
                                                        "with_automatic_entropy_tuning", name)
        self.with_lagrange = check_bool(with_lagrange, "with_lagrange", name)
        self.lagrange_thresh = args["lagrange_thresh"]
        self.min_q_version = -1 if self.with_lagrange else min_q_version
        self.min_q_weight = args["min_q_weight"]
        self.alpha = args["alpha"]
        self.alpha_prime: Any = 0.0
        self._current_steps = 0
        super().__init__(model)
        self.target_model = copy.deepcopy(model)
        self.actor_optimizer = paddle.optimizer.Adam(learning_rate=self.actor_lr, parameters=model.get_actor_params())
        self.critic_optimizer = paddle.optimizer.Adam(learning_rate=self.critic_lr,
                                                      parameters=model.get_critic_params())
        if self.with_automatic_entropy_tuning:
            self.target_entropy: float | None = None
            self.log_alpha = paddle.create_parameter([1], "float32", default_initializer=paddle.nn.initializer.Constant(0.0))
            self.alpha_optimizer = paddle.optimizer.Adam(learning_rate=self.actor_lr, parameters=[self.log_alpha])
        if self.with_lagrange:
            self.target_action_gap = self.lagrange_thresh
            self.log_alpha_prime = paddle.create_parameter(
                [1], "float32", default_initializer=paddle.nn.initializer.Constant(0.0))
            self.alpha_prime_optimizer = paddle.optimizer.Adam(learning_rate=self.critic_lr,
                                                               parameters=[self.log_alpha_prime])

    def predict(self, obs: Any) -> Any:
        """The deterministic action ``tanh(mean)``, ``(N, act_dim)``.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
        """
        act_mean, _ = self.model.policy(obs)
        return paddle.tanh(act_mean)

    def sample(self, obs: Any) -> tuple[Any, Any]:
        """``(action (N, act_dim), log_prob (N, 1))``: SAC's reparameterised tanh-Gaussian sample (PARL's formula).

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
        """
        act_mean, act_log_std = self.model.policy(obs)
        return tanh_gaussian_sample(act_mean, act_log_std)

    def learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> tuple[Any, Any, Any, Any]:
        """One critic step (with the conservative penalty), one actor step, then a soft target update.

        Args:
            obs: float32 tensor ``(N, obs_dim)``.
            action: float32 tensor ``(N, act_dim)`` in ``[-1, 1]`` (the dataset's actions).
            reward: float32 tensor ``(N, 1)``.
            next_obs: float32 tensor ``(N, obs_dim)``.
            terminal: float32 tensor ``(N, 1)``, 1 where the episode terminated (not truncated).

        Returns:
            ``(critic_loss, mse, actor_loss, min_q)``, paddle scalars: the total critic loss, its
            TD (MSE) part, the actor loss and the mean of ``min(Q1, Q2)`` at the policy's actions.
        """
        self._current_steps += 1
        critic_loss, mse = self._critic_learn(obs, action, reward, next_obs, terminal)
        actor_loss, min_q = self._actor_learn(obs, action)
        self.sync_target()
        return critic_loss, mse, actor_loss, min_q

    def _critic_learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> tuple[Any, Any]:
        with paddle.no_grad():
            next_action, _ = self.sample(next_obs)
            q1_next, q2_next = self.target_model.value(next_obs, next_action)
            target_q = reward + self.gamma * (1.0 - terminal) * paddle.minimum(q1_next, q2_next)
        cur_q1, cur_q2 = self.model.value(obs, action)
        qf1_loss, qf2_loss = F.mse_loss(cur_q1, target_q), F.mse_loss(cur_q2, target_q)
        mse = qf2_loss + qf1_loss

        # The conservative penalty: Q at uniform, current-policy and next-policy actions (PARL's draw order).
        n = self.num_random
        random_actions = paddle.uniform([cur_q2.shape[0] * n, action.shape[-1]])
        with paddle.no_grad():
            curr_actions, curr_log_pis = self._get_policy_actions(obs)
            next_actions, next_log_pis = self._get_policy_actions(next_obs)
        # One critic pass over the 3n actions per state: (N, n, A) each -> (N, 3n, A) -> (N, 3n, 1) -> 3 x (N, n, 1).
        act_dim = action.shape[-1]
        all_actions = paddle.concat([a.reshape([-1, n, act_dim]) for a in (random_actions, curr_actions, next_actions)],
                                    axis=1).reshape([-1, act_dim])
        q1_all, q2_all = self._get_tensor_values(obs, all_actions)
        q1_rand, q1_curr, q1_next_a = paddle.split(q1_all, 3, axis=1)
        q2_rand, q2_curr, q2_next_a = paddle.split(q2_all, 3, axis=1)
        if self.min_q_version == 3:  # importance weights: uniform density 0.5^act_dim, policy densities
            random_density = math.log(0.5 ** curr_actions.shape[-1])
            cat_q1 = paddle.concat([q1_rand - random_density, q1_next_a - next_log_pis, q1_curr - curr_log_pis], 1)
            cat_q2 = paddle.concat([q2_rand - random_density, q2_next_a - next_log_pis, q2_curr - curr_log_pis], 1)
        else:
            cat_q1 = paddle.concat([q1_rand, cur_q1.unsqueeze(1), q1_curr], 1)
            cat_q2 = paddle.concat([q2_rand, cur_q2.unsqueeze(1), q2_curr], 1)
        min_qf1_loss = paddle.logsumexp(cat_q1 / self.temp, axis=1).mean() * self.min_q_weight * self.temp
        min_qf2_loss = paddle.logsumexp(cat_q2 / self.temp, axis=1).mean() * self.min_q_weight * self.temp
        min_qf1_loss = min_qf1_loss - cur_q1.mean() * self.min_q_weight
        min_qf2_loss = min_qf2_loss - cur_q2.mean() * self.min_q_weight

        if self.with_lagrange:  # alpha' grows while the gap exceeds the threshold
            self.alpha_prime = paddle.clip(self.log_alpha_prime.exp(), min=0.0, max=1000000.0)
            gap1, gap2 = min_qf1_loss - self.target_action_gap, min_qf2_loss - self.target_action_gap
            alpha_prime_loss = (-self.alpha_prime * gap1.detach() - self.alpha_prime * gap2.detach()) * 0.5
            self.alpha_prime_optimizer.clear_grad()
            alpha_prime_loss.backward()
            self.alpha_prime_optimizer.step()
            alpha_prime = self.alpha_prime.detach().reshape([])  # PARL's is (1,); keep the losses scalars
            min_qf1_loss, min_qf2_loss = alpha_prime * gap1, alpha_prime * gap2

        critic_loss = (qf1_loss + min_qf1_loss) + (qf2_loss + min_qf2_loss)
        self.critic_optimizer.clear_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        return critic_loss, mse

    def _actor_learn(self, obs: Any, action: Any) -> tuple[Any, Any]:
        with frozen(self.model.get_critic_params(), keep=self.model.get_actor_params()):
            act, log_pi = self.sample(obs)
            q1_pi, q2_pi = self.model.value(obs, act)
            min_q_pi = paddle.minimum(q1_pi, q2_pi)
            if self.with_automatic_entropy_tuning:
                if self.target_entropy is None:
                    self.target_entropy = -float(act.shape[-1])
                alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy).detach()).mean()
                self.alpha_optimizer.clear_grad()
                alpha_loss.backward()
                self.alpha_optimizer.step()
                self.alpha = float(self.log_alpha.exp().item())
            if self._current_steps < self.policy_eval_start:  # behaviour cloning: maximise log pi(a_data | s)
                actor_loss = (self.alpha * log_pi).mean() - self._sample_log_prob(obs, action).mean()
            else:
                actor_loss = (self.alpha * log_pi - min_q_pi).mean()
            self.actor_optimizer.clear_grad()
            actor_loss.backward()
        self.actor_optimizer.step()
        return actor_loss, min_q_pi.mean()

    def _sample_log_prob(self, obs: Any, action: Any) -> Any:
        """``log pi(action | obs)`` ``(N,)`` of dataset actions, through ``atanh`` (clipped at 1e-6, as PARL)."""
        raw_action = 0.5 * paddle.log((1 + action).clip(min=1e-6) / (1 - action).clip(min=1e-6))
        act_mean, act_log_std = self.model.policy(obs)
        log_prob = gaussian_log_prob(raw_action, act_mean, act_log_std.exp())
        log_prob = log_prob - paddle.log(1 - action.pow(2) + 1e-6)
        return log_prob.sum(-1)

    def _get_policy_actions(self, obs: Any) -> tuple[Any, Any]:
        """``num_random`` policy actions per state: ``(N * n, act_dim)`` and their log-probs ``(N, n, 1)``."""
        obs_rep = obs.unsqueeze(1).tile([1, self.num_random, 1]).reshape([obs.shape[0] * self.num_random, obs.shape[1]])
        actions, log_pi = self.sample(obs_rep)
        return actions, log_pi.reshape([obs.shape[0], self.num_random, 1])

    def _get_tensor_values(self, obs: Any, actions: Any) -> tuple[Any, Any]:
        """``(Q1, Q2)`` of ``actions`` ``(N * k, act_dim)`` at the ``N`` states, each ``(N, k, 1)``."""
        k = actions.shape[0] // obs.shape[0]
        obs_rep = obs.unsqueeze(1).tile([1, k, 1]).reshape([obs.shape[0] * k, obs.shape[1]])
        q1, q2 = self.model.value(obs_rep, actions)
        return q1.reshape([obs.shape[0], k, 1]), q2.reshape([obs.shape[0], k, 1])
