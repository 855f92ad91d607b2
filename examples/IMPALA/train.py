"""IMPALA on CartPole-v1 with PARL's Learner/Actor structure (``examples/IMPALA``), serial or asynchronous.

``--actors N`` starts N ``@parl.remote_class(wait=False)`` actors and keeps one ``sample`` call in
flight on each.  The learner waits for whichever finishes first (``parl.wait``), takes one
``parl.algorithms.IMPALA.learn`` step on that batch (V-trace by the Numba ``fastparl.kernels.vtrace``
corrects for the actor's slightly older policy; the batches of all actors done by then are
concatenated), publishes the new weights once with ``parl.put`` and sends those actors back to
sample with them, while the others keep running.  ``--actors 0`` runs
one worker owning all envs in this process, sampling and learning in turn (the serial loop).

``--learners k`` (k > 1) learns data-parallel with :class:`fastparl.learners.LearnerGroup`: each
batch is split by env segment over k learner processes (one GPU each where there are GPUs), each
computes the summed V-trace loss of its segments (V-trace by the Numba kernel, in the learner that
holds the segment) and the gradients are summed across learners at the step, which is exactly the
step on the whole batch.  The learning rate is decayed here and sent with each batch.

    python examples/IMPALA/train.py --env CartPole-v1 --seed 0 --total-steps 300000
    python examples/IMPALA/train.py --actors 2
    python examples/IMPALA/train.py --actors 2 --learners 2
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections import deque
from dataclasses import dataclass

import cloudpickle
import gymnasium as gym
import numpy as np
import fastparl  # noqa: F401  (before paddle: sets MKL_DEBUG_CPU_TYPE, quiets paddle's ccache warning)
import paddle

import fastparl as parl
from fastparl.learners import LearnerGroup, split_batch
from fastparl.utils import TrainLogger, logger, set_seed
from fastparl.utils.arguments import parse_args as fastparl_parse_args

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this example's actor module, and examples/ for the shared ones
from _actor_critic import CartpoleModel, DecayAgent, evaluate  # noqa: E402
from impala_actor import Actor, ImpalaWorker  # noqa: E402


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium id (discrete actions, vector observations)"""
    seed: int = 0
    total_steps: int = 300_000
    """environment steps (rounded up to whole batches)"""
    actors: int = 0
    """0: one worker in this process (serial); N > 0: N asynchronous remote actors (num_envs must divide by N)"""
    learners: int = 1
    """1: learn in this process; k > 1: k data-parallel learner processes (each batch split by env segment)"""
    num_envs: int = 8
    """envs in total, over all actors"""
    sample_batch_steps: int = 20
    """steps per env per batch (PARL's sample_batch_steps; the last one only bootstraps)"""
    start_lr: float = 1e-3
    """Adam's learning rate, decayed linearly to 0 over total_steps"""
    entropy_coeff: float = -0.01
    """added to the loss times the summed entropy: negative rewards entropy (PARL's convention)"""
    vf_loss_coeff: float = 0.5
    gamma: float = 0.99
    clip_rho_threshold: float = 1.0
    clip_pg_rho_threshold: float = 1.0
    eval_episodes: int = 10
    logdir: str | None = None
    """progress.csv + TensorBoard (default runs/impala_<env>/seed<seed>)"""
    tensorboard: bool = True


class CartpoleAgent(DecayAgent):
    """PARL's ``AtariAgent`` for IMPALA: one step per actor batch."""

    def learn(self, batch: dict[str, np.ndarray], lr: float | None = None) -> dict[str, float]:
        """One IMPALA step on an actor's batch; returns the losses (sums over the batch), KL and lr.

        ``lr``: the learning rate to use (a learner of a group gets it from the driver's schedule);
        None steps this agent's own schedule by the batch's steps.
        """
        if lr is None:
            lr = self.next_lr(len(batch["obs"]))
        loss, kl = self.alg.learn(batch["obs"], batch["actions"], batch["behaviour_logits"], batch["rewards"],
                                  batch["dones"], lr, self.entropy_coeff)
        values = paddle.stack([loss.total_loss, loss.pi_loss, loss.vf_loss, loss.entropy, kl]).numpy().tolist()
        return dict(zip(("total_loss", "pi_loss", "vf_loss", "entropy", "kl"), values, strict=True)) | {"lr": lr}

    def next_lr(self, steps: int) -> float:
        """Advance the linear decay by ``steps`` env steps; the learning rate for the next update."""
        return max(self.lr_scheduler.step(step_num=steps), 1e-8)


def build_agent(obs_dim: int, act_dim: int, args: Args) -> CartpoleAgent:
    """PARL's IMPALA on a :class:`CartpoleModel`, with this run's settings (here and in each learner)."""
    alg = parl.algorithms.IMPALA(CartpoleModel(obs_dim, act_dim), sample_batch_steps=args.sample_batch_steps,
                                 gamma=args.gamma, vf_loss_coeff=args.vf_loss_coeff,
                                 clip_rho_threshold=args.clip_rho_threshold,
                                 clip_pg_rho_threshold=args.clip_pg_rho_threshold)
    return CartpoleAgent(alg, args.start_lr, args.total_steps, args.entropy_coeff)


