"""ES on CartPole-v1 with PARL's Learner/Actor structure (``examples/ES``), serial or with remote actors.

Every iteration the learner broadcasts its flat weights with ``parl.put`` (one shared copy, read
by all actors), each actor evaluates mirrored perturbations drawn from the noise table and returns
noise offsets and episode returns, and the learner ranks the returns, rebuilds the perturbations
from the same table and takes an Adam step (PARL's ``MujocoAgent.learn``).  The noise table is
built once, in shared memory (``parl.shared_array``), and handed to every actor as a handle: N
actors map one table (PARL builds it again in every actor: 1 GB each with its default 250M values).

    python examples/ES/train.py --env CartPole-v1 --seed 0 --total-steps 300000
    python examples/ES/train.py --actors 2
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import fastparl  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE, quiets paddle's ccache warning)
import paddle
import paddle.nn as nn

import fastparl as parl
from fastparl.algorithms.es import ES, Adam, SharedNoiseTable, batched_weighted_sum, compute_centered_ranks
from fastparl.utils import TrainLogger, logger, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from es_actor import Actor, ESWorker  # noqa: E402


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium id (discrete actions, vector observations)"""
    seed: int = 0
    total_steps: int = 300_000
    """environment steps of the perturbed episodes (whole iterations)"""
    actors: int = 0
    """0: one worker in this process; N > 0: N remote actors"""
    pop_size: int = 20
    """mirrored pairs per iteration (2 * pop_size episodes), split over the actors"""
    noise_stdev: float = 0.1
    """sigma of the parameter perturbations"""
    stepsize: float = 0.05
    """Adam's step size"""
    l2_coeff: float = 0.005
    """weight decay added to the ES gradient (PARL's)"""
    noise_size: int = 25_000_000
    """values in the shared noise table (float32; PARL: 250M)"""
    noise_seed: int = 1024
    hidden: int = 16
    """tanh units of the policy's hidden layer"""
    eval_episodes: int = 10
    logdir: str | None = None
    """progress.csv + TensorBoard (default runs/es_<env>/seed<seed>)"""
    tensorboard: bool = True


class CartpoleModel(parl.Model):
    """A one-hidden-layer tanh MLP giving action logits (the policy acts greedily)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(obs_dim, hidden), nn.Linear(hidden, act_dim)

    def forward(self, obs: paddle.Tensor) -> paddle.Tensor:
        """Logits ``(B, act_dim)``."""
        return self.fc2(paddle.tanh(self.fc1(obs)))


class CartpoleAgent(parl.Agent):
    """PARL's ``MujocoAgent``: flat weights, numpy Adam on the ES gradient."""

    def __init__(self, algorithm: ES, stepsize: float, l2_coeff: float) -> None:
        super().__init__(algorithm)
        self.weights_total_size = algorithm.weights_total_size
        self.optimizer = Adam(self.weights_total_size, stepsize)
        self.l2_coeff = l2_coeff

    def predict(self, obs: np.ndarray) -> int:
        """Greedy action of one observation (paddle forward)."""
        return int(self.alg.predict(np.asarray(obs, np.float32)[None]).numpy().argmax())

    def learn(self, noisy_rewards: np.ndarray, noises: list[np.ndarray]) -> float:
        """One Adam step on the ES gradient; returns |step| / |theta|.

        Args:
            noisy_rewards: ``(P, 2)`` shaped (centered-rank) returns of ``[+eps, -eps]``.
            noises: ``P`` noise vectors of ``weights_total_size`` values.
        """
        g, _ = batched_weighted_sum(noisy_rewards[:, 0] - noisy_rewards[:, 1], noises, batch_size=500)
        g /= noisy_rewards.size
        theta = self.get_flat_weights()
        theta, update_ratio = self.optimizer.update(theta, -g + self.l2_coeff * theta)
        self.set_flat_weights(theta)
        return update_ratio

    def get_flat_weights(self) -> np.ndarray:
        """The policy's weights as one float32 vector."""
        return self.alg.get_flat_weights()

    def set_flat_weights(self, flat_weights: np.ndarray) -> None:
        """Set the policy's weights from one vector."""
        self.alg.set_flat_weights(flat_weights)


