"""A2C on CartPole-v1 with PARL's Learner/Actor structure (``examples/A2C``), serial or with remote actors.

Every update, the learner sends its weights (a dict of numpy arrays) to the actors, each actor
runs ``n_steps`` steps of its envs with those weights and returns the batch with GAE advantages
and value targets, and the learner takes one ``parl.algorithms.A2C`` step on all of it (PARL's
synchronous A2C).  ``--actors 0`` runs a single worker owning all envs in this process;
``--actors N`` runs N ``@parl.remote_class`` actors in their own processes, ``num_envs / N`` envs each.

    python examples/A2C/train.py --env CartPole-v1 --seed 0 --total-steps 200000
    python examples/A2C/train.py --actors 2
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import fastparl  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE, quiets paddle's ccache warning)
import paddle

import fastparl as parl
from fastparl.utils.arguments import parse_args as fastparl_parse_args
from fastparl.utils import TrainLogger, logger, set_seed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this example's actor module, and examples/ for the shared ones
from _actor_critic import CartpoleModel, DecayAgent, evaluate  # noqa: E402
from a2c_actor import Actor, RolloutWorker  # noqa: E402


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium id (discrete actions, vector observations)"""
    seed: int = 0
    total_steps: int = 200_000
    """environment steps (rounded up to whole batches of num_envs * n_steps)"""
    actors: int = 0
    """0: one worker in this process; N > 0: N remote actors (num_envs must divide by N)"""
    num_envs: int = 8
    """envs in total, over all actors"""
    n_steps: int = 5
    """steps per env per update (PARL's sample_batch_steps)"""
    start_lr: float = 1e-3
    """Adam's learning rate, decayed linearly to 0 over total_steps (PARL's LinearDecayScheduler)"""
    entropy_coeff: float = -0.01
    """added to the loss times the summed entropy: negative rewards entropy (PARL's convention)"""
    vf_loss_coeff: float = 0.5
    gamma: float = 0.99
    gae_lambda: float = 1.0
    eval_episodes: int = 10
    logdir: str | None = None
    """progress.csv + TensorBoard (default runs/a2c_<env>/seed<seed>)"""
    tensorboard: bool = True


class CartpoleAgent(DecayAgent):
    """PARL's ``AtariAgent`` for A2C: one synchronous A2C step per batch."""

    def learn(self, obs: np.ndarray, actions: np.ndarray, advantages: np.ndarray,
              target_values: np.ndarray) -> tuple[float, float, float, float, float]:
        """One A2C step on the batch; returns ``(total_loss, pi_loss, vf_loss, entropy, lr)`` (sums over the batch)."""
        lr = self.lr_scheduler.step(step_num=len(obs))
        losses = self.alg.learn(obs, actions, advantages, target_values, max(lr, 1e-8), self.entropy_coeff)
        total, pi, vf, ent = paddle.stack(list(losses)).numpy().tolist()
        return total, pi, vf, ent, lr


def train(args: Args) -> dict[str, float]:
    """Train A2C; return eval returns (before/after), wall time and env steps/s."""
    start = time.time()
    if args.actors < 0 or (args.actors and args.num_envs % args.actors):
        raise ValueError(f"--actors {args.actors} must be 0 or divide --num-envs {args.num_envs}")
    logdir = args.logdir or f"runs/a2c_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    eval_env = gym.make(args.env)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = int(np.prod(eval_env.observation_space.shape)), int(eval_env.action_space.n)
    model = CartpoleModel(obs_dim, act_dim)
    alg = parl.algorithms.A2C(model, vf_loss_coeff=args.vf_loss_coeff)
    agent = CartpoleAgent(alg, args.start_lr, args.total_steps, args.entropy_coeff)
    initial_return = evaluate(agent, eval_env, args.eval_episodes)

    per_actor = args.num_envs // max(args.actors, 1)
    worker_args = (args.env, per_actor, args.n_steps, args.gamma, args.gae_lambda)
    if args.actors:  # samplers that may die: training goes on with the others, the dead are restored
        pool = parl.ActorPool(lambda i: Actor(*worker_args, args.seed + 1000 * i), args.actors,
                              on_restore=lambda a: a.set_weights(agent.get_weights()))
    else:
        worker = RolloutWorker(*worker_args, args.seed)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"A2C on {args.env}: {args.num_envs} envs x {args.n_steps} steps per update, actors {args.actors}, "
                f"initial eval {initial_return:.1f}")

    deaths = restores = 0
    steps, updates, sample_time, returns = 0, 0, 0.0, deque(maxlen=20)
    train_start = time.time()
    while steps < args.total_steps:
        t0 = time.time()
        weights = agent.get_weights()
        if args.actors:  # each actor: the new weights, then a batch (a dead actor's batch is dropped whole)
            datas = pool.foreach(lambda a, i, w=weights: (a.set_weights(w), a.sample())[1])
        else:
            worker.set_weights(weights)
            datas = [worker.sample()]
        batch = {k: np.concatenate([d[k] for d in datas]) if len(datas) > 1 else datas[0][k] for k in datas[0]}
        sample_time += time.time() - t0
        total, pi_loss, vf_loss, entropy, lr = agent.learn(batch["obs"], batch["actions"], batch["advantages"],
                                                           batch["target_values"])
        steps += len(batch["obs"])
        updates += 1
        if updates % 100 == 0:
            metrics = pool.foreach("get_metrics") if args.actors else [worker.get_metrics()]
            for m in metrics:
                returns.extend(m["episode_rewards"])
            tlog.log(steps, episode_return=float(np.mean(returns)) if returns else None, total_loss=total,
                     pi_loss=pi_loss, vf_loss=vf_loss, entropy=entropy, lr=lr,
                     steps_per_s=steps / (time.time() - train_start))
            if updates % 1000 == 0 and returns:
                logger.info(f"step {steps}: mean return of the last {len(returns)} episodes {np.mean(returns):.1f}")
    train_wall = time.time() - train_start
    if args.actors:
        deaths = sum(e.kind == "died" for e in pool.events)  # samplers that died (and came back)
        restores = sum(e.kind == "restored" for e in pool.events)
        pool.close("close")
    else:
        worker.close()
    eval_return = evaluate(agent, eval_env, args.eval_episodes)
    tlog.log(steps, eval_return=eval_return)
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    wall = time.time() - start
    result = {"eval_return": eval_return, "initial_eval_return": initial_return, "wall_time": wall,
              "train_time": train_wall, "env_steps": float(steps), "steps_per_s": steps / train_wall,
              "sample_steps_per_s": steps / sample_time,
              "sampler_deaths": float(deaths), "sampler_restores": float(restores)}
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} greedy episodes), {wall:.1f} s, "
                f"{result['steps_per_s']:.0f} env steps/s overall, {result['sample_steps_per_s']:.0f} while sampling")
    return result


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags, help from the field docs)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
