"""Deep Q-Network (Mnih et al., 2015), as ``parl.algorithms.DQN``."""

from __future__ import annotations

import copy
from typing import Any

from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()

__all__ = ["DQN"]


class DQN(Algorithm):
    """DQN with a target network: ``y = r + (1 - done) * gamma * max_a' Q_target(s', a')``.

    Args:
        model: Q network; ``forward(obs) -> Q`` of shape ``(batch_size, act_dim)``.
        gamma: discount factor (required, as in PARL, despite the ``None`` default).
        lr: learning rate of the Adam optimizer (required).

    Attributes:
        model, target_model: the online and target Q networks.
        gamma, lr: as given.
        mse_loss: the loss, ``paddle.nn.MSELoss``.
        optimizer: ``paddle.optimizer.Adam`` over ``model``'s parameters.

    Raises:
        ModelMethodError: if the model does not implement ``forward``.
        TypeError: if ``gamma`` or ``lr`` is missing or not a number.
        ValueError: if ``gamma`` is outside ``[0, 1]``.
    """

    def __init__(self, model: Model, gamma: float | None = None, lr: float | None = None) -> None:
        name = type(self).__name__
        check_model_method(model, "forward", name)
        example = f"{name}(model, gamma=0.99, lr=1e-3)"
        self.gamma = check_number(gamma, "gamma", name, example)
        self.lr = check_number(lr, "lr", name, example)
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"{name}: gamma must be in [0, 1], got {self.gamma}")
        super().__init__(model)
        self.target_model = copy.deepcopy(model)
        self.mse_loss = paddle.nn.MSELoss(reduction="mean")
        # Not use_multi_tensor=True: it is ~100 us/step cheaper, but fails when a parameter gets no
        # gradient (e.g. an unused head), which PARL models may have.
        self.optimizer = paddle.optimizer.Adam(learning_rate=self.lr, parameters=self.model.parameters())

    def predict(self, obs: Any) -> Any:
        """Return the Q values ``self.model(obs)``.

        Args:
            obs: paddle tensor ``(obs_dim,)`` or ``(batch_size, obs_dim)``.
        """
        return self.model(obs)

    def _q_of_action(self, obs: Any, action: Any) -> Any:
        pred_values = self.model(obs)
        if len(action.shape) == 1:
            action = action.unsqueeze(-1)
        return paddle.take_along_axis(pred_values, action.astype("int64"), axis=1)

    def _target(self, reward: Any, next_obs: Any, terminal: Any) -> Any:
        max_v = self.target_model(next_obs).max(1, keepdim=True)
        return reward + (1.0 - terminal) * self.gamma * max_v

    def learn(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminal: Any) -> Any:
        """One gradient step on the TD error.

        Args:
            obs: float32 tensor ``(batch_size, obs_dim)``.
            action: integer tensor ``(batch_size, 1)``.
            reward: float32 tensor ``(batch_size, 1)``.
            next_obs: float32 tensor ``(batch_size, obs_dim)``.
            terminal: float32 tensor ``(batch_size, 1)``, 1.0 where the episode terminated
                (not merely truncated by a time limit).

        Returns:
            The loss, a paddle scalar tensor.
        """
        pred_value = self._q_of_action(obs, action)
        with paddle.no_grad():
            target = self._target(reward, next_obs, terminal)
        loss = self.mse_loss(pred_value, target)
        self.optimizer.clear_grad()
        loss.backward()
        self.optimizer.step()
        return loss

    def sync_target(self) -> None:
        """Copy the parameters of ``model`` into ``target_model``."""
        self.model.sync_weights_to(self.target_model)
