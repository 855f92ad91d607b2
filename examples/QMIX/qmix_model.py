"""Models of the QMIX example: PARL's ``examples/QMIX`` ``RNNModel`` (the agents' Q network) and ``QMixerModel``."""

from __future__ import annotations

import fastparl as parl
from fastparl.core import import_paddle

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["QMixerModel", "RNNModel"]


class RNNModel(parl.Model):
    """One agent's recurrent Q network, shared by all agents: ``fc -> relu -> GRUCell -> fc``.

    Args:
        input_shape: size of an agent's input (its observation, last action and id, one-hot).
        n_actions: number of discrete actions.
        rnn_hidden_dim: width of the GRU state (PARL: 64).
    """

    def __init__(self, input_shape: int, n_actions: int, rnn_hidden_dim: int = 64) -> None:
        super().__init__()
        self.rnn_hidden_dim = rnn_hidden_dim
        self.fc1 = nn.Linear(input_shape, rnn_hidden_dim)
        self.rnn = nn.GRUCell(input_size=rnn_hidden_dim, hidden_size=rnn_hidden_dim)
        self.fc2 = nn.Linear(rnn_hidden_dim, n_actions)

    def init_hidden(self) -> paddle.Tensor:
        """The initial GRU state, ``(1, rnn_hidden_dim)`` zeros."""
        return paddle.zeros((1, self.rnn_hidden_dim), dtype="float32")

    def forward(self, inputs: paddle.Tensor, hidden_state: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        """``(q (N, n_actions), next hidden (N, rnn_hidden_dim))`` for ``N`` agent inputs."""
        x = F.relu(self.fc1(inputs))
        _, h = self.rnn(x, hidden_state.reshape([-1, self.rnn_hidden_dim]))
        return self.fc2(h), h


class QMixerModel(parl.Model):
    """The mixing network: ``Q_tot = w2 . elu(w1 . Q_agents + b1) + b2`` with ``|w|`` made from the state.

    The weights are the absolute values of hypernetwork outputs, so ``Q_tot`` is monotonic in
    every agent's Q value: the agents' greedy actions are the greedy joint action.

    Args:
        n_agents: number of agents.
        state_shape: size of the global state.
        mixing_embed_dim: width of the mixing layer (PARL: 32).
        hypernet_layers: 1 or 2 layers in the weight hypernetworks (PARL: 2).
        hypernet_embed_dim: their hidden width when 2 layers (PARL: 64).

    Raises:
        ValueError: if ``hypernet_layers`` is not 1 or 2.
    """

    def __init__(self, n_agents: int, state_shape: int, mixing_embed_dim: int = 32, hypernet_layers: int = 2,
                 hypernet_embed_dim: int = 64) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.state_shape = state_shape
        self.embed_dim = mixing_embed_dim
        if hypernet_layers == 1:
            self.hyper_w_1 = nn.Linear(state_shape, self.embed_dim * n_agents)
            self.hyper_w_2 = nn.Linear(state_shape, self.embed_dim)
        elif hypernet_layers == 2:
            self.hyper_w_1 = nn.Sequential(nn.Linear(state_shape, hypernet_embed_dim), nn.ReLU(),
                                           nn.Linear(hypernet_embed_dim, self.embed_dim * n_agents))
            self.hyper_w_2 = nn.Sequential(nn.Linear(state_shape, hypernet_embed_dim), nn.ReLU(),
                                           nn.Linear(hypernet_embed_dim, self.embed_dim))
        else:
            raise ValueError(f"hypernet_layers must be 1 or 2, got {hypernet_layers}")
        self.hyper_b_1 = nn.Linear(state_shape, self.embed_dim)
        self.hyper_b_2 = nn.Sequential(nn.Linear(state_shape, self.embed_dim), nn.ReLU(), nn.Linear(self.embed_dim, 1))

    def forward(self, agent_qs: paddle.Tensor, states: paddle.Tensor) -> paddle.Tensor:
        """``Q_tot (B, T, 1)`` from ``agent_qs (B, T, n_agents)`` and ``states (B, T, state_shape)``."""
        batch_size = agent_qs.shape[0]
        states = states.reshape([-1, self.state_shape])
        agent_qs = agent_qs.reshape([-1, 1, self.n_agents])
        w1 = paddle.abs(self.hyper_w_1(states)).reshape([-1, self.n_agents, self.embed_dim])
        b1 = self.hyper_b_1(states).reshape([-1, 1, self.embed_dim])
        w2 = paddle.abs(self.hyper_w_2(states)).reshape([-1, self.embed_dim, 1])
        b2 = self.hyper_b_2(states).reshape([-1, 1, 1])
        hidden = F.elu(paddle.bmm(agent_qs, w1) + b1)
        return (paddle.bmm(hidden, w2) + b2).reshape([batch_size, -1, 1])
