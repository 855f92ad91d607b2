"""QMIX on a cooperative multi-agent particle environment (``mpe2`` simple_spread).

PARL's QMIX example (examples/QMIX, written for StarCraft II's SMAC, which cannot be installed
here) with ``import fastparl as parl``: ``RNNModel`` (GRU agents), ``QMixerModel`` (state-conditioned
monotonic mixer), ``QMixAgent`` and ``parl.algorithms.QMIX`` with PARL's hyper-parameters, on
``simple_spread``: N agents must cover N landmarks without colliding; the team reward is the sum
of the agents' rewards.  Each agent sees its observation, its last action and its id (one-hot);
the mixer sees the global state (every agent's observation).

    python examples/QMIX/train.py --env simple_spread --seed 0 --total-steps 30000
"""

from __future__ import annotations

import importlib
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
from qmix_agent import EpisodeReplayBuffer, QMixAgent  # noqa: E402
from qmix_model import QMixerModel, RNNModel  # noqa: E402


@dataclass
class Args:
    env: str = "simple_spread"
    """mpe2 cooperative scenario (simple_spread: n_agents agents, as many landmarks)"""
    seed: int = 0
    """seed of numpy, paddle, the replay buffer, exploration and the environment"""
    total_steps: int = 30_000
    """environment steps to train for (whole episodes)"""
    n_agents: int = 3
    """agents (and landmarks) in simple_spread"""
    local_ratio: float = 0.5
    """weight of each agent's own collision penalty against the shared coverage reward (MADDPG example: 0.5)"""
    episode_limit: int = 25
    """steps per episode (MPE's max_cycles)"""
    lr: float = 1e-3
    """RMSProp learning rate (PARL: 5e-4)"""
    gamma: float = 0.95
    """discount factor (PARL: 0.99; MPE examples use 0.95)"""
    batch_size: int = 32
    """episodes per gradient step (PARL: 16)"""
    buffer_size: int = 5000
    """replay capacity in episodes (PARL: 5000)"""
    memory_warmup_size: int = 32
    """episodes stored before learning starts (PARL: 16)"""
    learn_per_episode: int = 2
    """gradient steps after each episode (PARL: 2)"""
    exploration_start: float = 1.0
    """initial epsilon (PARL: 1.0)"""
    min_exploration: float = 0.05
    """final epsilon (PARL: 0.1)"""
    exploration_steps: int = 10_000
    """env steps over which epsilon decays linearly (PARL: 450k, for 1M-step SMAC runs)"""
    update_target_interval: int = 20
    """learn calls between target syncs (PARL: 2000, for 1M-step SMAC runs; 200 learned nothing in 25k steps here)"""
    clip_grad_norm: float = 10.0
    """global gradient-norm clip (PARL: 10)"""
    rnn_hidden_dim: int = 64
    """GRU width (PARL: 64)"""
    mixing_embed_dim: int = 32
    """mixer width (PARL: 32)"""
    hypernet_embed_dim: int = 64
    """hypernetwork width (PARL: 64, 2 layers)"""
    double_q: bool = True
    """Double-Q targets (PARL: True)"""
    eval_every: int = 5_000
    """env steps between evaluations"""
    eval_episodes: int = 20
    """greedy episodes per evaluation"""
    logdir: str | None = None
    """where to write progress.csv and TensorBoard events (default: runs/qmix_<env>/seed<seed>)"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""


class MPEWrapper:
    """An ``mpe2`` parallel env seen as PARL's ``SC2EnvWrapper``: ``reset() -> (state, obs)``, team reward.

    Each agent's input is its observation, its last action and its id (one-hot), as PARL's wrapper;
    the state is every agent's observation (``env.state()``); every action is always available.
    """

    def __init__(self, name: str, n_agents: int, local_ratio: float, episode_limit: int) -> None:
        if name != "simple_spread":
            raise ValueError(f"the QMIX example supports mpe2's cooperative simple_spread, got {name!r}")
        module = importlib.import_module("mpe2.simple_spread_v3")
        self.env = module.parallel_env(N=n_agents, local_ratio=local_ratio, max_cycles=episode_limit)
        self.names = self.env.possible_agents
        self.n_agents, self.episode_limit = len(self.names), episode_limit
        self.n_actions = int(self.env.action_space(self.names[0]).n)
        self._ids = np.eye(self.n_agents, dtype=np.float32)
        self.obs_shape = int(self.env.observation_space(self.names[0]).shape[0]) + self.n_actions + self.n_agents
        self.state_shape = int(self.env.state_space.shape[0])

    def _inputs(self, obs: dict[str, np.ndarray], actions: np.ndarray | None) -> np.ndarray:
        last = np.zeros((self.n_agents, self.n_actions), np.float32)
        if actions is not None:
            last[np.arange(self.n_agents), actions] = 1.0
        return np.concatenate([np.stack([obs[a] for a in self.names]), last, self._ids], axis=1)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        obs, _ = self.env.reset(seed=seed)
        return self.env.state().astype(np.float32), self._inputs(obs, None)

    def get_available_actions(self) -> np.ndarray:
        return np.ones((self.n_agents, self.n_actions), np.int64)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool, bool]:
        """``(next_state, next_obs, team reward, terminated, truncated)``."""
        obs, rew, term, trunc, _ = self.env.step({a: int(u) for a, u in zip(self.names, actions)})
        reward = float(sum(rew.values()))
        return self.env.state().astype(np.float32), self._inputs(obs, actions), reward, any(term.values()), all(
            trunc.values())


def run_episode(env: MPEWrapper, agent: QMixAgent, train: bool) -> tuple[float, dict[str, np.ndarray] | None]:
    """One episode; returns ``(team return, the episode padded to episode_limit + 1 steps when train)``."""
    agent.reset_agent()
    state, obs = env.reset()
    length = env.episode_limit + 1
    ep: dict[str, Any] = {"state": [], "actions": [], "reward": [], "terminated": [], "obs": [],
                          "available_actions": [], "filled": []}
    total, done = 0.0, False
    while not done:
        avail = env.get_available_actions()
        actions = agent.sample(obs, avail) if train else agent.predict(obs, avail)
        next_state, next_obs, reward, terminated, truncated = env.step(actions)
        total += reward
        done = terminated or truncated
        for k, v in (("state", state), ("actions", actions), ("reward", [reward]), ("terminated", [terminated]),
                     ("obs", obs), ("available_actions", avail), ("filled", [0.0])):
            ep[k].append(v)
        state, obs = next_state, next_obs
    if not train:
        return total, None
    # The final state bootstraps the last step (a time limit is not a terminal state); padding after it.
    pad = {"state": state, "actions": np.zeros(env.n_agents, np.int64), "reward": [0.0], "terminated": [1.0],
           "obs": obs, "available_actions": env.get_available_actions(), "filled": [1.0]}
    while len(ep["state"]) < length:
        for k, v in pad.items():
            ep[k].append(v)
    return total, {k: np.asarray(v) for k, v in ep.items()}


def make_agent(env: MPEWrapper, args: Args) -> QMixAgent:
    """PARL's QMIX setup: agent network, mixer, algorithm, agent."""
    agent_model = RNNModel(env.obs_shape, env.n_actions, args.rnn_hidden_dim)
    mixer = QMixerModel(env.n_agents, env.state_shape, args.mixing_embed_dim, 2, args.hypernet_embed_dim)
    alg = parl.algorithms.QMIX(agent_model, mixer, args.double_q, args.gamma, args.lr, args.clip_grad_norm)
    decay = (args.exploration_start - args.min_exploration) / max(1, args.exploration_steps)
    return QMixAgent(alg, args.exploration_start, args.min_exploration, decay, args.update_target_interval,
                     seed=args.seed)


