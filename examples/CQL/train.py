"""CQL: offline RL on a fixed dataset of a continuous-control task (default Pendulum-v1).

PARL's CQL example (examples/CQL) with ``import fastparl as parl``: ``MujocoModel`` (Gaussian actor
and twin critics, three hidden layers), ``MujocoAgent``, ``parl.algorithms.CQL`` with PARL's
hyper-parameters, and the data in a ``parl.utils.ReplayMemory``.  PARL trains on D4RL datasets;
here the dataset is made by the SAC example (``--dataset sac``: train SAC for ``--sac-steps``, then
record ``--dataset-steps`` steps of its sampled policy) or by a noisy scripted controller
(``--dataset scripted``, Pendulum-v1 and InvertedPendulum-v5), and cached as ``.npz`` (``--dataset FILE.npz`` reuses one).
The agent never acts during training; it is evaluated on the env every ``--eval-every`` steps.

    python examples/CQL/train.py --env Pendulum-v1 --seed 0 --total-steps 20000
    python examples/CQL/train.py --dataset scripted --total-steps 5000
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import fastparl as parl
from fastparl.utils import ReplayMemory, TrainLogger, logger, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cql_model import MujocoAgent, MujocoModel  # noqa: E402
from dataset import sac_dataset, scripted_dataset  # noqa: E402


@dataclass
class Args:
    env: str = "Pendulum-v1"
    """gymnasium id with a Box action space"""
    seed: int = 0
    """seed of numpy, paddle, the dataset and the evaluation env"""
    total_steps: int = 20_000
    """gradient steps (CQL never steps the env while training)"""
    dataset: str = "sac"
    """'sac' (record a SAC policy), 'scripted' (a noisy hand-written controller) or a saved .npz memory"""
    sac_steps: int = 10_000
    """env steps of SAC training before recording (--dataset sac)"""
    dataset_steps: int = 50_000
    """transitions to record"""
    hidden: int = 128
    """hidden width of the actor and critics (PARL: 256)"""
    batch_size: int = 256
    """transitions per gradient step (PARL: 256)"""
    gamma: float = 0.99
    """discount factor (PARL: 0.99)"""
    tau: float = 0.005
    """soft target update rate (PARL: 0.005)"""
    actor_lr: float = 1e-4
    """Adam learning rate of the actor (PARL: 1e-4)"""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics (PARL: 3e-4)"""
    policy_eval_start: int = 0
    """behaviour-cloning steps first (PARL's algorithm default: 40000, for 1M-step runs)"""
    with_automatic_entropy_tuning: bool = False
    """learn the temperature (PARL's example: off)"""
    with_lagrange: bool = False
    """tune the penalty weight towards --lagrange-thresh (PARL's example: off)"""
    lagrange_thresh: float = 10.0
    """target gap of the Lagrange version"""
    min_q_weight: float = 5.0
    """weight of the conservative penalty (PARL: 5.0; 0 gives naive offline SAC without entropy in the target)"""
    eval_every: int = 2_000
    """gradient steps between evaluations"""
    eval_episodes: int = 10
    """deterministic episodes per evaluation"""
    logdir: str | None = None
    """where to write progress.csv, TensorBoard events and the dataset cache (default runs/cql_<env>/seed<seed>)"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""


def load_dataset(args: Args, logdir: str) -> tuple[ReplayMemory, float]:
    """The dataset asked for, and the mean episode return of the policy that made it (nan if unknown)."""
    env = gym.make(args.env)
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])
    if args.dataset not in ("sac", "scripted"):
        with np.load(args.dataset) as data:  # size the memory from the file (ReplayMemory.save's "other")
            size = int(data["other"][0])
        rpm = ReplayMemory(size, obs_dim, act_dim, rng=args.seed)
        rpm.load(args.dataset)
        return rpm, float("nan")
    if args.dataset == "scripted":
        return scripted_dataset(args.env, args.dataset_steps, args.seed)
    rpm, behaviour = sac_dataset(args.env, args.sac_steps, args.dataset_steps, args.seed, logdir)
    rpm.save(os.path.join(logdir, "dataset.npz"))
    return rpm, behaviour


def evaluate(agent: MujocoAgent, env: gym.Env, episodes: int) -> float:
    """Mean return of ``episodes`` deterministic episodes."""
    low, high = env.action_space.low, env.action_space.high
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(low + (agent.predict(obs) + 1.0) * 0.5 * (high - low))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def make_agent(obs_dim: int, act_dim: int, args: Args) -> MujocoAgent:
    """PARL's CQL setup: model, algorithm, agent."""
    model = MujocoModel(obs_dim, act_dim, args.hidden)
    alg = parl.algorithms.CQL(model, gamma=args.gamma, tau=args.tau, actor_lr=args.actor_lr, critic_lr=args.critic_lr,
                              policy_eval_start=args.policy_eval_start,
                              with_automatic_entropy_tuning=args.with_automatic_entropy_tuning,
                              with_lagrange=args.with_lagrange, lagrange_thresh=args.lagrange_thresh,
                              min_q_weight=args.min_q_weight)
    return MujocoAgent(alg)


def train(args: Args) -> dict[str, float]:
    """Make (or load) the dataset, train CQL on it; return eval returns, the dataset's return and wall time."""
    logdir = args.logdir or f"runs/cql_{args.env}/seed{args.seed}"
    os.makedirs(logdir, exist_ok=True)
    t0 = time.time()
    rpm, behaviour = load_dataset(args, logdir)
    data_time = time.time() - t0
    set_seed(args.seed, paddle=True)
    env = gym.make(args.env)
    env.reset(seed=args.seed + 10_000)
    agent = make_agent(int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0]), args)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    initial = evaluate(agent, env, args.eval_episodes)
    logger.info(f"CQL on {args.env}: {rpm.size()} transitions (behaviour return {behaviour:.1f}, made in "
                f"{data_time:.0f} s), untrained eval return {initial:.1f}")
    start = time.time()
    eval_return = initial
    for step in range(1, args.total_steps + 1):
        critic_loss, mse, actor_loss, min_q = agent.learn(*rpm.sample_batch(args.batch_size))
        if step % args.eval_every == 0 or step == args.total_steps:
            eval_return = evaluate(agent, env, args.eval_episodes)
            tlog.log(step, eval_return=eval_return, critic_loss=critic_loss, mse=mse, actor_loss=actor_loss,
                     min_q=min_q)
            logger.info(f"step {step} critic_loss {critic_loss:.3f} min_q {min_q:.2f} eval_return {eval_return:.1f}")
    wall = time.time() - start
    tlog.close()
    agent.save(os.path.join(logdir, "model.ckpt"))
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} episodes), {wall:.1f} s of training")
    return {"eval_return": eval_return, "initial_eval_return": initial, "behaviour_return": behaviour,
            "wall_time": wall, "dataset_time": data_time, "gradient_steps": float(args.total_steps)}


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
