"""MADDPG on the multi-agent particle environments (``mpe2``: simple_spread, simple, ...).

PARL's MADDPG example (examples/MADDPG) with ``import fastparl as parl``: ``MAModel`` (actor and
centralised critic, 64-64), ``MAAgent`` (one replay memory per agent, an update every 100
steps), ``parl.algorithms.MADDPG`` with Gumbel-softmax discrete actions.

    python examples/MADDPG/train.py --env simple_spread --seed 0 --max-episodes 25000
    python examples/MADDPG/train.py --env simple --max-episodes 1500 --batch-size 256 --learn-every 10
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import fastparl as parl
from fastparl.utils import TrainLogger, logger, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from maddpg_model import MAAgent, MAModel  # noqa: E402

ENVS = ("simple", "simple_adversary", "simple_push", "simple_speaker_listener", "simple_spread", "simple_tag")


@dataclass
class Args:
    env: str = "simple_spread"
    """mpe2 scenario: simple, simple_adversary, simple_push, simple_speaker_listener, simple_spread, simple_tag"""
    seed: int = 0
    """seed of numpy, paddle, the replay memories and the environment"""
    max_episodes: int = 25_000
    """training episodes (PARL: 25000)"""
    max_step_per_episode: int = 25
    """steps per episode (PARL: 25)"""
    continuous_actions: bool = False
    """Box actions instead of Discrete(5)"""
    logdir: str | None = None
    """where to write progress.csv and TensorBoard events (default: runs/maddpg_<env>/seed<seed>)"""
    hidden: int = 64
    """width of the two hidden layers (PARL: 64)"""
    gamma: float = 0.95
    """discount factor (PARL: 0.95)"""
    tau: float = 0.01
    """soft target update rate (PARL: 0.01)"""
    actor_lr: float = 1e-2
    """Adam learning rate of the actors (PARL: 1e-2)"""
    critic_lr: float = 1e-2
    """Adam learning rate of the critics (PARL: 1e-2)"""
    batch_size: int = 1024
    """transitions per gradient step (PARL: 1024)"""
    memory_size: int = 1_000_000
    """replay memory capacity per agent"""
    learn_every: int = 100
    """env steps between updates of each agent (PARL: 100)"""
    min_memory_size: int | None = None
    """no learning until the memories hold more transitions (default, PARL: batch_size * 25)"""
    stat_rate: int = 1000
    """episodes between logged means of the episode reward (PARL: 1000)"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""


def make_env(name: str, max_cycles: int = 25, continuous_actions: bool = False) -> Any:
    """The ``mpe2`` parallel env with PARL's settings (simple_spread: N=3, local_ratio=0.5)."""
    import importlib

    if name not in ENVS:
        raise ValueError(f"unknown MPE scenario {name!r}; choose one of {ENVS}")
    version = "v4" if name == "simple_speaker_listener" else "v3"
    module = importlib.import_module(f"mpe2.{name}_{version}")
    kwargs: dict[str, Any] = {"max_cycles": max_cycles, "continuous_actions": continuous_actions}
    if name == "simple_spread":
        kwargs.update(N=3, local_ratio=0.5)
    return module.parallel_env(**kwargs)


def _space_dim(space: Any) -> int:
    return int(space.n) if hasattr(space, "n") else int(np.prod(space.shape))


def make_agents(env: Any, args: Args) -> list[MAAgent]:
    """One ``MAModel``, ``MADDPG`` and ``MAAgent`` per agent of ``env``, as PARL's ``train.py``."""
    names = env.possible_agents
    act_space = [env.action_space(a) for a in names]
    obs_dim_n = [_space_dim(env.observation_space(a)) for a in names]
    act_dim_n = [_space_dim(s) for s in act_space]
    critic_in_dim = sum(obs_dim_n) + sum(act_dim_n)
    agents = []
    for i in range(len(names)):
        model = MAModel(obs_dim_n[i], act_dim_n[i], critic_in_dim, args.continuous_actions, args.hidden)
        alg = parl.algorithms.MADDPG(model, agent_index=i, act_space=act_space, gamma=args.gamma, tau=args.tau,
                                     actor_lr=args.actor_lr, critic_lr=args.critic_lr)
        agents.append(MAAgent(alg, i, obs_dim_n, act_dim_n, batch_size=args.batch_size,
                              memory_size=args.memory_size, learn_every=args.learn_every,
                              min_memory_size=args.min_memory_size, seed=args.seed + i))
    return agents


def _to_env(env: Any, actions: list[np.ndarray], continuous: bool) -> dict[str, Any]:
    out = {}
    for name, act in zip(env.possible_agents, actions):
        if continuous:  # [-1, 1] -> the space's bounds, as PARL's wrapper
            space = env.action_space(name)
            out[name] = np.clip(space.low + (act + 1.0) * 0.5 * (space.high - space.low), space.low, space.high)
        else:
            out[name] = int(np.argmax(act))
    return out


def run_episode(env: Any, agents: list[MAAgent], args: Args, train: bool = True) -> tuple[float, float]:
    """One episode (PARL's ``run_episode``); returns ``(sum of all agents' rewards, last critic loss)``."""
    names = env.possible_agents
    obs_d, _ = env.reset()
    obs_n = [obs_d[a] for a in names]
    total, loss = 0.0, float("nan")
    for _ in range(args.max_step_per_episode):
        action_n = [agent.predict(obs) for agent, obs in zip(agents, obs_n)]
        next_d, rew_d, term_d, trunc_d, _ = env.step(_to_env(env, action_n, args.continuous_actions))
        next_obs_n = [next_d[a] for a in names]
        for i, agent in enumerate(agents):
            if train:
                agent.add_experience(obs_n[i], action_n[i], rew_d[names[i]], next_obs_n[i], term_d[names[i]])
            total += float(rew_d[names[i]])
        obs_n = next_obs_n
        if all(term_d.values()) or all(trunc_d.values()):
            break
        if train:
            for agent in agents:
                c = agent.learn(agents)
                loss = c if c else loss
    return total, loss


def evaluate(env: Any, agents: list[MAAgent], args: Args, episodes: int) -> float:
    """Mean episode reward (summed over agents) of ``episodes`` episodes without learning."""
    return float(np.mean([run_episode(env, agents, args, train=False)[0] for _ in range(episodes)]))


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"mean_episode_reward": mean of the last stat_rate episodes, "wall_time", "episodes"}``."""
    logdir = args.logdir or f"runs/maddpg_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    env = make_env(args.env, args.max_step_per_episode, args.continuous_actions)
    env.reset(seed=args.seed)
    agents = make_agents(env, args)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"MADDPG on {args.env}: {len(agents)} agents, logdir {logdir}")
    start, rewards = time.time(), []
    for episode in range(1, args.max_episodes + 1):
        reward, loss = run_episode(env, agents, args)
        rewards.append(reward)
        if episode % args.stat_rate == 0 or episode == args.max_episodes:
            mean = float(np.mean(rewards[-args.stat_rate:]))
            tlog.log(episode * args.max_step_per_episode, mean_episode_reward=mean, episodes=episode,
                     critic_loss=loss)
            logger.info(f"episodes {episode} mean episode reward {mean:.2f} time {time.time() - start:.1f} s")
    wall = time.time() - start
    tlog.close()
    for i, agent in enumerate(agents):
        agent.save(f"{logdir}/agent_{i}.ckpt")
    mean = float(np.mean(rewards[-args.stat_rate:]))
    return {"mean_episode_reward": mean, "wall_time": wall, "episodes": float(args.max_episodes)}


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--max-episodes`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