def learn_on_group(group: LearnerGroup, agent: CartpoleAgent, batch: dict[str, np.ndarray],
                   segment: int) -> dict[str, float]:
    """One synchronous step of the learners on ``batch`` split by env segment; losses summed, KL averaged."""
    lr = agent.next_lr(len(batch["obs"]))
    stats = group.run("learn", batch, unit=segment, lr=lr)
    _, sizes = split_batch(batch["obs"], group.num_learners, unit=segment)
    merged = {k: float(sum(s[k] for s in stats)) for k in ("total_loss", "pi_loss", "vf_loss", "entropy")}
    merged["kl"] = float(np.average([s["kl"] for s in stats], weights=sizes))
    return merged | {"lr": lr}


def train(args: Args) -> dict[str, float]:
    """Train IMPALA; return eval returns (before/after), wall time and env steps/s."""
    start = time.time()
    if args.actors < 0 or (args.actors and args.num_envs % args.actors):
        raise ValueError(f"--actors {args.actors} must be 0 or divide --num-envs {args.num_envs}")
    if args.learners < 1 or args.learners > args.num_envs // max(args.actors, 1):
        raise ValueError(f"--learners {args.learners} must be between 1 and the envs of one batch "
                         f"({args.num_envs // max(args.actors, 1)}): each learner takes whole env segments")
    logdir = args.logdir or f"runs/impala_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    eval_env = gym.make(args.env)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = int(np.prod(eval_env.observation_space.shape)), int(eval_env.action_space.n)
    agent = build_agent(obs_dim, act_dim, args)
    initial_return = evaluate(agent, eval_env, args.eval_episodes)
    group = None
    if args.learners > 1:  # summed V-trace losses: gradients summed over learners (reduce="sum")
        if __name__ != "__main__":  # imported (e.g. by the tests): learners rebuild this module's classes by value
            cloudpickle.register_pickle_by_value(sys.modules[__name__])
        group = LearnerGroup(functools.partial(build_agent, obs_dim, act_dim, args), args.learners, reduce="sum",
                             seed=args.seed)
        group.set_weights(agent.get_weights())

    per_actor = args.num_envs // max(args.actors, 1)
    if args.actors:  # samplers that may die: training goes on with the others, the dead are restored
        pool = parl.ActorPool(lambda i: Actor(args.env, per_actor, args.sample_batch_steps, args.seed + 1000 * i),
                              args.actors)
    else:
        worker = ImpalaWorker(args.env, per_actor, args.sample_batch_steps, args.seed)
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard)
    logger.info(f"IMPALA on {args.env}: {args.num_envs} envs x {args.sample_batch_steps} steps, actors "
                f"{args.actors}, learners {args.learners}, initial eval {initial_return:.1f}")

    deaths = restores = 0
    steps, updates, wait_time, returns = 0, 0, 0.0, deque(maxlen=20)
    train_start = time.time()
    if args.actors:
        ref = parl.put(agent.get_weights())  # one shared copy of the weights, read in place by the actors
        pool.submit("sample", ref)  # a sample call in flight on every actor
    while steps < args.total_steps:
        t0 = time.time()
        if args.actors:
            datas = [d for _, d in pool.ready(num_returns=1)]  # all finished ones: one bigger batch
            while not datas:  # the actors in flight died: restored ones (when due) sample with the latest weights
                pool.submit("sample", ref)
                datas = [d for _, d in pool.ready(num_returns=1, timeout=1.0)]
            batch = {k: np.concatenate([d[k] for d in datas]) for k in datas[0]} if len(datas) > 1 else datas[0]
        else:
            batch = worker.sample(agent.get_weights())
        wait_time += time.time() - t0
        if group is None:
            stats = agent.learn(batch)
        else:
            stats = learn_on_group(group, agent, batch, args.sample_batch_steps)
            agent.set_weights(group.get_weights())
        if args.actors:
            ref = parl.put(agent.get_weights())
            pool.submit("sample", ref)  # the actors that finished (and restored ones) sample again
        steps += len(batch["obs"])
        updates += 1
        if updates % 50 == 0:
            metrics = pool.foreach("get_metrics") if args.actors else [worker.get_metrics()]
            for m in metrics:
                returns.extend(m["episode_rewards"])
            tlog.log(steps, episode_return=float(np.mean(returns)) if returns else None,
                     steps_per_s=steps / (time.time() - train_start), **stats)
            if updates % 500 == 0 and returns:
                logger.info(f"step {steps}: mean return of the last {len(returns)} episodes {np.mean(returns):.1f}")
    train_wall = time.time() - train_start
    if args.actors:
        while pool.in_flight:
            pool.ready(num_returns=pool.in_flight)
        deaths = sum(e.kind == "died" for e in pool.events)  # samplers that died (and came back)
        restores = sum(e.kind == "restored" for e in pool.events)
        pool.close("close")
    else:
        worker.close()
    if group is not None:
        group.close()
    eval_return = evaluate(agent, eval_env, args.eval_episodes)
    tlog.log(steps, eval_return=eval_return)
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    wall = time.time() - start
    result = {"eval_return": eval_return, "initial_eval_return": initial_return, "wall_time": wall,
              "train_time": train_wall, "env_steps": float(steps), "updates": float(updates),
              "steps_per_s": steps / train_wall, "learner_wait_frac": wait_time / train_wall,
              "sampler_deaths": float(deaths), "sampler_restores": float(restores)}
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} greedy episodes), {wall:.1f} s, "
                f"{result['steps_per_s']:.0f} env steps/s, learner waiting for data {100 * wait_time / train_wall:.0f}%")
    return result


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags, help from the field docs)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
