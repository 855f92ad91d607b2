"""The discrete actor-critic model and greedy evaluation shared by the A2C and IMPALA examples."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import paddle
import paddle.nn as nn

import fastparl as parl
from fastparl.utils import LinearDecayScheduler
from fastparl.utils.numpy_mlp import mlp_forward

__all__ = ["CartpoleModel", "DecayAgent", "evaluate"]


def _linear(n_in: int, n_out: int, gain: float) -> nn.Linear:
    return nn.Linear(n_in, n_out, weight_attr=nn.initializer.Orthogonal(gain),
                     bias_attr=nn.initializer.Constant(0.0))


class CartpoleModel(parl.Model):
    """Separate actor and critic MLPs (64-64 tanh) with the methods PARL's A2C and IMPALA call."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64) -> None:
        super().__init__()
        g = math.sqrt(2.0)
        self.a1, self.a2 = _linear(obs_dim, hidden, g), _linear(hidden, hidden, g)
        self.a3 = _linear(hidden, act_dim, 0.01)
        self.c1, self.c2, self.c3 = _linear(obs_dim, hidden, g), _linear(hidden, hidden, g), _linear(hidden, 1, 1.0)

    def policy(self, obs: paddle.Tensor) -> paddle.Tensor:
        """Logits ``(B, act_dim)``."""
        return self.a3(paddle.tanh(self.a2(paddle.tanh(self.a1(obs)))))

    def value(self, obs: paddle.Tensor) -> paddle.Tensor:
        """Values ``(B,)``."""
        return self.c3(paddle.tanh(self.c2(paddle.tanh(self.c1(obs))))).squeeze(axis=1)

    def policy_and_value(self, obs: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        """``(logits (B, act_dim), values (B,))``."""
        return self.policy(obs), self.value(obs)


class DecayAgent(parl.Agent):
    """PARL's ``AtariAgent`` base: learning rate decayed linearly by env steps, constant entropy
    coefficient, and a numpy greedy ``predict`` on a weights dict (no paddle call)."""

    def __init__(self, algorithm: parl.Algorithm, start_lr: float, max_sample_steps: int, entropy_coeff: float) -> None:
        super().__init__(algorithm)
        self.lr_scheduler = LinearDecayScheduler(start_lr, max_sample_steps)
        self.entropy_coeff = entropy_coeff

    def predict(self, obs: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        """Greedy actions ``(B,)`` from numpy weights."""
        return mlp_forward(weights, "a", np.asarray(obs, np.float32)).argmax(axis=1)


def evaluate(agent: Any, env: gym.Env, episodes: int) -> float:
    """Mean return of ``episodes`` greedy episodes (``agent.predict(obs_batch, weights)``)."""
    weights = agent.get_weights()
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(agent.predict(obs[None], weights)[0]))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))
