"""REINFORCE policy gradient on CartPole-v1: PARL's QuickStart with ``import fastparl as parl``.

Same model (one tanh hidden layer of ``10 * act_dim`` units, softmax output), same
algorithm (``parl.algorithms.PolicyGradient``, Adam, lr 1e-3) and the same update (one
gradient step per episode on its reward-to-go) as PARL's ``examples/QuickStart``; the
budget is counted in env steps (``--total-steps``), returns-to-go come from the Numba
kernel ``fastparl.kernels.discounted_returns``, and actions are sampled from
probabilities computed in numpy on zero-copy views of the weights (``NumpyMLP``).

    python examples/PolicyGradient/train.py --env CartPole-v1 --seed 0 --total-steps 300000
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
from fastparl.kernels import discounted_returns
from fastparl.utils import TrainLogger, logger, progress_bar, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium environment id (discrete actions, vector observations)"""
    seed: int = 0
    """seed of numpy, paddle and the environment"""
    total_steps: int = 300_000
    """environment steps to train for (whole episodes; the last one may overrun)"""
    logdir: str | None = None
    """where to write progress.csv and TensorBoard events (default: runs/pg_<env>/seed<seed>)"""
    lr: float = 1e-3
    """Adam learning rate"""
    gamma: float = 1.0
    """discount of the reward-to-go (PARL QuickStart: 1.0)"""
    eval_every: int = 20_000
    """env steps between evaluations"""
    eval_episodes: int = 10
    """episodes per evaluation (greedy and sampled)"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""
    progress: bool = False
    """show a tqdm progress bar"""


class CartpoleModel(parl.Model):
    """PARL QuickStart's policy: ``softmax(fc2(tanh(fc1(obs))))`` with ``10 * act_dim`` hidden units."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        hid1_size = act_dim * 10
        self.fc1 = nn.Linear(obs_dim, hid1_size)
        self.fc2 = nn.Linear(hid1_size, act_dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = paddle.tanh(self.fc1(x))
        return F.softmax(self.fc2(out), axis=-1)


class CartpoleAgent(parl.Agent):
    """PARL QuickStart's agent, acting through numpy views of the weights."""

    def __init__(self, algorithm: parl.Algorithm) -> None:
        super().__init__(algorithm)
        m = algorithm.model
        self._fast = NumpyMLP([m.fc1, m.fc2], activation="tanh", output="softmax")

    def sample(self, obs: np.ndarray) -> int:
        """Sample an action from the policy's probabilities."""
        prob = self._fast(obs)
        return int(min(np.searchsorted(np.cumsum(prob), np.random.random() * prob.sum()), len(prob) - 1))

    def predict(self, obs: np.ndarray) -> int:
        """The most probable action."""
        return int(self._fast(obs).argmax())

    def learn(self, obs: np.ndarray, act: np.ndarray, reward: np.ndarray) -> float:
        """One policy-gradient step on an episode: obs ``(T, obs_dim)``, act ``(T,)``, reward-to-go ``(T,)``."""
        obs = paddle.to_tensor(obs, dtype="float32")
        act = paddle.to_tensor(np.expand_dims(act, -1), dtype="int64")
        reward = paddle.to_tensor(np.expand_dims(reward, -1), dtype="float32")
        return float(self.alg.learn(obs, act, reward))


def run_train_episode(agent: CartpoleAgent, env: gym.Env) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Play one episode with ``agent.sample``; return obs, actions, rewards and ``terminated``."""
    obs_list, action_list, reward_list = [], [], []
    obs, _ = env.reset()
    while True:
        obs_list.append(obs)
        action = agent.sample(obs)
        action_list.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        reward_list.append(reward)
        if terminated or truncated:
            return np.array(obs_list), np.array(action_list), np.array(reward_list, np.float32), terminated


def evaluate(agent: CartpoleAgent, env: gym.Env, episodes: int, greedy: bool = True) -> float:
    """Mean return of ``episodes`` episodes, greedy (``agent.predict``) or sampled (``agent.sample``).

    On CartPole the greedy action of even an *untrained* policy network sometimes balances
    the pole for 500 steps, so the sampled return is the more honest learning signal.
    """
    act = agent.predict if greedy else agent.sample
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(args: Args) -> dict[str, float]:
    """Train; return ``{"eval_return", "sample_return", "wall_time", "env_steps"}`` (returns: 10-episode means)."""
    logdir = args.logdir or f"runs/pg_{args.env}/seed{args.seed}"
    env, eval_env = gym.make(args.env), gym.make(args.env)
    set_seed(args.seed, env=env, paddle=True)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = env.observation_space.shape[0], int(env.action_space.n)
    model = CartpoleModel(obs_dim=obs_dim, act_dim=act_dim)
    alg = parl.algorithms.PolicyGradient(model, lr=args.lr)
    agent = CartpoleAgent(alg)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"PolicyGradient on {args.env}: obs_dim {obs_dim}, act_dim {act_dim}, logdir {logdir}")

    start = time.time()
    steps, episodes, next_eval = 0, 0, args.eval_every
    eval_return = sample_return = float("nan")
    bar = progress_bar(args.total_steps, desc="pg", disable=not args.progress)
    while steps < args.total_steps:
        obs, act, rew, _terminated = run_train_episode(agent, env)
        # PARL's calc_reward_to_go: G_t = r_t + gamma * G_{t+1}, from the end of the episode.
        ret = discounted_returns(rew, np.zeros(len(rew), dtype=bool), args.gamma)
        loss = agent.learn(obs, act, ret)
        steps += len(rew)
        episodes += 1
        bar.update(len(rew))
        tlog.log(steps, episode_return=float(rew.sum()), episode_length=len(rew), loss=loss)
        if steps >= next_eval or steps >= args.total_steps:
            next_eval += args.eval_every
            eval_return = evaluate(agent, eval_env, args.eval_episodes)
            sample_return = evaluate(agent, eval_env, args.eval_episodes, greedy=False)
            tlog.log(steps, eval_return=eval_return, sample_return=sample_return, episodes=episodes)
            logger.info(
                f"step {steps} episodes {episodes} eval_return {eval_return:.1f} sample_return {sample_return:.1f}"
            )
    bar.close()
    wall = time.time() - start
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    logger.info(
        f"done: eval_return {eval_return:.1f} (greedy), sample_return {sample_return:.1f} over "
        f"{args.eval_episodes} episodes, {wall:.1f} s"
    )
    return {"eval_return": eval_return, "sample_return": sample_return, "wall_time": wall, "env_steps": float(steps)}


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
