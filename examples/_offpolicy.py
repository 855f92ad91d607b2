"""The loop shared by the DDPG, TD3 and SAC examples (PARL's ``examples/{DDPG,TD3,SAC}/train.py``).

One env step, then one gradient step per env step after ``warmup_steps`` uniformly random
actions, as PARL.  Agents act in ``[-1, 1]``; the loop maps actions to the env's bounds
(PARL's ``ActionMappingWrapper``).  ``terminal`` is gymnasium's ``terminated``, so time-limit
truncation bootstraps (PARL computes the same from ``_max_episode_steps``).  Greedy and
exploratory actions are computed in numpy on zero-copy views of the actor's weights
(:class:`fastparl.core.NumpyMLP`), never through a paddle eager call.

``--actors n`` (env steps in n actor processes) and ``--learners k`` (k data-parallel learners) take
the loop in ``examples/_offpolicy_parallel.py``; the defaults (``--actors 0 --learners 1``) run
:func:`train`'s own loop below, unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import fastparl as parl
from fastparl.core import NumpyMLP, import_paddle
from fastparl.utils import ReplayMemory, TrainLogger, logger, progress_bar, set_seed

import _checkpoint as checkpoint  # noqa: E402  (examples/ is on sys.path for every example)

paddle = import_paddle()  # sets MKL_DEBUG_CPU_TYPE first (fast MKL path on AMD CPUs)

__all__ = ["DeterministicAgent", "OffPolicyAgent", "OffPolicyArgs", "evaluate", "train"]


@dataclass
class OffPolicyArgs:
    env: str = "Pendulum-v1"
    """gymnasium id with a Box action space (Pendulum-v1, HalfCheetah-v5, Hopper-v5 ...)"""
    seed: int = 0
    """seed of numpy, paddle, the replay memory and the environment"""
    total_steps: int = 20_000
    """environment steps to train for"""
    logdir: str | None = None
    """where to write progress.csv and TensorBoard events (default: runs/<algo>_<env>/seed<seed>)"""
    hidden: int = 256
    """width of the two hidden layers of the actor and of each critic"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """soft target update rate: target = (1 - tau) * target + tau * model"""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor"""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic(s)"""
    batch_size: int = 256
    """transitions per gradient step"""
    memory_size: int = 1_000_000
    """replay memory capacity"""
    warmup_steps: int = 10_000
    """uniformly random actions before the first gradient step (PARL: 1e4)"""
    eval_every: int = 5_000
    """env steps between evaluations"""
    eval_episodes: int = 10
    """deterministic episodes per evaluation"""
    tensorboard: bool = True
    """also write TensorBoard events (needs tensorboardX)"""
    progress: bool = False
    """show a tqdm progress bar"""
    checkpoint_every: float = 0.0
    """seconds between checkpoints of the whole training state into <logdir>/checkpoint (0: none)"""
    resume: bool = False
    """continue from <logdir>/checkpoint if there is one (see examples/_checkpoint.py for what is restored)"""
    actors: int = 0
    """0: step the env in this process (PARL's loop); n > 0: n actor processes step an env each with a numpy copy
    of the policy, asynchronously (examples/_offpolicy_parallel.py)"""
    learners: int = 1
    """1: learn in this process; k > 1: k data-parallel learner processes, each taking batch_size / k rows of
    every minibatch, gradients all-reduced (fastparl.learners.LearnerGroup)"""
    actor_steps: int = 50
    """with --actors n or --learners k: env steps per collection call; the policy's weights are sent between calls"""


class OffPolicyAgent(parl.Agent):
    """PARL's ``MujocoAgent``: numpy batch -> tensors -> ``alg.learn``; numpy acting.

    Subclasses set ``self._policy`` (obs -> deterministic action in ``[-1, 1]``, numpy) and
    may override :meth:`sample`.

    Args:
        algorithm: a DDPG, TD3 or SAC algorithm.
        act_dim: size of the action.
    """

    def __init__(self, algorithm: parl.Algorithm, act_dim: int) -> None:
        super().__init__(algorithm)
        self.act_dim = int(act_dim)
        self.alg.sync_target(decay=0)  # as PARL: start with target == model
        self._policy: Callable[[np.ndarray], np.ndarray] | None = None

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action ``(act_dim,)`` for one observation, or ``(N, act_dim)`` for N."""
        if self._policy is None:
            raise NotImplementedError(f"{type(self).__name__} must set self._policy in __init__")
        return self._policy(obs)

    def learn(
        self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, terminal: np.ndarray
    ) -> float:
        """One ``alg.learn`` on a numpy batch (``reward``/``terminal`` of shape ``(N,)``); returns the critic loss."""
        losses = self.alg.learn(
            paddle.to_tensor(obs, dtype="float32"),
            paddle.to_tensor(action, dtype="float32"),
            paddle.to_tensor(reward.reshape(-1, 1), dtype="float32"),
            paddle.to_tensor(next_obs, dtype="float32"),
            paddle.to_tensor(terminal.reshape(-1, 1), dtype="float32"),
        )
        return float(losses[0] if isinstance(losses, tuple) else losses)

    # ------------------------------------------------- for examples/_offpolicy_parallel.py (--actors, --learners)
    def acting_policy(self) -> Callable[..., np.ndarray] | None:
        """A numpy copy of :meth:`sample` that actor processes run without paddle: ``policy(weights, obs, rng)``
        over :meth:`acting_weights` (``examples/_offpolicy_actor.py``), or None if this agent has none (then
        ``--actors``/``--learners`` are refused)."""
        return None

    def acting_weights(self) -> dict[str, np.ndarray]:
        """Copies of the actor network's weights (``alg.model.actor_model.get_weights()``): what
        :meth:`acting_policy` reads."""
        return self.alg.model.actor_model.get_weights()

    def learn_noise(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """The random draws one :meth:`learn_with_noise` on ``batch_size`` rows takes, drawn by the caller, so
        that k learners, each on its rows of the batch, use the draws one learner would.  ``()``: the algorithm
        draws its own (DDPG draws none; TD3's target-smoothing noise is then drawn on each learner)."""
        return ()

    def learn_with_noise(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
                         terminal: np.ndarray, *noise: np.ndarray) -> float:
        """:meth:`learn` with the draws of :meth:`learn_noise` (here none); returns the critic loss."""
        if noise:
            raise TypeError(f"{type(self).__name__}.learn_with_noise takes no noise arrays (learn_noise() is empty), "
                            f"got {len(noise)}")
        return self.learn(obs, action, reward, next_obs, terminal)


class DeterministicAgent(OffPolicyAgent):
    """Deterministic policy plus Gaussian exploration noise, as PARL's DDPG/TD3 ``MujocoAgent``.

    The actor (``algorithm.model.actor_model``) must be ``tanh(l3(relu(l2(relu(l1(obs))))))``.

    Args:
        algorithm: ``parl.algorithms.DDPG`` or ``TD3``.
        act_dim: action size.
        expl_noise: std of the exploration noise, relative to the ``[-1, 1]`` action range.
    """

    def __init__(self, algorithm: parl.Algorithm, act_dim: int, expl_noise: float = 0.1) -> None:
        super().__init__(algorithm, act_dim)
        self.expl_noise = expl_noise
        actor = algorithm.model.actor_model
        self._policy = NumpyMLP([actor.l1, actor.l2, actor.l3], activation="relu", output="tanh")

    def sample(self, obs: np.ndarray) -> np.ndarray:
        """``clip(predict(obs) + N(0, expl_noise), -1, 1)``."""
        action = self.predict(obs) + np.random.normal(0.0, self.expl_noise, size=self.act_dim)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def acting_policy(self) -> Callable[..., np.ndarray] | None:
        """:meth:`sample` in numpy for actor processes; None for a subclass that samples otherwise."""
        if type(self).sample is not DeterministicAgent.sample:
            return None
        from _offpolicy_actor import GaussianNoisePolicy

        return GaussianNoisePolicy(("l1", "l2", "l3"), self.expl_noise)


def evaluate(agent: OffPolicyAgent, env: gym.Env, episodes: int) -> float:
    """Mean return of ``episodes`` deterministic episodes (``agent.predict``)."""
    low, high = env.action_space.low, env.action_space.high
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            action = low + (agent.predict(obs) + 1.0) * 0.5 * (high - low)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(name: str, args: Any, make_agent: Callable[[int, int, Any], OffPolicyAgent]) -> dict[str, float]:
    """Train ``make_agent(obs_dim, act_dim, args)`` on ``args.env``.

    Returns:
        ``{"eval_return", "wall_time", "env_steps"}``; ``eval_return`` is the mean of
        ``args.eval_episodes`` deterministic episodes at the end, on a separately seeded env.
    """
    if getattr(args, "actors", 0) or getattr(args, "learners", 1) != 1:
        from _offpolicy_parallel import train_parallel

        return train_parallel(name, args, make_agent)
    with checkpoint.saving_on_sigterm(bool(getattr(args, "checkpoint_every", 0.0))):
        return _train_serial(name, args, make_agent)


def _train_serial(name: str, args: Any, make_agent: Callable[[int, int, Any], OffPolicyAgent]) -> dict[str, float]:
    """:func:`train`'s loop in this process (``--actors 0 --learners 1``): PARL's, one env step then one gradient
    step."""
    logdir = args.logdir or f"runs/{name}_{args.env}/seed{args.seed}"
    env, eval_env = gym.make(args.env), gym.make(args.env)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{name} needs a continuous (Box) action space; {args.env} has {env.action_space}")
    set_seed(args.seed, env=env, paddle=True)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])
    low, high = env.action_space.low, env.action_space.high

    agent = make_agent(obs_dim, act_dim, args)
    rpm = ReplayMemory(args.memory_size, obs_dim, act_dim, rng=args.seed)
    ckpt = os.path.join(logdir, "checkpoint")
    counters = {"step": 0, "episodes": 0, "wall": 0.0, "eval_return": float("nan")}
    resumed = bool(getattr(args, "resume", False)) and checkpoint.exists(ckpt)
    if resumed:
        counters = checkpoint.load(ckpt, agent, rpm, (env, eval_env))
        logger.info(f"{name}: resumed from {ckpt} at step {counters['step']} (continuing exactly)")
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard, resume_from=int(counters["step"]) if resumed else None)
    logger.info(f"{name} on {args.env}: obs_dim {obs_dim}, act_dim {act_dim}, logdir {logdir}")

    start = time.time() - counters["wall"]
    every = float(getattr(args, "checkpoint_every", 0.0) or 0.0)
    next_ckpt = time.time() + every
    obs, _ = env.reset()  # after a resume: the episode the checkpoint was about to start (RNG restored)
    ep_return, ep_len, loss = 0.0, 0, float("nan")
    episodes, eval_return = int(counters["episodes"]), float(counters["eval_return"])
    bar = progress_bar(args.total_steps, desc=name, disable=not args.progress, initial=int(counters["step"]))
    for step in range(int(counters["step"]) + 1, args.total_steps + 1):
        if step <= args.warmup_steps:
            action = np.random.uniform(-1.0, 1.0, size=act_dim).astype(np.float32)
        else:
            action = agent.sample(obs)
        next_obs, reward, terminated, truncated, _ = env.step(low + (action + 1.0) * 0.5 * (high - low))
        rpm.append(obs, action, reward, next_obs, terminated)
        obs = next_obs
        ep_return += float(reward)
        ep_len += 1
        if step > args.warmup_steps:
            loss = agent.learn(*rpm.sample_batch(args.batch_size))
        if terminated or truncated:
            episodes += 1
            tlog.log(step, episode_return=ep_return, episode_length=ep_len, critic_loss=loss)
            if every and checkpoint.due(next_ckpt) and step < args.total_steps and step % args.eval_every:
                # between episodes and before the reset: a resumed run continues exactly as this one would
                checkpoint.save(ckpt, agent, rpm, (env, eval_env), {"step": step, "episodes": episodes,
                                                                    "wall": time.time() - start,
                                                                    "eval_return": eval_return})
                tlog.flush()
                checkpoint.exit_if_stopping(ckpt)
                next_ckpt = time.time() + every
            obs, _ = env.reset()
            ep_return, ep_len = 0.0, 0
        if step % args.eval_every == 0 or step == args.total_steps:
            eval_return = evaluate(agent, eval_env, args.eval_episodes)
            tlog.log(step, eval_return=eval_return, episodes=episodes)
            logger.info(f"step {step} episodes {episodes} critic_loss {loss:.3f} eval_return {eval_return:.1f}")
        bar.update(1)
    bar.close()
    wall = time.time() - start
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    logger.info(f"done: eval_return {eval_return:.1f} over {args.eval_episodes} episodes, {wall:.1f} s")
    return {"eval_return": eval_return, "wall_time": wall, "env_steps": float(args.total_steps)}
