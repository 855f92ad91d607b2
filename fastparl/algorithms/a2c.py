"""Advantage Actor-Critic (Mnih et al. 2016, arXiv:1602.01783; synchronous A2C), as ``parl.algorithms.A2C``.

Same constructor, methods, optimizer (Adam with a global gradient-norm clip of 40) and summed
losses as PARL 2.x's paddle ``A2C``; ``sample`` comes from PARL's torch ``A2C``.  The entropy
coefficient is passed to :meth:`A2C.learn` and follows PARL's sign convention: the entropy term
is *added* to the loss, so a negative ``entropy_coeff`` (PARL's ``-0.01``) rewards entropy.
"""

from __future__ import annotations

from typing import Any

from fastparl.algorithms.common import categorical_entropy, categorical_log_prob, to_tensor
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["A2C"]


class A2C(Algorithm):
    """A2C for discrete actions.

    The model implements ``policy(obs) -> logits (B, act_dim)``, ``value(obs) -> (B,)`` and
    ``policy_and_value(obs) -> (logits, values)``, as in PARL.  The loss of a batch is::

        total = -sum(log pi(a|s) * A) + vf_loss_coeff * 0.5 * sum((V(s) - target)^2) + entropy_coeff * sum(H)

    Args:
        model: a :class:`fastparl.Model` with ``policy``, ``value`` and ``policy_and_value``.
        vf_loss_coeff: weight of the value loss (required, as PARL asserts it is a number).

    Raises:
        ModelMethodError: if the model lacks one of the three methods.
        TypeError: if ``vf_loss_coeff`` is not a number.
    """

    def __init__(self, model: Model, vf_loss_coeff: float | None = None) -> None:
        name = type(self).__name__
        for method in ("value", "policy", "policy_and_value"):
            check_model_method(model, method, name)
        self.vf_loss_coeff = check_number(vf_loss_coeff, "vf_loss_coeff", name, "A2C(model, vf_loss_coeff=0.5)")
        super().__init__(model)
        self.optimizer = paddle.optimizer.Adam(
            learning_rate=0.001, parameters=self.model.parameters(),
            grad_clip=paddle.nn.ClipGradByGlobalNorm(clip_norm=40.0))

    def learn(self, obs: Any, actions: Any, advantages: Any, target_values: Any, learning_rate: float,
              entropy_coeff: float) -> tuple[Any, Any, Any, Any]:
        """One gradient step on a batch of (possibly several envs') transitions.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor (or numpy array).
            actions: ``(B,)`` int64 actions.
            advantages: ``(B,)`` float32 advantages (e.g. GAE).
            target_values: ``(B,)`` float32 value targets (advantages + values).
            learning_rate: Adam's learning rate for this step.
            entropy_coeff: weight of the summed entropy in the loss (negative to maximise entropy).

        Returns:
            ``(total_loss, pi_loss, vf_loss, entropy)`` as paddle scalar tensors (sums over the batch).
        """
        obs = to_tensor(obs, "float32")
        actions = to_tensor(actions, "int64").reshape([-1])
        advantages = to_tensor(advantages, "float32").reshape([-1])
        target_values = to_tensor(target_values, "float32").reshape([-1])

        logits, values = self.model.policy_and_value(obs)
        actions_log_probs = categorical_log_prob(logits, actions)
        pi_loss = -1.0 * paddle.sum(actions_log_probs * advantages)

        delta = values.reshape([-1]) - target_values
        vf_loss = 0.5 * paddle.sum(paddle.square(delta))

        entropy = paddle.sum(categorical_entropy(logits))

        total_loss = pi_loss + vf_loss * self.vf_loss_coeff + entropy * float(entropy_coeff)
        self.optimizer.set_lr(float(learning_rate))
        total_loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        return total_loss, pi_loss, vf_loss, entropy

    def prob_and_value(self, obs: Any) -> tuple[Any, Any]:
        """Action probabilities ``(B, act_dim)`` and values ``(B,)``.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        with paddle.no_grad():
            logits, values = self.model.policy_and_value(to_tensor(obs, "float32"))
            return F.softmax(logits, axis=-1), values

    def sample(self, obs: Any) -> tuple[Any, Any]:
        """Sampled actions ``(B,)`` int64 and values ``(B,)`` (PARL's torch ``A2C.sample``).

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        probs, values = self.prob_and_value(obs)
        actions = paddle.multinomial(probs, num_samples=1).reshape([-1])
        return actions, values

    def predict(self, obs: Any) -> Any:
        """Greedy actions ``(B,)`` int64.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        with paddle.no_grad():
            return paddle.argmax(self.model.policy(to_tensor(obs, "float32")), axis=1)

    def value(self, obs: Any) -> Any:
        """Values ``(B,)`` (as the model returns them).

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor.
        """
        with paddle.no_grad():
            return self.model.value(to_tensor(obs, "float32"))
