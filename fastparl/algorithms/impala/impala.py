"""IMPALA (Espeholt et al. 2018, arXiv:1802.01561), as ``parl.algorithms.IMPALA``.

Same constructor, ``learn`` / ``sample`` contract, optimizer (Adam, global gradient-norm clip 40)
and summed V-trace loss as PARL 2.x's paddle ``IMPALA``.  The batch is ``B`` env segments of
``T = sample_batch_steps`` consecutive steps, laid out env-major (``[B * T]``); the last step of
each segment only provides the bootstrap value, as in PARL.  The V-trace targets are computed by
the numba kernel :func:`fastparl.kernels.vtrace` on the detached log-probabilities and values
(PARL's ``from_importance_weights`` stops their gradients too).  ``predict`` (greedy actions)
comes from PARL's fluid ``IMPALA``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastparl.algorithms.common import categorical_entropy, categorical_log_prob, to_tensor
from fastparl.algorithms.impala.vtrace import VTraceReturns
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number, check_range
from fastparl.kernels import vtrace

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["IMPALA", "VTraceLoss", "VTraceReturns"]


def _numpy(x: Any) -> np.ndarray:
    return x.numpy() if isinstance(x, paddle.Tensor) else np.asarray(x)


class VTraceLoss:
    """Policy-gradient loss with V-trace importance weighting (PARL's ``VTraceLoss``).

    All inputs are ``[T, B]`` (``bootstrap_value``: ``[B]``); ``dones`` marks the steps after which
    an episode ended.  Attributes ``total_loss``, ``pi_loss``, ``vf_loss``, ``entropy`` (summed paddle
    scalars) and ``vtrace_returns``.  ``total = pi_loss + vf_loss_coeff * vf_loss + entropy_coeff *
    entropy``; PARL's ``entropy_coeff`` is negative, to maximise entropy.
    """

    def __init__(self, behaviour_actions_log_probs: Any, target_actions_log_probs: Any, policy_entropy: Any,
                 dones: Any, discount: float, rewards: Any, values: Any, bootstrap_value: Any,
                 entropy_coeff: float = -0.01, vf_loss_coeff: float = 0.5, clip_rho_threshold: float = 1.0,
                 clip_pg_rho_threshold: float = 1.0) -> None:
        vs, pg_adv = vtrace(_numpy(behaviour_actions_log_probs).astype(np.float32),
                            _numpy(target_actions_log_probs).astype(np.float32), _numpy(rewards),
                            _numpy(values).astype(np.float32), _numpy(dones) != 0, _numpy(bootstrap_value),
                            float(discount), clip_rho=clip_rho_threshold, clip_pg_rho=clip_pg_rho_threshold)
        self.vtrace_returns = VTraceReturns(paddle.to_tensor(vs), paddle.to_tensor(pg_adv))
        self.pi_loss = -1.0 * paddle.sum(target_actions_log_probs * self.vtrace_returns.pg_advantages)
        self.vf_loss = 0.5 * paddle.sum(paddle.square(values - self.vtrace_returns.vs))
        self.entropy = paddle.sum(policy_entropy)
        self.total_loss = self.pi_loss + self.vf_loss * vf_loss_coeff + self.entropy * float(entropy_coeff)


class IMPALA(Algorithm):
    """IMPALA's learner for discrete actions.

    The model implements ``policy(obs) -> logits (B, act_dim)`` and ``value(obs) -> (B,)``, as in PARL.

    Args:
        model: a :class:`fastparl.Model` with ``policy`` and ``value``.
        sample_batch_steps: steps ``T`` of each env segment in a batch (>= 2: the last one bootstraps).
        gamma: discount in [0, 1].
        vf_loss_coeff: weight of the value loss.
        clip_rho_threshold: rho-bar, clipping the importance weights in the value targets.
        clip_pg_rho_threshold: clipping of the importance weights in the policy-gradient advantage.

    Raises:
        ModelMethodError: if the model lacks ``policy`` or ``value``.
        TypeError: if a hyper-parameter is missing or not a number.
        ValueError: if ``sample_batch_steps`` < 2, ``gamma`` is outside [0, 1] or a threshold is <= 0.
    """

    def __init__(self, model: Model, sample_batch_steps: int | None = None, gamma: float | None = None,
                 vf_loss_coeff: float | None = None, clip_rho_threshold: float | None = None,
                 clip_pg_rho_threshold: float | None = None) -> None:
        name = type(self).__name__
        for method in ("policy", "value"):
            check_model_method(model, method, name)
        example = ("IMPALA(model, sample_batch_steps=50, gamma=0.99, vf_loss_coeff=0.5, clip_rho_threshold=1.0, "
                   "clip_pg_rho_threshold=1.0)")
        if isinstance(sample_batch_steps, bool) or not isinstance(sample_batch_steps, (int, np.integer)):
            raise TypeError(f"IMPALA needs sample_batch_steps to be an int, got {sample_batch_steps!r}; e.g. {example}")
        if sample_batch_steps < 2:
            raise ValueError(f"IMPALA needs sample_batch_steps >= 2 (the last step of each segment only "
                             f"bootstraps), got {sample_batch_steps}")
        self.sample_batch_steps = int(sample_batch_steps)
        self.gamma = check_number(gamma, "gamma", name, example)
        check_range(self.gamma, "gamma", 0.0, 1.0, name)
        self.vf_loss_coeff = check_number(vf_loss_coeff, "vf_loss_coeff", name, example)
        self.clip_rho_threshold = check_number(clip_rho_threshold, "clip_rho_threshold", name, example)
        self.clip_pg_rho_threshold = check_number(clip_pg_rho_threshold, "clip_pg_rho_threshold", name, example)
        for key in ("clip_rho_threshold", "clip_pg_rho_threshold"):
            if getattr(self, key) <= 0:
                raise ValueError(f"IMPALA needs {key} > 0, got {getattr(self, key)}; PARL uses 1.0")
        super().__init__(model)
        self.optimizer = paddle.optimizer.Adam(
            learning_rate=0.001, parameters=self.model.parameters(),
            grad_clip=paddle.nn.ClipGradByGlobalNorm(clip_norm=40.0))

    def learn(self, obs: Any, actions: Any, behaviour_logits: Any, rewards: Any, dones: Any, learning_rate: float,
              entropy_coeff: float) -> tuple[VTraceLoss, Any]:
        """One gradient step on ``B`` env segments of ``sample_batch_steps`` steps each.

        Args:
            obs: ``([B * T] + obs_shape)`` float32, env-major (env 0's T steps, then env 1's ...).
            actions: ``(B * T,)`` int64 actions taken.
            behaviour_logits: ``(B * T, act_dim)`` float32 logits of the acting policy.
            rewards: ``(B * T,)`` float32.
            dones: ``(B * T,)`` bool or float, True where the episode ended after the step.
            learning_rate: Adam's learning rate for this step.
            entropy_coeff: weight of the summed entropy (negative to maximise entropy, as PARL).

        Returns:
            ``(vtrace_loss, kl)``: a :class:`VTraceLoss` (``total_loss``, ``pi_loss``, ``vf_loss``,
            ``entropy``, ``vtrace_returns``) and the mean KL(target || behaviour), paddle scalars.

        Raises:
            ValueError: if the batch is not a whole number of ``sample_batch_steps`` segments.
        """
        obs = to_tensor(obs, "float32")
        T = self.sample_batch_steps
        if obs.shape[0] % T or obs.shape[0] == 0:
            raise ValueError(f"IMPALA.learn: batch of {obs.shape[0]} steps is not a whole number of segments of "
                             f"sample_batch_steps={T}; send B * {T} steps, env-major")
        B = obs.shape[0] // T
        actions = to_tensor(actions, "int64").reshape([-1])
        behaviour_logits = to_tensor(behaviour_logits, "float32")
        values = self.model.value(obs).reshape([-1])
        target_logits = self.model.policy(obs)

        target_logp_all = F.log_softmax(target_logits, axis=-1)
        policy_entropy = categorical_entropy(target_logits)
        target_actions_log_probs = categorical_log_prob(target_logits, actions)
        behaviour_logp_all = F.log_softmax(behaviour_logits, axis=-1)
        behaviour_actions_log_probs = categorical_log_prob(behaviour_logits, actions)
        kl = paddle.mean((paddle.exp(target_logp_all) * (target_logp_all - behaviour_logp_all)).sum(axis=-1))

        def split_batches(x: Any) -> Any:  # [B * T] -> [T, B]
            return paddle.transpose(paddle.reshape(x, [B, T]), [1, 0])

        rewards_tb = _numpy(rewards).astype(np.float32).reshape(B, T).T
        dones_tb = (_numpy(dones) != 0).reshape(B, T).T
        values_tb = split_batches(values)
        vtrace_loss = VTraceLoss(
            behaviour_actions_log_probs=split_batches(behaviour_actions_log_probs)[:-1],
            target_actions_log_probs=split_batches(target_actions_log_probs)[:-1],
            policy_entropy=split_batches(policy_entropy)[:-1],
            dones=dones_tb[:-1], discount=self.gamma, rewards=rewards_tb[:-1], values=values_tb[:-1],
            bootstrap_value=values_tb[-1], entropy_coeff=entropy_coeff, vf_loss_coeff=self.vf_loss_coeff,
            clip_rho_threshold=self.clip_rho_threshold, clip_pg_rho_threshold=self.clip_pg_rho_threshold)

        self.optimizer.set_lr(float(learning_rate))
        vtrace_loss.total_loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        return vtrace_loss, kl

    def sample(self, obs: Any) -> tuple[Any, Any]:
        """``(probs, logits)`` of the policy, ``(B, act_dim)`` each (PARL's paddle ``IMPALA.sample``).

        Args:
            obs: ``([B] + obs_shape)`` float32 tensor.
        """
        with paddle.no_grad():
            logits = self.model.policy(to_tensor(obs, "float32"))
            return F.softmax(logits, axis=-1), logits

    def predict(self, obs: Any) -> Any:
        """Greedy actions ``(B,)`` int64.

        Args:
            obs: ``([B] + obs_shape)`` float32 tensor.
        """
        with paddle.no_grad():
            return paddle.argmax(self.model.policy(to_tensor(obs, "float32")), axis=-1)
