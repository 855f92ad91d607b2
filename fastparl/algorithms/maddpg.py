"""Multi-Agent DDPG (Lowe et al., 2017), as ``parl.algorithms.MADDPG``.

One :class:`MADDPG` instance per agent: a decentralised actor ``policy(obs_i)`` and a
centralised critic ``value(obs_n, act_n)`` that sees every agent's observation and action.
Discrete actions are relaxed with PARL's Gumbel-softmax ``SoftCategoricalDistribution``;
continuous (``Box``) actions use ``tanh`` of a diagonal-Gaussian sample.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from fastparl.algorithms.common import ACTOR_CRITIC_METHODS, SoftTargetMixin, check_actor_critic_args
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.paddle.policy_distribution import SoftCategoricalDistribution

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["MADDPG", "SoftPDistribution", "soft_categorical_sample"]

_EXAMPLE = "MADDPG(model, agent_index=0, act_space=env_action_spaces, gamma=0.95, tau=0.01, actor_lr=1e-2, critic_lr=1e-2)"


def soft_categorical_sample(logits: Any) -> Any:
    """``SoftCategoricalDistribution(logits).sample()``: ``softmax(logits + Gumbel noise)``, as PARL's MADDPG.

    Args:
        logits: float32 tensor ``(N, n_actions)`` of unnormalised log-probabilities.

    Returns:
        A differentiable soft one-hot sample, same shape as ``logits``.
    """
    return SoftCategoricalDistribution(logits).sample()


def _is_discrete(space: Any) -> bool:
    return hasattr(space, "n")


def _is_box(space: Any) -> bool:
    return hasattr(space, "high") and hasattr(space, "low") and not hasattr(space, "n")


class SoftPDistribution:
    """PARL's ``SoftPDistribution(logits, act_space)``: pick the relaxed distribution for a space.

    ``Discrete`` (has ``n``): Gumbel-softmax over ``logits``.  ``Box`` (has ``high``):
    ``logits`` is ``(mean, logstd)`` and :meth:`sample` is ``mean + exp(logstd) * N(0, 1)``.

    Args:
        logits: the policy's output (a tensor, or a ``(mean, logstd)`` pair for ``Box``).
        act_space: a ``gymnasium.spaces.Discrete`` or ``Box`` (anything with ``n``, or ``low``/``high``).

    Raises:
        TypeError: for another kind of space, or a ``Box`` policy that is not a pair.
    """

    def __init__(self, logits: Any, act_space: Any) -> None:
        if _is_discrete(act_space):
            self.continuous = False
        elif _is_box(act_space):
            if not (isinstance(logits, (tuple, list)) and len(logits) == 2):
                raise TypeError(
                    "MADDPG: for a Box action space the model's policy(obs) must return (mean, logstd), "
                    f"got {type(logits).__name__}"
                )
            self.continuous = True
        else:
            raise TypeError(
                f"MADDPG: act_space entries must be gymnasium Discrete or Box spaces, got {act_space!r}"
            )
        self.logits = logits

    def sample(self) -> Any:
        """A relaxed (differentiable) sample: a soft one-hot, or a raw Gaussian sample."""
        if not self.continuous:
            return soft_categorical_sample(self.logits)
        mean, logstd = self.logits
        return mean + paddle.exp(logstd) * paddle.randn(mean.shape, dtype=mean.dtype)


class MADDPG(SoftTargetMixin, Algorithm):
    """MADDPG for agent ``agent_index``: a local actor and a centralised critic, as PARL.

    Actor: maximise ``Q(obs_n, act_n with act_i := sample(policy(obs_i)))`` plus ``1e-3``
    times the mean squared policy output (PARL's regulariser).  Critic: MSE between
    ``value(obs_n, act_n)`` and a ``target_q`` computed by the caller (the agent) from every
    agent's target actor and this agent's target critic, :meth:`Q_next`.  Both optimisers are
    Adam with PARL's per-parameter gradient clipping (norm 0.5).  After :meth:`learn`, the
    target model moves towards the model with rate ``tau``.

    Args:
        model: a ``parl.Model`` with ``policy(obs) -> logits`` (``(mean, logstd)`` for a Box
            space), ``value(obs_n, act_n) -> Q`` of shape ``(N,)`` (lists of tensors, one per
            agent), ``get_actor_params()`` and ``get_critic_params()``.
        agent_index: index of this agent in ``act_space`` (and in ``obs_n``/``act_n``).
        act_space: list with every agent's action space (``Discrete`` or ``Box``).
        gamma: discount factor in ``[0, 1]``, used by the caller for ``target_q`` (PARL: 0.95).
        tau: soft-update rate in ``[0, 1]`` (PARL: 0.01).
        actor_lr: Adam learning rate of the actor (PARL: 1e-2).
        critic_lr: Adam learning rate of the critic (PARL: 1e-2).

    Raises:
        ModelMethodError: if the model lacks one of the methods above.
        TypeError: if ``agent_index`` is not an int, ``act_space`` not a non-empty list of
            Discrete/Box spaces, or a hyper-parameter missing or not a number.
        ValueError: if ``agent_index`` is out of range or a hyper-parameter out of range.
    """

    def __init__(
        self,
        model: Model,
        agent_index: int | None = None,
        act_space: Sequence[Any] | None = None,
        gamma: float | None = None,
        tau: float | None = None,
        actor_lr: float | None = None,
        critic_lr: float | None = None,
    ) -> None:
        name = type(self).__name__
        for method in ACTOR_CRITIC_METHODS:
            check_model_method(model, method, name)
        if isinstance(agent_index, bool) or not isinstance(agent_index, int):
            raise TypeError(f"{name} needs agent_index to be an int, got {agent_index!r}; e.g. {_EXAMPLE}")
        if not isinstance(act_space, (list, tuple)) or len(act_space) == 0:
            raise TypeError(
                f"{name} needs act_space to be a non-empty list of every agent's action space, got {act_space!r}; "
                f"e.g. {_EXAMPLE}"
            )
        if not 0 <= agent_index < len(act_space):
            raise ValueError(f"{name}: agent_index must be in [0, {len(act_space)}), got {agent_index}")
        for i, space in enumerate(act_space):
            if not (_is_discrete(space) or _is_box(space)):
                raise TypeError(f"{name}: act_space[{i}] must be a gymnasium Discrete or Box space, got {space!r}")
        args = check_actor_critic_args(
            name, _EXAMPLE, gamma=gamma, tau=tau, actor_lr=actor_lr, critic_lr=critic_lr
        )
        self.agent_index = agent_index
        self.act_space = list(act_space)
        self.continuous_actions = _is_box(self.act_space[agent_index])
        self.gamma, self.tau = args["gamma"], args["tau"]
        self.actor_lr, self.critic_lr = args["actor_lr"], args["critic_lr"]
        super().__init__(model)
        self.target_model = copy.deepcopy(model)
        self.sync_target(decay=0)
        self.actor_optimizer = paddle.optimizer.Adam(
            learning_rate=self.actor_lr, parameters=model.get_actor_params(),
            grad_clip=paddle.nn.ClipGradByNorm(clip_norm=0.5),
        )
        self.critic_optimizer = paddle.optimizer.Adam(
            learning_rate=self.critic_lr, parameters=model.get_critic_params(),
            grad_clip=paddle.nn.ClipGradByNorm(clip_norm=0.5),
        )
        self.actor_loss: Any = None

    def _sample_action(self, model: Model, obs: Any) -> Any:
        logits = model.policy(obs)
        action = SoftPDistribution(logits, self.act_space[self.agent_index]).sample()
        return paddle.tanh(action) if self.continuous_actions else action

    def predict(self, obs: Any, use_target_model: bool = False) -> Any:
        """A relaxed action sample for this agent, as PARL's ``MADDPG.predict``.

        Args:
            obs: float32 tensor ``(N, obs_dim)`` of this agent's observations.
            use_target_model: sample from the target actor instead.

        Returns:
            ``(N, act_dim)``: a soft one-hot (discrete; the env takes its argmax) or an
            action in ``[-1, 1]`` (Box).
        """
        return self._sample_action(self.target_model if use_target_model else self.model, obs)

    def sample(self, obs: Any, use_target_model: bool = False) -> Any:
        """Same as :meth:`predict` (MADDPG's policy is stochastic, as in PARL)."""
        return self.predict(obs, use_target_model)

    def predict_next(self, obs: Any) -> Any:
        """``predict(obs, use_target_model=True)`` (PARL's older name)."""
        return self.predict(obs, use_target_model=True)

    def Q(self, obs_n: Sequence[Any], act_n: Sequence[Any], use_target_model: bool = False) -> Any:  # noqa: N802
        """The centralised critic ``value(obs_n, act_n)``, shape ``(N,)``.

        Args:
            obs_n: one float32 tensor ``(N, obs_dim_i)`` per agent.
            act_n: one float32 tensor ``(N, act_dim_i)`` per agent.
            use_target_model: use the target critic.
        """
        model = self.target_model if use_target_model else self.model
        return model.value(list(obs_n), list(act_n))

    def Q_next(self, obs_n: Sequence[Any], act_n: Sequence[Any]) -> Any:  # noqa: N802
        """``Q(obs_n, act_n, use_target_model=True)`` (PARL's older name)."""
        return self.Q(obs_n, act_n, use_target_model=True)

    def learn(self, obs_n: Sequence[Any], act_n: Sequence[Any], target_q: Any) -> Any:
        """One actor step, one critic step, then a soft target update (PARL's order).

        Args:
            obs_n: one float32 tensor ``(N, obs_dim_i)`` per agent.
            act_n: one float32 tensor ``(N, act_dim_i)`` per agent (the stored actions).
            target_q: float32 tensor ``(N,)``: ``r_i + gamma * (1 - done) * Q_next(obs'_n, act'_n)``.

        Returns:
            The critic loss, a paddle scalar tensor (the actor loss is kept in ``self.actor_loss``).

        Raises:
            ValueError: if ``obs_n`` and ``act_n`` do not have one entry per agent.
        """
        n = len(self.act_space)
        if len(obs_n) != n or len(act_n) != n:
            raise ValueError(
                f"MADDPG.learn: obs_n and act_n need one tensor per agent ({n}), got {len(obs_n)} and {len(act_n)}"
            )
        self.actor_loss = self._actor_learn(obs_n, act_n)
        critic_loss = self._critic_learn(obs_n, act_n, target_q)
        self.sync_target()
        return critic_loss

    def _actor_learn(self, obs_n: Sequence[Any], act_n: Sequence[Any]) -> Any:
        i = self.agent_index
        logits = self.model.policy(obs_n[i])
        action = SoftPDistribution(logits, self.act_space[i]).sample()
        if self.continuous_actions:
            action = paddle.tanh(action)
            logits = paddle.concat(list(logits), axis=-1)
        action_n = list(act_n)
        action_n[i] = action
        cost = -self.Q(obs_n, action_n).mean() + 1e-3 * paddle.square(logits).mean()
        self.actor_optimizer.clear_grad()
        cost.backward()
        self.actor_optimizer.step()
        return cost

    def _critic_learn(self, obs_n: Sequence[Any], act_n: Sequence[Any], target_q: Any) -> Any:
        pred_q = self.Q(obs_n, act_n)
        cost = F.mse_loss(pred_q, paddle.reshape(target_q, pred_q.shape).detach())
        self.critic_optimizer.clear_grad()
        cost.backward()
        self.critic_optimizer.step()
        return cost
