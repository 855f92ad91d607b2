"""DQN / Double DQN / Dueling DQN on a discrete gymnasium task (default CartPole-v1).

The PARL DQN example (examples/DQN in PARL) with ``import fastparl as parl``: the model and
agent are ``parl.Model``/``parl.Agent`` subclasses, the algorithm is
``parl.algorithms.DQN`` (or ``DDQN``), and the replay memory is ``parl.utils.ReplayMemory``.
Differences from PARL's script: gymnasium instead of gym, a step budget
(``--total-steps``), epsilon decays linearly from 1 to ``--e-greed-min``, bootstrapping
stops only at *terminated* (not time-limit truncation), and the greedy action is computed
in numpy on zero-copy views of the weights (``NumpyMLP``), about 15x cheaper per step than
a paddle eager forward.

    python examples/DQN/train.py --env CartPole-v1 --seed 0 --total-steps 50000 --logdir runs/dqn/seed0
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import fastparl  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE, quiets paddle's ccache warning)
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

import fastparl as parl
from fastparl.core import NumpyMLP
from fastparl.utils import ReplayMemory, TrainLogger, logger, progress_bar, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium environment id (discrete actions, vector observations)"""
    seed: int = 0
    """seed of numpy, paddle, the replay memory and the environment"""
    total_steps: int = 50_000
    """environment steps to train for"""
    algo: str = "dqn"
    """'dqn' or 'ddqn' (Double DQN)"""
    dueling: bool = False
    """use a dueling head: Q = V + A - mean(A)"""
    logdir: str | None = None
    """where to write progress.csv and TensorBoard events (default: runs/<algo>_<env>/seed<seed>)"""
    lr: float = 1e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount factor"""
    batch_size: int = 256
    """transitions per gradient step (64 made DDQN and dueling DQN oscillate below 195 at 50k steps)"""
    memory_size: int = 200_000
    """replay memory capacity"""
    warmup_steps: int = 1000
    """env steps collected before the first gradient step"""
    learn_freq: int = 256
    """train every learn_freq env steps ..."""
    gradient_steps: int = 128
    """... with this many gradient steps"""
    update_target_steps: int = 128
    """sync the target network every this many gradient steps"""
    e_greed_min: float = 0.04
    """final exploration rate"""
    e_greed_fraction: float = 0.16
    """fraction of total_steps over which epsilon decays from 1 to e_greed_min"""
    hidden: int = 128
    """width of the two hidden layers"""
    eval_every: int = 5000
    """env steps between evaluations"""
    eval_episodes: int = 10
    """greedy episodes per evaluation"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""
    progress: bool = False
    """show a tqdm progress bar"""


