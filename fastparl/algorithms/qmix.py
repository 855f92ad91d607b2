"""QMIX (Rashid et al., ICML 2018, arXiv:1803.11485), as ``parl.algorithms.QMIX``.

Cooperative multi-agent Q-learning with centralised training and decentralised execution: each
agent has a recurrent Q network ``Q_i(o_i, h_i, a_i)`` (one ``agent_model`` shared by all agents,
the agent's id in its observation), and a mixing network combines the chosen ``Q_i`` into
``Q_tot(s, Q_1..Q_n)`` with non-negative weights generated from the global state (so the greedy
joint action is every agent's own greedy action).  The TD target is
``r + gamma (1 - terminated) Q_tot,target(s', argmax_a' Q_i(o'_i, a'))`` (Double Q by default).

Same constructor, methods, optimizer (RMSProp, rho 0.99, eps 1e-5, optional global-norm clip) and
batch layout as PARL 2.x's paddle ``QMIX``.  One difference: PARL masks the loss with
``(1 - filled) * (1 - terminated)``, which also drops the transition *into* a terminal state,
so a task's final reward (e.g. SMAC's win bonus) never reaches the loss; fastparl masks only the
padding (``1 - filled``), as pymarl and the paper.  The two agree on tasks that end by time limit.
"""

from __future__ import annotations

import copy
from typing import Any

from fastparl.algorithms.common import check_bool
from fastparl.core import Algorithm, Model, check_model_method, import_paddle
from fastparl.core.checks import check_number, check_range

paddle = import_paddle()
F = paddle.nn.functional

__all__ = ["QMIX"]

_EXAMPLE = "QMIX(agent_model, qmixer_model, double_q=True, gamma=0.99, lr=5e-4, clip_grad_norm=10.0)"