def train(args: Args) -> dict[str, float]:
    """Train ES; return eval returns (before/after), wall time and env steps/s."""
    start = time.time()
    if args.actors < 0 or args.pop_size < max(args.actors, 1):
        raise ValueError(f"--actors {args.actors} must be >= 0 and <= --pop-size {args.pop_size}")
    logdir = args.logdir or f"runs/es_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    env = gym.make(args.env)
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    env.close()
    agent = CartpoleAgent(ES(CartpoleModel(obs_dim, act_dim, args.hidden)), args.stepsize, args.l2_coeff)
    t0 = time.time()
    table = SharedNoiseTable(args.noise_size, seed=args.noise_seed, shared=args.actors > 0)
    logger.info(f"noise table: {table.noise.nbytes / 2**20:.0f} MiB built in {time.time() - t0:.1f} s, "
                f"{'shared by' if args.actors else 'used by'} {max(args.actors, 1)} worker(s)")
    shapes = agent.alg.weights_shapes
    evaluator = ESWorker(args.env, table.noise, shapes, args.noise_stdev, args.seed + 10_000)
    initial_return = float(evaluator.evaluate(agent.get_flat_weights(), args.eval_episodes)[0].mean())
    if args.actors:  # samplers that may die: training goes on with the others, the dead are restored
        pool = parl.ActorPool(lambda i: Actor(args.env, table.noise, shapes, args.noise_stdev, args.seed + 1000 * i),
                              args.actors)
    else:
        worker = ESWorker(args.env, table.noise, shapes, args.noise_stdev, args.seed)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"ES on {args.env}: {args.pop_size} mirrored pairs per iteration, actors {args.actors}, "
                f"{agent.weights_total_size} weights, initial eval {initial_return:.1f}")

    deaths = restores = 0
    steps, iteration, sample_time = 0, 0, 0.0
    train_start = time.time()
    while steps < args.total_steps:
        t0 = time.time()
        flat = agent.get_flat_weights()
        if args.actors:
            ref = parl.put(flat)  # one shared copy, read in place by every actor
            pool.restore()  # dead actors come back when due; the population is split over those in service
            alive = pool.healthy
            if not alive:
                raise parl.errors.ActorDiedError("every ES actor is dead and none could be restored (see the log)")
            pairs = {i: args.pop_size // len(alive) + (k < args.pop_size % len(alive)) for k, i in enumerate(alive)}
            results = pool.foreach(lambda a, i, r=ref, n=pairs: a.sample(r, n[i]))
        else:
            results = [worker.sample(flat, args.pop_size)]
        sample_time += time.time() - t0
        noise_indices = np.concatenate([r["noise_indices"] for r in results])
        noisy_rewards = np.concatenate([r["noisy_rewards"] for r in results])
        noisy_lengths = np.concatenate([r["noisy_lengths"] for r in results])
        noises = [table.get(int(i), agent.weights_total_size) for i in noise_indices]
        update_ratio = agent.learn(compute_centered_ranks(noisy_rewards), noises)
        steps += int(noisy_lengths.sum())
        iteration += 1
        tlog.log(steps, episode_return=float(noisy_rewards.mean()), max_return=float(noisy_rewards.max()),
                 update_ratio=update_ratio, steps_per_s=steps / (time.time() - train_start))
        if iteration % 10 == 0:
            logger.info(f"iter {iteration}, step {steps}: mean perturbed return {noisy_rewards.mean():.1f}")
    train_wall = time.time() - train_start
    if args.actors:
        deaths = sum(e.kind == "died" for e in pool.events)  # samplers that died (and came back)
        restores = sum(e.kind == "restored" for e in pool.events)
        pool.close("close")
    eval_return = float(evaluator.evaluate(agent.get_flat_weights(), args.eval_episodes)[0].mean())
    evaluator.close()
    tlog.log(steps, eval_return=eval_return)
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    wall = time.time() - start
    result = {"eval_return": eval_return, "initial_eval_return": initial_return, "wall_time": wall,
              "train_time": train_wall, "env_steps": float(steps), "iterations": float(iteration),
              "steps_per_s": steps / train_wall, "sample_steps_per_s": steps / sample_time,
              "sampler_deaths": float(deaths), "sampler_restores": float(restores)}
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} episodes), {wall:.1f} s, "
                f"{result['steps_per_s']:.0f} env steps/s overall, {result['sample_steps_per_s']:.0f} while sampling")
    return result


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags, help from the field docs)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
