"""Double DQN (van Hasselt et al., 2016), as ``parl.algorithms.DDQN``."""

from __future__ import annotations

from typing import Any

from fastparl.algorithms.dqn import DQN
from fastparl.core import import_paddle

paddle = import_paddle()

__all__ = ["DDQN"]


class DDQN(DQN):
    """Double DQN: the online network picks ``a'``, the target network evaluates it.

    ``y = r + (1 - done) * gamma * Q_target(s', argmax_a' Q(s', a'))``.  Same constructor,
    attributes and ``learn`` signature as :class:`~fastparl.algorithms.DQN`.
    """

    def _target(self, reward: Any, next_obs: Any, terminal: Any) -> Any:
        greedy_action = self.model(next_obs).argmax(1, keepdim=True)
        max_v = paddle.take_along_axis(self.target_model(next_obs), greedy_action, axis=1)
        return reward + (1.0 - terminal) * self.gamma * max_v