class CartpoleModel(parl.Model):
    """MLP Q network, optionally with a dueling head.

    Args:
        obs_dim: observation size.
        act_dim: number of actions.
        hidden: hidden layer width.
        dueling: if True, ``Q = V + A - mean(A)``.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 128, dueling: bool = False) -> None:
        super().__init__()
        self.dueling = dueling
        self.fc1 = nn.Linear(obs_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, act_dim)  # the advantage head when dueling
        if dueling:
            self.value = nn.Linear(hidden, 1)

    def forward(self, obs: paddle.Tensor) -> paddle.Tensor:
        h = F.relu(self.fc2(F.relu(self.fc1(obs))))
        q = self.fc3(h)
        if self.dueling:
            q = self.value(h) + q - q.mean(axis=-1, keepdim=True)
        return q


class CartpoleAgent(parl.Agent):
    """Epsilon-greedy agent, as PARL's DQN ``CartpoleAgent``.

    Args:
        algorithm: a DQN/DDQN algorithm.
        act_dim: number of actions.
        e_greed: initial exploration rate.
        e_greed_decrement: subtracted from ``e_greed`` at every ``sample``.
        e_greed_min: floor of ``e_greed``.
        update_target_steps: sync the target network every this many ``learn`` calls.
    """

    def __init__(
        self,
        algorithm: parl.Algorithm,
        act_dim: int,
        e_greed: float = 0.1,
        e_greed_decrement: float = 0.0,
        e_greed_min: float = 0.01,
        update_target_steps: int = 128,
    ) -> None:
        super().__init__(algorithm)
        if not isinstance(act_dim, int):
            raise TypeError(f"act_dim must be an int, got {act_dim!r}")
        self.act_dim = act_dim
        self.global_step = 0
        self.update_target_steps = update_target_steps
        self.e_greed = e_greed
        self.e_greed_decrement = e_greed_decrement
        self.e_greed_min = e_greed_min
        m = algorithm.model
        # argmax(V + A - mean A) == argmax(A): the dueling value head is not needed to act.
        self._fast = NumpyMLP([m.fc1, m.fc2, m.fc3], activation="relu")

    def sample(self, obs: np.ndarray) -> int:
        """Epsilon-greedy action; no network call when exploring."""
        act = np.random.randint(self.act_dim) if np.random.random() < self.e_greed else self.predict(obs)
        self.e_greed = max(self.e_greed_min, self.e_greed - self.e_greed_decrement)
        return act

    def predict(self, obs: np.ndarray) -> int:
        """Greedy action, computed in numpy on views of the current weights."""
        return int(self._fast(obs).argmax())

    def learn(
        self, obs: np.ndarray, act: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, terminal: np.ndarray
    ) -> float:
        """One gradient step on a batch of ``(batch_size,)`` columns (as PARL)."""
        if self.global_step % self.update_target_steps == 0:
            self.alg.sync_target()
        self.global_step += 1
        obs = paddle.to_tensor(obs, dtype="float32")
        act = paddle.to_tensor(np.expand_dims(act, -1), dtype="int64")
        reward = paddle.to_tensor(np.expand_dims(reward, -1), dtype="float32")
        next_obs = paddle.to_tensor(next_obs, dtype="float32")
        terminal = paddle.to_tensor(np.expand_dims(terminal, -1), dtype="float32")
        loss = self.alg.learn(obs, act, reward, next_obs, terminal)
        return float(loss)


def evaluate(agent: CartpoleAgent, env: gym.Env, episodes: int) -> float:
    """Mean return of ``episodes`` greedy episodes."""
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.predict(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(args: Args) -> dict[str, float]:
    """Train and return ``{"eval_return": ..., "wall_time": ..., "env_steps": ...}``."""
    if args.algo not in ("dqn", "ddqn"):
        raise ValueError(f"--algo must be 'dqn' or 'ddqn', got {args.algo!r}")
    logdir = args.logdir or f"runs/{args.algo}{'_dueling' if args.dueling else ''}_{args.env}/seed{args.seed}"
    env, eval_env = gym.make(args.env), gym.make(args.env)
    set_seed(args.seed, env=env, paddle=True)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = env.observation_space.shape[0], int(env.action_space.n)

    model = CartpoleModel(obs_dim, act_dim, args.hidden, args.dueling)
    algo_cls = parl.algorithms.DDQN if args.algo == "ddqn" else parl.algorithms.DQN
    alg = algo_cls(model, gamma=args.gamma, lr=args.lr)
    decay_steps = max(1, int(args.e_greed_fraction * args.total_steps))
    agent = CartpoleAgent(
        alg,
        act_dim,
        e_greed=1.0,
        e_greed_decrement=(1.0 - args.e_greed_min) / decay_steps,
        e_greed_min=args.e_greed_min,
        update_target_steps=args.update_target_steps,
    )
    rpm = ReplayMemory(args.memory_size, obs_dim, 0, rng=args.seed)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"{args.algo} on {args.env}: obs_dim {obs_dim}, act_dim {act_dim}, logdir {logdir}")

    start = time.time()
    obs, _ = env.reset()
    ep_return, ep_len, episodes, loss = 0.0, 0, 0, float("nan")
    bar = progress_bar(args.total_steps, desc=args.algo, disable=not args.progress)
    for step in range(1, args.total_steps + 1):
        action = agent.sample(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rpm.append(obs, action, reward, next_obs, terminated)
        obs = next_obs
        ep_return += float(reward)
        ep_len += 1
        if step > args.warmup_steps and step % args.learn_freq == 0:
            for _ in range(args.gradient_steps):
                loss = agent.learn(*rpm.sample_batch(args.batch_size))
        if terminated or truncated:
            episodes += 1
            tlog.log(step, episode_return=ep_return, episode_length=ep_len, loss=loss, e_greed=agent.e_greed)
            obs, _ = env.reset()
            ep_return, ep_len = 0.0, 0
        if step % args.eval_every == 0 or step == args.total_steps:
            eval_return = evaluate(agent, eval_env, args.eval_episodes)
            tlog.log(step, eval_return=eval_return, episodes=episodes)
            logger.info(f"step {step} episodes {episodes} e_greed {agent.e_greed:.3f} eval_return {eval_return:.1f}")
        bar.update(1)
    bar.close()
    wall = time.time() - start
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    logger.info(f"done: eval_return {eval_return:.1f} over {args.eval_episodes} episodes, {wall:.1f} s")
    return {"eval_return": eval_return, "wall_time": wall, "env_steps": float(args.total_steps)}


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
