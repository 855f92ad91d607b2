"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347), as ``parl.algorithms.PPO``.

Same constructor, methods and tensor shapes as PARL 2.x's paddle ``PPO`` (the clipped
surrogate of CleanRL's ``ppo.py``).  Differences, all internal:

* gradients are clipped by their *global* norm (``ClipGradByGlobalNorm``, as CleanRL and
  Stable-Baselines3) where PARL clips each tensor separately (``ClipGradByNorm``);
* log-probabilities and entropies are computed in closed form instead of through
  ``paddle.distribution`` objects (same values, fewer eager ops per step);
* ``learn`` also accepts numpy arrays, and arguments are checked with real exceptions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["PPO"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _tensor(x: Any, dtype: str | None = None) -> Any:
    """``x`` as a paddle tensor (numpy arrays are converted; tensors pass through, cast if needed)."""
    if isinstance(x, paddle.Tensor):
        return x if dtype is None or x.dtype == getattr(paddle, dtype) else x.astype(dtype)
    return paddle.to_tensor(np.asarray(x), dtype=dtype)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"PPO needs {name} to be a bool, got {value!r}; e.g. PPO(model, {name}=True)")
    return bool(value)


class PPO(Algorithm):
    """PPO with a clipped surrogate objective, for discrete or continuous actions.

    The model implements ``value(obs) -> (B, 1)`` (or ``(B,)``) and ``policy(obs)``, which returns
    the action logits ``(B, act_dim)`` for discrete actions, or ``(mean, std)`` for continuous
    ones (``mean`` ``(B, act_dim)``, ``std`` broadcastable to it, e.g. ``exp`` of a state-independent
    log-std parameter of shape ``(1, act_dim)``), exactly as in PARL.

    The loss of one minibatch is ``value_loss_coef * L_V + L_clip - entropy_coef * H`` with
    ``L_clip = -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))``, ``r = exp(log pi(a|s) - log pi_old(a|s))``,
    ``A`` normalised per minibatch when ``norm_adv``, and ``L_V = 0.5 mean(max((V - R)^2,
    (V_old + clip(V - V_old, -eps, eps) - R)^2))`` when ``use_clipped_value_loss`` (else
    ``0.5 mean((V - R)^2)``).  Adam with ``eps``; gradients clipped to a global norm of
    ``max_grad_norm``.

    Args:
        model: a :class:`fastparl.Model` with ``value`` and ``policy`` methods.
        clip_param: epsilon of the clipped ratio (and of the clipped value loss).
        value_loss_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        initial_lr: Adam's learning rate (``learn(..., lr=...)`` changes it).
        eps: Adam's epsilon.
        max_grad_norm: the global gradient norm is clipped to this.
        use_clipped_value_loss: clip the value function's change, as above.
        norm_adv: normalise advantages to zero mean and unit std in each minibatch.
        continuous_action: Gaussian policy (``policy`` returns ``(mean, std)``) if True, else
            categorical (``policy`` returns logits).

    Raises:
        ModelMethodError: if the model lacks ``value`` or ``policy``.
        TypeError: if a coefficient is not a number or a flag not a bool.
        ValueError: if a coefficient is out of range.
    """

    def __init__(
        self,
        model: Model,
        clip_param: float = 0.1,
        value_loss_coef: float = 0.5,
        entropy_coef: float = 0.01,
        initial_lr: float = 2.5e-4,
        eps: float = 1e-5,
        max_grad_norm: float = 0.5,
        use_clipped_value_loss: bool = True,
        norm_adv: bool = True,
        continuous_action: bool = False,
    ) -> None:
        name = type(self).__name__
        check_model_method(model, "value", name)
        check_model_method(model, "policy", name)
        example = "PPO(model, clip_param=0.2, initial_lr=3e-4)"
        self.clip_param = check_number(clip_param, "clip_param", name, example)
        self.value_loss_coef = check_number(value_loss_coef, "value_loss_coef", name, example)
        self.entropy_coef = check_number(entropy_coef, "entropy_coef", name, example)
        initial_lr = check_number(initial_lr, "initial_lr", name, example)
        eps = check_number(eps, "eps", name, example)
        self.max_grad_norm = check_number(max_grad_norm, "max_grad_norm", name, example)
        for key, val in (
            ("clip_param", self.clip_param),
            ("initial_lr", initial_lr),
            ("max_grad_norm", self.max_grad_norm),
        ):
            if not val > 0:
                raise ValueError(f"PPO: {key} must be > 0, got {val}")
        self.use_clipped_value_loss = _check_bool(use_clipped_value_loss, "use_clipped_value_loss")
        self.norm_adv = _check_bool(norm_adv, "norm_adv")
        self.continuous_action = _check_bool(continuous_action, "continuous_action")
        super().__init__(model)
        self.optimizer = paddle.optimizer.Adam(
            learning_rate=initial_lr,
            epsilon=eps,
            parameters=self.model.parameters(),
            grad_clip=paddle.nn.ClipGradByGlobalNorm(self.max_grad_norm),
        )

    # ----------------------------------------------------------------------------- helpers
    def _log_prob_entropy(self, obs: Any, action: Any) -> tuple[Any, Any]:
        """Log-probability ``(B,)`` of ``action`` and entropy ``(B,)`` under the current policy."""
        if self.continuous_action:
            mean, std = self.model.policy(obs)
            log_std = paddle.log(std)
            z = (action - mean) / std
            log_prob = (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(axis=-1)
            entropy = (0.5 + _HALF_LOG_2PI + log_std).expand_as(mean).sum(axis=-1)
            return log_prob, entropy
        logits = self.model.policy(obs)
        log_p = F.log_softmax(logits, axis=-1)
        log_prob = paddle.take_along_axis(log_p, action.reshape([-1, 1]), axis=-1).reshape([-1])
        entropy = -(paddle.exp(log_p) * log_p).sum(axis=-1)
        return log_prob, entropy

    # ----------------------------------------------------------------------------- PARL API
    def learn(
        self,
        batch_obs: Any,
        batch_action: Any,
        batch_value: Any,
        batch_return: Any,
        batch_logprob: Any,
        batch_adv: Any,
        lr: float | None = None,
    ) -> tuple[float, float, float]:
        """One gradient step of PPO on a minibatch.

        Args:
            batch_obs: ``(B, *obs_shape)`` float32 tensor (or numpy array).
            batch_action: ``(B,)`` int actions (discrete) or ``(B, act_dim)`` float32 (continuous).
            batch_value: ``(B,)`` values V_old(obs) at sampling time.
            batch_return: ``(B,)`` value targets (GAE returns).
            batch_logprob: ``(B,)`` log pi_old(action | obs).
            batch_adv: ``(B,)`` advantages.
            lr: if given (and non-zero), set Adam's learning rate to it first (PARL's ``if lr:``).

        Returns:
            ``(value_loss, action_loss, entropy_loss)`` as Python floats (``entropy_loss`` is the
            mean entropy).
        """
        obs = _tensor(batch_obs, "float32")
        if self.continuous_action:
            action = _tensor(batch_action, "float32")
            if action.ndim == 1:
                action = action.reshape([-1, 1])
        else:
            action = _tensor(batch_action, "int64")
        old_value = _tensor(batch_value, "float32").reshape([-1])
        ret = _tensor(batch_return, "float32").reshape([-1])
        old_logprob = _tensor(batch_logprob, "float32").reshape([-1])
        adv = _tensor(batch_adv, "float32").reshape([-1])

        values = self.model.value(obs).reshape([-1])
        log_prob, entropy = self._log_prob_entropy(obs, action)
        entropy_loss = entropy.mean()

        if self.norm_adv:  # (A - mean) / (unbiased std + 1e-8); Tensor.std() warns about type promotion
            centred = adv - adv.mean()
            var = (centred * centred).sum() / max(int(adv.shape[0]) - 1, 1)
            adv = centred / (paddle.sqrt(var) + 1e-8)
        ratio = paddle.exp(log_prob - old_logprob)
        surr1 = ratio * adv
        surr2 = paddle.clip(ratio, 1.0 - self.clip_param, 1.0 + self.clip_param) * adv
        action_loss = -paddle.minimum(surr1, surr2).mean()

        if self.use_clipped_value_loss:
            value_clipped = old_value + paddle.clip(values - old_value, -self.clip_param, self.clip_param)
            value_loss = 0.5 * paddle.maximum((values - ret).pow(2), (value_clipped - ret).pow(2)).mean()
        else:
            value_loss = 0.5 * (values - ret).pow(2).mean()

        loss = value_loss * self.value_loss_coef + action_loss - entropy_loss * self.entropy_coef
        if lr:
            self.optimizer.set_lr(float(lr))
        loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        losses = paddle.stack([value_loss, action_loss, entropy_loss]).numpy()  # one device sync
        return float(losses[0]), float(losses[1]), float(losses[2])

    def sample(self, obs: Any) -> tuple[Any, Any, Any, Any]:
        """Sample actions from the current policy (PARL's shapes, with a leading sample axis).

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.

        Returns:
            ``(value, action, action_log_probs, action_entropy)``: ``value`` as the model returns
            it (``(B, 1)``); ``action`` ``(1, B)`` int64 (discrete) or ``(1, B, act_dim)``
            (continuous); ``action_log_probs`` ``(1, B)``; ``action_entropy`` ``(B,)`` (discrete)
            or the scalar mean entropy (continuous), as in PARL.
        """
        obs = _tensor(obs, "float32")
        with paddle.no_grad():
            value = self.model.value(obs)
            if self.continuous_action:
                mean, std = self.model.policy(obs)
                std = std.expand_as(mean)
                action = (mean + std * paddle.randn(mean.shape, dtype=mean.dtype)).unsqueeze(0)
                z = (action - mean) / std
                log_std = paddle.log(std)
                action_log_probs = (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(axis=-1)
                action_entropy = (0.5 + _HALF_LOG_2PI + log_std).sum(axis=-1).mean()
            else:
                logits = self.model.policy(obs)
                log_p = F.log_softmax(logits, axis=-1)
                action = paddle.multinomial(paddle.exp(log_p), num_samples=1)  # (B, 1)
                action_log_probs = paddle.take_along_axis(log_p, action, axis=-1).reshape([1, -1])
                action = action.reshape([1, -1])
                action_entropy = -(paddle.exp(log_p) * log_p).sum(axis=-1)
        return value, action, action_log_probs, action_entropy

    def predict(self, obs: Any) -> Any:
        """The greedy action: ``argmax`` of the logits ``(B,)``, or the Gaussian mean ``(B, act_dim)``.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        obs = _tensor(obs, "float32")
        with paddle.no_grad():
            if self.continuous_action:
                action, _ = self.model.policy(obs)
                return action
            return paddle.argmax(self.model.policy(obs), axis=1)

    def value(self, obs: Any) -> Any:
        """The model's value of ``obs``, as it returns it (``(B, 1)`` for PARL's models).

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        obs = _tensor(obs, "float32")
        with paddle.no_grad():
            return self.model.value(obs)
