"""SAC on a continuous-control gymnasium task (Pendulum-v1, or MuJoCo such as HalfCheetah-v5).

PARL's SAC example (examples/SAC) with ``import fastparl as parl``: ``MujocoModel`` (Gaussian
actor and twin critics, 256-256), ``MujocoAgent``, ``parl.algorithms.SAC`` with a fixed
``alpha`` (PARL) or, with ``--alpha-lr``, a learned one, and ``parl.utils.ReplayMemory``; the
loop is in ``examples/_offpolicy.py``.

    python examples/SAC/train.py --env Pendulum-v1 --seed 0 --total-steps 20000 --warmup-steps 1000
    python examples/SAC/train.py --env HalfCheetah-v5 --seed 0 --total-steps 1000000
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
from sac_model import MujocoAgent, MujocoModel  # noqa: E402


@dataclass
class Args(OffPolicyArgs):
    alpha: float = 0.2
    """entropy temperature (PARL: 0.2, fixed); the initial value when --alpha-lr is given"""
    alpha_lr: float = 0.0
    """> 0: learn alpha with this Adam learning rate towards entropy -act_dim (SAC v2); 0: fixed"""


def make_agent(obs_dim: int, act_dim: int, args: Args) -> MujocoAgent:
    """PARL's SAC setup: model, algorithm, agent."""
    model = MujocoModel(obs_dim, act_dim, args.hidden)
    alg = parl.algorithms.SAC(model, gamma=args.gamma, tau=args.tau, alpha=args.alpha, actor_lr=args.actor_lr,
                              critic_lr=args.critic_lr, alpha_lr=args.alpha_lr or None)
    return MujocoAgent(alg, act_dim)


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"eval_return": ..., "wall_time": ..., "env_steps": ...}``."""
    return train_loop("sac", args, make_agent)


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
