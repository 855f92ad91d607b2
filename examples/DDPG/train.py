"""DDPG on a continuous-control gymnasium task (Pendulum-v1, or MuJoCo such as HalfCheetah-v5).

PARL's DDPG example (examples/DDPG) with ``import fastparl as parl``: ``MujocoModel`` (actor and
a critic, 256-256), ``MujocoAgent`` (Gaussian exploration noise 0.1), ``parl.algorithms.DDPG``
and ``parl.utils.ReplayMemory``; the loop is in ``examples/_offpolicy.py``.

    python examples/DDPG/train.py --env Pendulum-v1 --seed 0 --total-steps 20000 --warmup-steps 1000
    python examples/DDPG/train.py --env HalfCheetah-v5 --seed 0 --total-steps 1000000
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import fastparl as parl
from fastparl.utils.arguments import parse_args as fastparl_parse_args

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _offpolicy import OffPolicyArgs, evaluate, train as train_loop  # noqa: E402,F401
from ddpg_model import MujocoAgent, MujocoModel  # noqa: E402


@dataclass
class Args(OffPolicyArgs):
    actor_lr: float = 1e-3
    """Adam learning rate of the actor (PARL's DDPG: 1e-3)"""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic (PARL's DDPG: 1e-3)"""
    expl_noise: float = 0.1
    """std of the Gaussian exploration noise (actions in [-1, 1])"""


def make_agent(obs_dim: int, act_dim: int, args: Args) -> MujocoAgent:
    """PARL's DDPG setup: model, algorithm, agent."""
    model = MujocoModel(obs_dim, act_dim, args.hidden)
    alg = parl.algorithms.DDPG(model, gamma=args.gamma, tau=args.tau, actor_lr=args.actor_lr, critic_lr=args.critic_lr)
    return MujocoAgent(alg, act_dim, expl_noise=args.expl_noise)


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"eval_return": ..., "wall_time": ..., "env_steps": ...}``."""
    return train_loop("ddpg", args, make_agent)


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