def evaluate(env: MPEWrapper, agent: QMixAgent, episodes: int) -> float:
    """Mean team return of ``episodes`` greedy episodes."""
    return float(np.mean([run_episode(env, agent, train=False)[0] for _ in range(episodes)]))


def train(args: Args) -> dict[str, float]:
    """Train; return ``{"eval_return", "initial_eval_return", "wall_time", "env_steps", "episodes"}``."""
    logdir = args.logdir or f"runs/qmix_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    env = MPEWrapper(args.env, args.n_agents, args.local_ratio, args.episode_limit)
    eval_env = MPEWrapper(args.env, args.n_agents, args.local_ratio, args.episode_limit)
    env.reset(seed=args.seed)
    eval_env.reset(seed=args.seed + 10_000)
    agent = make_agent(env, args)
    rpm = EpisodeReplayBuffer(args.buffer_size, args.episode_limit + 1, env.n_agents, env.state_shape, env.obs_shape,
                              env.n_actions, seed=args.seed)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    initial = evaluate(eval_env, agent, args.eval_episodes)
    logger.info(f"QMIX on {args.env} ({env.n_agents} agents): initial eval return {initial:.1f}, logdir {logdir}")
    start = time.time()
    steps, episodes, next_eval, loss, returns = 0, 0, args.eval_every, float("nan"), []
    eval_return = initial
    while steps < args.total_steps:
        ret, episode = run_episode(env, agent, train=True)
        assert episode is not None
        rpm.add(episode)
        steps += int((episode["filled"][:, 0] == 0).sum())
        episodes += 1
        returns.append(ret)
        if rpm.count >= args.memory_warmup_size:
            for _ in range(args.learn_per_episode):
                loss, _ = agent.learn(*rpm.sample_batch(args.batch_size))
        if steps >= next_eval or steps >= args.total_steps:
            next_eval += args.eval_every
            eval_return = evaluate(eval_env, agent, args.eval_episodes)
            tlog.log(steps, eval_return=eval_return, episode_return=float(np.mean(returns[-100:])), loss=loss,
                     exploration=agent.exploration, episodes=episodes)
            logger.info(f"step {steps} episodes {episodes} epsilon {agent.exploration:.2f} "
                        f"train return {np.mean(returns[-100:]):.1f} eval return {eval_return:.1f}")
    wall = time.time() - start
    tlog.close()
    agent.save(logdir)
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} greedy episodes), {wall:.1f} s")
    return {"eval_return": eval_return, "initial_eval_return": initial, "wall_time": wall, "env_steps": float(steps),
            "episodes": float(episodes)}


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