class QMIX(Algorithm):
    """QMIX's learner over batches of whole (padded) episodes.

    Args:
        agent_model: the agents' shared Q network: ``init_hidden() -> (1, hidden)`` and
            ``forward(obs (B * n_agents, obs_dim), hidden) -> (q (B * n_agents, n_actions), hidden)``.
        qmixer_model: the mixing network: ``forward(agent_qs (B, T, n_agents), states (B, T, state_dim))
            -> (B, T, 1)``, with an ``n_agents`` attribute.
        double_q: pick the target's actions with the online network (Double DQN).
        gamma: discount factor in ``[0, 1]``.
        lr: RMSProp learning rate.
        clip_grad_norm: clip the gradients' global norm to this (``None``: no clipping).

    Attributes:
        agent_model, qmixer_model, target_agent_model, target_qmixer_model: the networks.
        hidden_states: the agents' recurrent state, ``(B, n_agents, hidden)``, set by
            :meth:`_init_hidden_states` and advanced by the caller through :meth:`predict_local_q`.

    Raises:
        ModelMethodError: if a model lacks a method above.
        TypeError: if ``qmixer_model`` has no ``n_agents`` or a hyper-parameter has the wrong type.
        ValueError: if a hyper-parameter is out of range.
    """

    def __init__(
        self,
        agent_model: Model,
        qmixer_model: Model,
        double_q: bool = True,
        gamma: float = 0.99,
        lr: float = 0.0005,
        clip_grad_norm: float | None = None,
    ) -> None:
        name = type(self).__name__
        check_model_method(agent_model, "init_hidden", name)
        check_model_method(agent_model, "forward", name)
        check_model_method(qmixer_model, "forward", name)
        n_agents = getattr(qmixer_model, "n_agents", None)
        if isinstance(n_agents, bool) or not isinstance(n_agents, int) or n_agents < 1:
            raise TypeError(f"{name}: qmixer_model needs an int attribute n_agents >= 1 (the number of agents "
                            f"it mixes), got {n_agents!r}")
        self.double_q = check_bool(double_q, "double_q", name)
        self.gamma = check_number(gamma, "gamma", name, _EXAMPLE)
        check_range(self.gamma, "gamma", 0.0, 1.0, name)
        self.lr = check_number(lr, "lr", name, _EXAMPLE)
        if self.lr <= 0:
            raise ValueError(f"{name}: lr must be > 0, got {self.lr}; e.g. {_EXAMPLE}")
        self.clip_grad_norm = None if clip_grad_norm is None else check_number(
            clip_grad_norm, "clip_grad_norm", name, _EXAMPLE)
        super().__init__(agent_model)  # self.model, as every Algorithm (get_weights: the agents' network)
        self.agent_model, self.qmixer_model = agent_model, qmixer_model
        self.target_agent_model = copy.deepcopy(agent_model)
        self.target_qmixer_model = copy.deepcopy(qmixer_model)
        self.n_agents = n_agents
        self.params = list(agent_model.parameters()) + list(qmixer_model.parameters())
        clip = paddle.nn.ClipGradByGlobalNorm(clip_norm=self.clip_grad_norm) if self.clip_grad_norm else None
        self.optimizer = paddle.optimizer.RMSProp(learning_rate=self.lr, rho=0.99, epsilon=1e-5,
                                                  parameters=self.params, grad_clip=clip)
        self.hidden_states: Any = None
        self.target_hidden_states: Any = None

    def _init_hidden_states(self, batch_size: int) -> None:
        """Reset the agents' recurrent state for ``batch_size`` episodes (PARL's agent calls it per episode)."""
        self.hidden_states = self.agent_model.init_hidden().unsqueeze(0).expand([batch_size, self.n_agents, -1])
        self.target_hidden_states = self.target_agent_model.init_hidden().unsqueeze(0).expand(
            [batch_size, self.n_agents, -1])

    def predict_local_q(self, obs: Any, hidden_state: Any) -> tuple[Any, Any]:
        """``agent_model(obs, hidden_state)``: every agent's Q values and its next hidden state."""
        return self.agent_model(obs, hidden_state)

    def learn(self, state_batch: Any, actions_batch: Any, reward_batch: Any, terminated_batch: Any, obs_batch: Any,
              available_actions_batch: Any, filled_batch: Any) -> tuple[float, float]:
        """One RMSProp step on a batch of ``B`` episodes of ``T`` steps (padded to the episode limit).

        Step ``t`` holds the state and observations *before* the agents act, their actions, the
        reward and ``terminated`` that followed, and ``filled`` = 1 on padding after the episode.
        The last step only provides the bootstrap state (its reward and actions are not used).

        Args:
            state_batch: float32 ``(B, T, state_dim)``.
            actions_batch: int64 ``(B, T, n_agents)``.
            reward_batch: float32 ``(B, T, 1)``.
            terminated_batch: float32 ``(B, T, 1)``.
            obs_batch: float32 ``(B, T, n_agents, obs_dim)``.
            available_actions_batch: int64 ``(B, T, n_agents, n_actions)``, 1 where an action is allowed.
            filled_batch: float32 ``(B, T, 1)``, 1 on padding.

        Returns:
            ``(loss, mean_td_error)`` as floats, averaged over the unmasked steps.
        """
        batch_size, episode_len = state_batch.shape[0], state_batch.shape[1]
        n_actions = available_actions_batch.shape[-1]
        self._init_hidden_states(batch_size)
        reward = reward_batch[:, :-1, :]
        actions = actions_batch[:, :-1, :]
        terminated = terminated_batch[:, :-1, :]
        mask = 1 - filled_batch[:, :-1, :]

        local_qs, target_local_qs = [], []
        for t in range(episode_len):  # unroll the recurrent agents over the episode
            obs = obs_batch[:, t, :, :].reshape([-1, obs_batch.shape[-1]])
            local_q, self.hidden_states = self.agent_model(obs, self.hidden_states)
            local_qs.append(local_q.reshape([batch_size, self.n_agents, -1]))
            with paddle.no_grad():
                target_q, self.target_hidden_states = self.target_agent_model(obs, self.target_hidden_states)
            target_local_qs.append(target_q.reshape([batch_size, self.n_agents, -1]))
        local_qs = paddle.stack(local_qs, axis=1)  # (B, T, n_agents, n_actions)
        target_local_qs = paddle.stack(target_local_qs[1:], axis=1)  # (B, T - 1, n_agents, n_actions)

        chosen_local_qs = paddle.sum(local_qs[:, :-1] * F.one_hot(actions, num_classes=n_actions), axis=-1)
        unavailable = (available_actions_batch == 0).astype("float32")
        target_local_qs = target_local_qs - 1e8 * unavailable[:, 1:]
        if self.double_q:  # the online network picks a', the target network evaluates it
            greedy = paddle.argmax(local_qs.detach() - 1e8 * unavailable, axis=-1)[:, 1:]
            target_max_qs = paddle.sum(target_local_qs * F.one_hot(greedy, num_classes=n_actions), axis=-1)
        else:
            target_max_qs = target_local_qs.max(axis=3)

        q_tot = self.qmixer_model(chosen_local_qs, state_batch[:, :-1, :])
        with paddle.no_grad():
            target_q_tot = self.target_qmixer_model(target_max_qs, state_batch[:, 1:, :])
            target = reward + self.gamma * (1 - terminated) * target_q_tot
        masked_td_error = (target - q_tot) * mask
        loss = (masked_td_error**2).sum() / mask.sum()
        self.optimizer.clear_grad()
        loss.backward()
        self.optimizer.step()
        out = paddle.stack([loss, masked_td_error.sum() / mask.sum()]).numpy()
        return float(out[0]), float(out[1])

    def sync_target(self) -> None:
        """Copy the agent and mixer networks into their targets (PARL: every ``update_target_interval`` learns)."""
        self.agent_model.sync_weights_to(self.target_agent_model)
        self.qmixer_model.sync_weights_to(self.target_qmixer_model)
