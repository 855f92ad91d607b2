"""Model and agent of the PPO example: PARL's ``MujocoModel``/``PPOAgent`` contract, with numpy acting.

``PPOModel`` has separate actor and critic MLPs (64-64, tanh, orthogonal init, as CleanRL and
Stable-Baselines3; PARL's MujocoModel shares the trunk) and implements PARL's ``policy`` and
``value``.  ``PPOAgent`` acts for all envs at once in numpy on zero-copy views of the paddle
weights (:class:`fastparl.core.NumpyMLP`), so a vector step costs no paddle eager call, and
learns from a :class:`fastparl.data.RolloutStorage` exactly as PARL's ``PPOAgent.learn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import paddle
import paddle.nn as nn

import fastparl as parl
from fastparl.core import NumpyMLP
from fastparl.data import RolloutStorage
from fastparl.utils import LinearDecayScheduler

__all__ = ["PPOModel", "PPOAgent"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _linear(n_in: int, n_out: int, gain: float) -> nn.Linear:
    return nn.Linear(n_in, n_out, weight_attr=nn.initializer.Orthogonal(gain),
                     bias_attr=nn.initializer.Constant(0.0))


class PPOModel(parl.Model):
    """Actor-critic MLPs for vector observations, discrete or continuous actions.

    Args:
        obs_dim: size of the (flat) observation.
        act_dim: number of discrete actions, or size of the continuous action.
        continuous: Gaussian policy with a state-independent log-std (PARL's ``fc_pi_std``).
        hidden: width of the two hidden layers.
    """

    def __init__(self, obs_dim: int, act_dim: int, continuous: bool = False, hidden: int = 64) -> None:
        super().__init__()
        g = math.sqrt(2.0)
        self.continuous = continuous
        self.a1, self.a2 = _linear(obs_dim, hidden, g), _linear(hidden, hidden, g)
        self.a3 = _linear(hidden, act_dim, 0.01)
        self.c1, self.c2, self.c3 = _linear(obs_dim, hidden, g), _linear(hidden, hidden, g), _linear(hidden, 1, 1.0)
        self.fc_pi_std = self.create_parameter([1, act_dim], default_initializer=nn.initializer.Constant(0.0))
        if not continuous:
            self.fc_pi_std.stop_gradient = True  # unused by discrete policies

    def value(self, obs: paddle.Tensor) -> paddle.Tensor:
        """V(obs), shape ``(B, 1)``."""
        return self.c3(paddle.tanh(self.c2(paddle.tanh(self.c1(obs)))))

    def policy(self, obs: paddle.Tensor) -> Any:
        """Logits ``(B, act_dim)``, or ``(mean (B, act_dim), std (1, act_dim))`` if continuous."""
        out = self.a3(paddle.tanh(self.a2(paddle.tanh(self.a1(obs)))))
        if self.continuous:
            return out, paddle.exp(self.fc_pi_std)
        return out


class PPOAgent(parl.Agent):
    """PARL's ``PPOAgent`` (``sample``/``predict``/``value``/``learn(rollout)``) acting in numpy.

    Args:
        algorithm: a :class:`fastparl.algorithms.PPO` whose model is a :class:`PPOModel`.
        num_updates: rollouts in the run (for the linear learning-rate decay).
        update_epochs: passes over each rollout.
        num_minibatches: minibatches per pass.
        lr_decay: decay the learning rate linearly to 0 over ``num_updates``.
        initial_lr: the starting learning rate.
        clip_decay: decay the algorithm's ``clip_param`` linearly to 0 with the learning rate
            (rl-baselines3-zoo's ``clip_range: lin_0.2`` for CartPole); needs ``lr_decay``.
        seed: seed of the action-sampling and minibatch generators.
    """

    def __init__(self, algorithm: parl.Algorithm, num_updates: int, update_epochs: int = 10,
                 num_minibatches: int = 32, lr_decay: bool = True, initial_lr: float = 3e-4, seed: int = 0,
                 clip_decay: bool = False) -> None:
        super().__init__(algorithm)
        if clip_decay and not lr_decay:
            raise ValueError("PPOAgent: clip_decay=True follows the learning-rate schedule; it needs lr_decay=True")
        self.initial_lr = initial_lr
        self.initial_clip = algorithm.clip_param if clip_decay else None
        m = algorithm.model
        self.continuous = bool(algorithm.continuous_action)
        self._pi = NumpyMLP([m.a1, m.a2, m.a3], activation="tanh")
        self._v = NumpyMLP([m.c1, m.c2, m.c3], activation="tanh")
        self._std_param = m.fc_pi_std
        self._std_ptr = -1
        self._log_std = np.zeros(0, np.float32)
        self.update_epochs, self.num_minibatches = update_epochs, num_minibatches
        self.lr_scheduler = LinearDecayScheduler(initial_lr, num_updates) if lr_decay else None
        self.rng = np.random.default_rng(seed)
        self.diagnostics: dict[str, float] = {}

    def value(self, obs: np.ndarray) -> np.ndarray:
        """V(obs) ``(B,)`` float32."""
        return self._v(obs)[:, 0]

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch: argmax ``(B,)`` int64, or the mean ``(B, act_dim)``."""
        out = self._pi(obs)
        return out if self.continuous else out.argmax(axis=-1)

    def sample(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sample actions for a batch ``(B, obs_dim)``.

        Returns:
            ``(value (B,), action, log_prob (B,), entropy (B,))`` with ``action`` ``(B,)`` int64
            (discrete) or ``(B, act_dim)`` float32 (continuous, unclipped).
        """
        value = self.value(obs)
        out = self._pi(obs)
        if self.continuous:
            if self._std_param.data_ptr() != self._std_ptr:  # zero-copy view, updated in place by Adam
                self._log_std, self._std_ptr = np.from_dlpack(self._std_param.detach()), self._std_param.data_ptr()
            log_std = self._log_std[0]
            noise = self.rng.standard_normal(out.shape, dtype=np.float32)
            action = out + np.exp(log_std) * noise
            log_prob = (-0.5 * noise * noise - log_std - _HALF_LOG_2PI).sum(axis=-1)
            entropy = np.full(len(obs), (0.5 + _HALF_LOG_2PI + log_std).sum(), np.float32)
            return value, action, log_prob.astype(np.float32), entropy
        z = out - out.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        cdf = np.exp(log_p).cumsum(axis=-1)
        u = self.rng.random((len(obs), 1)) * cdf[:, -1:]
        action = np.minimum((cdf < u).sum(axis=-1), out.shape[-1] - 1)
        log_prob = np.take_along_axis(log_p, action[:, None], axis=-1)[:, 0]
        entropy = -(np.exp(log_p) * log_p).sum(axis=-1)
        return value, action, log_prob.astype(np.float32), entropy.astype(np.float32)

    def learn(self, rollout: RolloutStorage) -> tuple[float, float, float, float | None]:
        """``update_epochs`` passes of ``num_minibatches`` shuffled minibatches over ``rollout``.

        Returns:
            Mean ``(value_loss, action_loss, entropy_loss)`` over the minibatches, and the learning rate used;
            :attr:`diagnostics` gets the means of CleanRL's approx. KL and clip fraction over the
            minibatches, and the explained variance of the rollout's values.
        """
        lr = self.lr_scheduler.step(step_num=1) if self.lr_scheduler is not None else None
        if self.initial_clip is not None:  # the zoo's lin_0.2: epsilon shrinks with the learning rate
            self.alg.clip_param = self.initial_clip * lr / self.initial_lr
        batch = rollout.num_filled * rollout.num_envs
        size = max(1, batch // self.num_minibatches)
        totals, kl_clip, n = np.zeros(3), np.zeros(2), 0
        for _ in range(self.update_epochs):
            for mb in rollout.minibatches(size, rng=self.rng, drop_last=batch >= 2 * size):
                losses = self.alg.learn(mb["obs"], mb["actions"], mb["values"], mb["returns"], mb["logprobs"],
                                        mb["advantages"], lr)
                totals += losses
                kl_clip += (self.alg.diagnostics["approx_kl"], self.alg.diagnostics["clip_fraction"])
                n += 1
        v, a, e = totals / max(n, 1)
        values, returns = rollout.values[: rollout.num_filled], rollout.returns[: rollout.num_filled]
        var = float(np.var(returns))
        self.diagnostics = {"approx_kl": float(kl_clip[0] / max(n, 1)), "clip_fraction": float(kl_clip[1] / max(n, 1)),
                            "explained_variance": float("nan") if var == 0 else 1.0 - float(np.var(returns - values)) / var}
        return float(v), float(a), float(e), lr
