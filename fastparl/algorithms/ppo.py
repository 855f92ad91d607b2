"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347), as ``parl.algorithms.PPO``.

Same constructor, methods, tensor shapes, losses, optimizer and random draws as PARL 2.x's paddle
``PPO`` (the clipped surrogate of CleanRL's ``ppo.py``): with the same seed and minibatches it
computes PARL's numbers.  The log-probabilities and entropies are ``paddle.distribution``'s
formulas written out (:mod:`fastparl.algorithms.common`), which saves building distribution
objects every step.  Differences:

* ``grad_clip="global_norm"`` (keyword only) clips the gradients by their global norm, as CleanRL
  and Stable-Baselines3; the default ``"norm"`` clips each tensor separately, as PARL;
* :attr:`PPO.diagnostics` holds CleanRL's approx. KL, clip fraction and explained variance of
  the last minibatch (``learn`` still returns PARL's three losses);
* ``learn`` also accepts numpy arrays, and arguments are checked with real exceptions.
"""

from __future__ import annotations

from typing import Any

from fastparl.algorithms.common import (
    categorical_entropy,
    categorical_log_prob,
    check_bool,
    gaussian_entropy,
    gaussian_log_prob,
    to_tensor,
)
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["PPO"]

_GRAD_CLIPS = ("norm", "global_norm")


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
    ``0.5 mean((V - R)^2)``).  Adam with ``eps``; every gradient tensor is clipped to a norm of
    ``max_grad_norm`` (PARL's ``ClipGradByNorm``), or all of them together with
    ``grad_clip="global_norm"``.

    Args:
        model: a :class:`fastparl.Model` with ``value`` and ``policy`` methods.
        clip_param: epsilon of the clipped ratio (and of the clipped value loss).
        value_loss_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        initial_lr: Adam's learning rate (``learn(..., lr=...)`` changes it).
        eps: Adam's epsilon.
        max_grad_norm: the gradient norm is clipped to this.
        use_clipped_value_loss: clip the value function's change, as above.
        norm_adv: normalise advantages to zero mean and unit std in each minibatch.
        continuous_action: Gaussian policy (``policy`` returns ``(mean, std)``) if True, else
            categorical (``policy`` returns logits).
        grad_clip: ``"norm"`` (PARL: per tensor) or ``"global_norm"`` (CleanRL, SB3), keyword only.

    Attributes:
        diagnostics: after each :meth:`learn`, CleanRL's ``approx_kl`` (``mean((r - 1) - log r)``),
            ``clip_fraction`` (share of ``|r - 1| > clip_param``) and ``explained_variance``
            (``1 - Var(R - V_old) / Var(R)``) of that minibatch, as floats.

    Raises:
        ModelMethodError: if the model lacks ``value`` or ``policy``.
        TypeError: if a coefficient is not a number or a flag not a bool.
        ValueError: if a coefficient is out of range or ``grad_clip`` unknown.
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
        *,
        grad_clip: str = "norm",
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
        self.use_clipped_value_loss = check_bool(use_clipped_value_loss, "use_clipped_value_loss", name)
        self.norm_adv = check_bool(norm_adv, "norm_adv", name)
        self.continuous_action = check_bool(continuous_action, "continuous_action", name)
        if grad_clip not in _GRAD_CLIPS:
            raise ValueError(f"PPO: grad_clip must be one of {_GRAD_CLIPS} (per tensor as PARL, or global as "
                             f"CleanRL), got {grad_clip!r}")
        self.grad_clip = grad_clip
        self.diagnostics: dict[str, float] = {}
        super().__init__(model)
        clip_cls = paddle.nn.ClipGradByNorm if grad_clip == "norm" else paddle.nn.ClipGradByGlobalNorm
        self.optimizer = paddle.optimizer.Adam(
            learning_rate=initial_lr,
            epsilon=eps,
            parameters=self.model.parameters(),
            grad_clip=clip_cls(self.max_grad_norm),
        )

    # ----------------------------------------------------------------------------- helpers
    def _log_prob_entropy(self, obs: Any, action: Any) -> tuple[Any, Any]:
        """Log-probability ``(B,)`` of ``action`` and entropy ``(B,)`` under the current policy."""
        if self.continuous_action:
            mean, std = self.model.policy(obs)
            log_prob = gaussian_log_prob(action, mean, std).sum(1)
            return log_prob, gaussian_entropy(std, mean).sum(1)
        logits = self.model.policy(obs)
        return categorical_log_prob(logits, action), categorical_entropy(logits)

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
            mean entropy); :attr:`diagnostics` gets the minibatch's approx. KL, clip fraction and
            explained variance.
        """
        obs = to_tensor(batch_obs, "float32")
        if self.continuous_action:
            action = to_tensor(batch_action, "float32")
            if action.ndim == 1:
                action = action.reshape([-1, 1])
        else:
            action = to_tensor(batch_action, "int64")
        old_value = to_tensor(batch_value, "float32").reshape([-1])
        ret = to_tensor(batch_return, "float32").reshape([-1])
        old_logprob = to_tensor(batch_logprob, "float32").reshape([-1])
        adv = to_tensor(batch_adv, "float32").reshape([-1])

        values = self.model.value(obs).reshape([-1])
        log_prob, entropy = self._log_prob_entropy(obs, action)
        entropy_loss = entropy.mean()

        if self.norm_adv:  # (A - mean) / (unbiased std + 1e-8), op for op as paddle's CPU Tensor.std()
            adv = (adv - adv.mean()) / (_unbiased_std(adv) + 1e-8)
        log_ratio = log_prob - old_logprob
        ratio = paddle.exp(log_ratio)
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
        with paddle.no_grad():  # CleanRL's diagnostics, read back in the same device sync as the losses
            approx_kl = ((ratio - 1.0) - log_ratio).mean()
            clip_fraction = ((ratio - 1.0).abs() > self.clip_param).astype("float32").mean()
            stats = paddle.stack([value_loss, action_loss, entropy_loss, approx_kl, clip_fraction,
                                  _variance(ret - old_value), _variance(ret)]).numpy()
        explained = float("nan") if stats[6] == 0 else 1.0 - float(stats[5]) / float(stats[6])
        self.diagnostics = {"approx_kl": float(stats[3]), "clip_fraction": float(stats[4]),
                            "explained_variance": explained}
        return float(stats[0]), float(stats[1]), float(stats[2])

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
        obs = to_tensor(obs, "float32")
        with paddle.no_grad():
            value = self.model.value(obs)
            if self.continuous_action:
                mean, std = self.model.policy(obs)
                # Normal(mean, std).sample([1]): one standard normal draw per entry, scaled and shifted.
                action = paddle.randn([1, *mean.shape], dtype=mean.dtype) * std + mean
                action_log_probs = gaussian_log_prob(action, mean, std).sum(-1)
                action_entropy = gaussian_entropy(std, mean).sum(-1).mean()
            else:
                logits = self.model.policy(obs)
                # Categorical(logits).sample([1]): multinomial over softmax, with replacement, as paddle's.
                action = paddle.multinomial(F.softmax(logits, axis=-1), num_samples=1, replacement=True)
                action_log_probs = categorical_log_prob(logits, action).reshape([1, -1])
                action = action.reshape([1, -1])
                action_entropy = categorical_entropy(logits)
        return value, action, action_log_probs, action_entropy

    def predict(self, obs: Any) -> Any:
        """The greedy action: ``argmax`` of the logits ``(B,)``, or the Gaussian mean ``(B, act_dim)``.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        obs = to_tensor(obs, "float32")
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
        obs = to_tensor(obs, "float32")
        with paddle.no_grad():
            return self.model.value(obs)


def _variance(x: Any) -> Any:
    """Population variance of a 1-D tensor (``paddle.var`` warns about an int division on CPU)."""
    centred = x - x.mean()
    return (centred * centred).mean()


def _unbiased_std(x: Any) -> Any:
    """``x.std()`` of a 1-D tensor as paddle computes it on CPU, without its type-promotion warning."""
    centred = x - paddle.mean(x, keepdim=True)
    return paddle.sqrt(paddle.sum(paddle.pow(centred, 2)) / float(max(int(x.shape[0]) - 1, 1)))
