"""REINFORCE policy gradient (Williams, 1992), as ``parl.algorithms.PolicyGradient``."""

from __future__ import annotations

from typing import Any

from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()

__all__ = ["PolicyGradient"]


class PolicyGradient(Algorithm):
    """Policy gradient: minimise ``mean(-log pi(a|s) * G)``.

    The model's ``forward(obs)`` returns action probabilities (e.g. a softmax), as in PARL.

    Args:
        model: policy network; ``forward(obs) -> prob`` of shape ``(..., act_dim)``.
        lr: learning rate of the Adam optimizer.

    Raises:
        ModelMethodError: if the model does not implement ``forward``.
        TypeError: if ``lr`` is not a number.
    """

    def __init__(self, model: Model, lr: float) -> None:
        check_model_method(model, "forward", type(self).__name__)
        lr = check_number(lr, "lr", type(self).__name__, "PolicyGradient(model, lr=1e-3)")
        super().__init__(model)
        self.optimizer = paddle.optimizer.Adam(learning_rate=lr, parameters=self.model.parameters())

    def predict(self, obs: Any) -> Any:
        """Return action probabilities.

        Args:
            obs: paddle tensor ``(obs_dim,)`` or ``(batch_size, obs_dim)``.

        Returns:
            paddle tensor of probabilities, ``(act_dim,)`` or ``(batch_size, act_dim)``.
        """
        return self.model(obs)

    def learn(self, obs: Any, action: Any, reward: Any) -> Any:
        """One gradient step of REINFORCE.

        Args:
            obs: paddle tensor ``(batch_size, obs_dim)``.
            action: integer paddle tensor ``(batch_size, 1)``.
            reward: paddle tensor ``(batch_size, 1)``: the return (reward-to-go) of each step.

        Returns:
            The loss, a paddle scalar tensor.
        """
        prob = self.model(obs)
        prob = prob / prob.sum(axis=-1, keepdim=True)  # as paddle's Categorical(prob)
        log_prob = paddle.log(paddle.take_along_axis(prob, action.astype("int64"), axis=-1))
        loss = paddle.mean(-1.0 * log_prob * reward)
        self.optimizer.clear_grad()
        loss.backward()
        self.optimizer.step()
        return loss
