"""TD3 on a continuous-control gymnasium task (Pendulum-v1, or MuJoCo such as HalfCheetah-v5).

PARL's TD3 example (examples/TD3) with ``import fastparl as parl``: ``MujocoModel`` (actor and
twin critics, 256-256), ``MujocoAgent`` (Gaussian exploration noise 0.1), ``parl.algorithms.TD3``
and ``parl.utils.ReplayMemory``; the loop is in ``examples/_offpolicy.py``.

    python examples/TD3/train.py --env Pendulum-v1 --seed 0 --total-steps 20000 --warmup-steps 1000
    python examples/TD3/train.py --env HalfCheetah-v5 --seed 0 --total-steps 1000000
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
from td3_model import MujocoAgent, MujocoModel  # noqa: E402


@dataclass
class Args(OffPolicyArgs):
    expl_noise: float = 0.1
    """std of the Gaussian exploration noise (actions in [-1, 1])"""
    policy_noise: float = 0.2
    """std of the target policy smoothing noise"""
    noise_clip: float = 0.5
    """clip of the target policy smoothing noise"""
    policy_freq: int = 2
    """one actor update and target sync every policy_freq critic updates"""


def make_agent(obs_dim: int, act_dim: int, args: Args) -> MujocoAgent:
    """PARL's TD3 setup: model, algorithm, agent."""
    model = MujocoModel(obs_dim, act_dim, args.hidden)
    alg = parl.algorithms.TD3(model, gamma=args.gamma, tau=args.tau, actor_lr=args.actor_lr, critic_lr=args.critic_lr,
                              policy_noise=args.policy_noise, noise_clip=args.noise_clip, policy_freq=args.policy_freq)
    return MujocoAgent(alg, act_dim, expl_noise=args.expl_noise)


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"eval_return": ..., "wall_time": ..., "env_steps": ...}``."""
    return train_loop("td3", args, make_agent)


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
