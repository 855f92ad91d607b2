"""OAC on a continuous-control gymnasium task (Pendulum-v1, or MuJoCo such as HalfCheetah-v5).

PARL's OAC example (examples/OAC) with ``import fastparl as parl``: the SAC example's
``MujocoModel`` (Gaussian actor and twin critics, 256-256; PARL's OAC model is the same),
``OACAgent`` (PARL's ``MujocoAgent``: ``sample`` is the optimistic exploration action, here in numpy),
``parl.algorithms.OAC`` with PARL's ``beta=4.66``, ``delta=23.53`` and ``alpha=0.2``, and
``parl.utils.ReplayMemory``; the loop is in ``examples/_offpolicy.py``.

    python examples/OAC/train.py --env Pendulum-v1 --seed 0 --total-steps 20000 --warmup-steps 1000
    python examples/OAC/train.py --env HalfCheetah-v5 --seed 0 --total-steps 1000000
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

import fastparl as parl
from fastparl.utils.arguments import parse_args as fastparl_parse_args

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "SAC"))
sys.path.insert(0, os.path.dirname(HERE))
from _offpolicy import OffPolicyArgs, evaluate, train as train_loop  # noqa: E402,F401
from sac_model import LOG_SIG_MAX, LOG_SIG_MIN, MujocoAgent, MujocoModel  # noqa: E402


@dataclass
class Args(OffPolicyArgs):
    alpha: float = 0.2
    """entropy temperature (PARL: 0.2)"""
    beta: float = 4.66
    """weight of the critics' disagreement in the optimistic Q bound (PARL: 4.66)"""
    delta: float = 23.53
    """KL budget of the optimistic shift of the exploration policy (PARL: 23.53)"""


class OACAgent(MujocoAgent):
    """PARL's OAC ``MujocoAgent``, acting in numpy: ``predict`` is ``tanh(mean)``, ``sample`` the optimistic action.

    ``sample`` computes :meth:`fastparl.algorithms.OAC.get_optimistic_exploration_action` for one
    observation in numpy on zero-copy views of the weights (the gradient of ``Q_UB`` with respect
    to the action is back-propagated by hand through the two ReLU critics), about 50x cheaper than
    the paddle call PARL's agent makes every step.  :meth:`optimistic_mean` is the deterministic part.

    Args:
        algorithm: ``parl.algorithms.OAC`` over a ``MujocoModel``.
        act_dim: action size.
    """

    def __init__(self, algorithm: parl.Algorithm, act_dim: int) -> None:
        super().__init__(algorithm, act_dim)
        critic = algorithm.model.critic_model
        self._layers = [critic.l1, critic.l2, critic.l3, critic.l4, critic.l5, critic.l6]
        self._ptrs: list[int] = []
        self._views: list[tuple[np.ndarray, np.ndarray]] = []

    def _critic_views(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Zero-copy ``(weight (in, out), bias)`` views of the six critic layers, rebuilt if paddle re-allocates."""
        ptrs = [layer.weight.data_ptr() for layer in self._layers]
        if ptrs != self._ptrs:
            self._views = [(np.from_dlpack(x.weight.detach()), np.from_dlpack(x.bias.detach())) for x in self._layers]
            self._ptrs = ptrs
        return self._views

    @staticmethod
    def _q_and_grad(views: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray,
                    action: np.ndarray) -> tuple[float, np.ndarray]:
        """``Q(obs, action)`` and ``dQ/daction`` of a 3-layer ReLU critic, back-propagated by hand."""
        (w1, b1), (w2, b2), (w3, b3) = views
        h1 = np.concatenate([obs, action]) @ w1 + b1
        m1 = h1 > 0
        h2 = (h1 * m1) @ w2 + b2
        m2 = h2 > 0
        q = float((h2 * m2) @ w3[:, 0] + b3[0])
        grad_x = w1 @ (m1 * (w2 @ (m2 * w3[:, 0])))
        return q, grad_x[len(obs):]

    def optimistic_mean(self, obs: np.ndarray, pre_tanh: np.ndarray, std: np.ndarray) -> np.ndarray:
        """``mu_E = mu_T + sqrt(2 delta) Sigma g / sqrt(g' Sigma g)`` with ``g = dQ_UB/dmu_T`` at ``mu_T = pre_tanh``."""
        action = np.tanh(pre_tanh)
        views = self._critic_views()
        (q1, g1), (q2, g2) = self._q_and_grad(views[:3], obs, action), self._q_and_grad(views[3:], obs, action)
        grad_a = (g1 + g2) / 2.0 + self.alg.beta * np.sign(q1 - q2) * (g1 - g2) / 2.0
        grad = grad_a * (1.0 - action * action)  # through the tanh
        sigma = std * std
        denom = np.sqrt(np.sum(grad * grad * sigma)) + 10e-6
        return pre_tanh + np.sqrt(2.0 * self.alg.delta) * sigma * grad / denom

    def sample(self, obs: np.ndarray) -> np.ndarray:
        """The optimistic exploration action ``tanh(N(mu_E, Sigma))`` for one observation, float32 ``(act_dim,)``."""
        obs = np.asarray(obs, np.float32)
        h = np.maximum(self._trunk(obs), 0.0)
        std = np.exp(np.clip(self._log_std(h), LOG_SIG_MIN, LOG_SIG_MAX))
        pre = self._mean(h) + std * np.random.standard_normal(self.act_dim)
        mu_e = self.optimistic_mean(obs, pre, std)
        return np.tanh(mu_e + std * np.random.standard_normal(self.act_dim)).astype(np.float32)


def make_agent(obs_dim: int, act_dim: int, args: Args) -> OACAgent:
    """PARL's OAC setup: model, algorithm, agent."""
    model = MujocoModel(obs_dim, act_dim, args.hidden)
    alg = parl.algorithms.OAC(model, gamma=args.gamma, tau=args.tau, alpha=args.alpha, beta=args.beta,
                              delta=args.delta, actor_lr=args.actor_lr, critic_lr=args.critic_lr)
    return OACAgent(alg, act_dim)


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"eval_return": ..., "wall_time": ..., "env_steps": ...}``."""
    return train_loop("oac", args, make_agent)


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
