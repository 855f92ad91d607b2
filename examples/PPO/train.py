"""PPO on a gymnasium env (CartPole-v1, or a MuJoCo task such as InvertedPendulum-v5): PARL's PPO example.

The algorithm is ``parl.algorithms.PPO`` (PARL 2.x's paddle PPO); the loop is PARL's
``examples/PPO/train.py``: collect ``num_steps`` steps from ``num_envs`` envs, GAE (the Numba
kernel behind :class:`fastparl.data.RolloutStorage`), then ``update_epochs`` passes of
minibatch updates.  Envs run in this process (``--actors 0``) or in ``--actors N`` processes
with observations in shared memory (:class:`fastparl.env.RemoteVectorEnv`).  Time-limit
truncations bootstrap from V(final observation).

``--learners k`` (k > 1) trains data-parallel with :class:`fastparl.learners.LearnerGroup`: the
rollout lives in shared memory, GAE runs here, and each of k learner processes (one GPU each where
there are GPUs) runs the same epochs of minibatch updates on ``num_steps / k`` of the rollout's
steps of every env (after GAE the order of transitions no longer matters), gradients all-reduced
at every step, so the k replicas stay identical.  Advantages are normalised here, over the whole
rollout, before it is split (a shard's own statistics would differ from the batch's): with one
minibatch per epoch (the discrete preset) that is exactly PPO's per-minibatch normalisation, so k
learners take the steps one learner takes; with several minibatches it normalises over the
rollout instead of each minibatch.  ``--learners 1`` (default) learns in this process, as PARL does.

    python examples/PPO/train.py --env CartPole-v1 --seed 0 --total-steps 100000
    python examples/PPO/train.py --env CartPole-v1 --actors 2
    python examples/PPO/train.py --env CartPole-v1 --learners 2
    python examples/PPO/train.py --env InvertedPendulum-v5 --total-steps 100000   # needs gymnasium[mujoco]
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cloudpickle
import gymnasium as gym
import numpy as np

import fastparl as parl
from fastparl.data import RolloutStorage
from fastparl.env import make_vector_env
from fastparl.env.mujoco_wrappers import RunningMeanStd  # gymnasium's, as PARL's wrap_rms uses
from fastparl.learners import LearnerGroup
from fastparl.utils.arguments import parse_args as fastparl_parse_args
from fastparl.utils import TrainLogger, logger, set_seed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/: _checkpoint
import _checkpoint as checkpoint  # noqa: E402
from ppo_model import PPOAgent, PPOModel  # noqa: E402

# Hyper-parameters by action type: discrete = rl-baselines3-zoo's CartPole-v1 PPO, continuous =
# CleanRL's ppo_continuous_action.py / PARL's mujoco_config (with normalised observations and rewards).
PRESETS: dict[str, dict[str, object]] = {
    "discrete": dict(num_envs=8, num_steps=32, num_minibatches=1, update_epochs=20, lr=1e-3, clip_param=0.2,
                     clip_decay=True, entropy_coef=0.0, gamma=0.98, gae_lambda=0.8, clip_vloss=False, norm_obs=False,
                     norm_reward=False),
    "continuous": dict(num_envs=1, num_steps=2048, num_minibatches=32, update_epochs=10, lr=3e-4, clip_param=0.2,
                       clip_decay=False, entropy_coef=0.0, gamma=0.99, gae_lambda=0.95, clip_vloss=True, norm_obs=True,
                       norm_reward=True),
}


@dataclass
class Args:
    env: str = "CartPole-v1"
    """gymnasium id: discrete actions (CartPole-v1) or continuous (InvertedPendulum-v5, HalfCheetah-v5 ...)"""
    seed: int = 0
    """seed of numpy, paddle, the envs and the action sampling"""
    total_steps: int = 100_000
    """environment steps (rounded up to whole rollouts of num_envs * num_steps)"""
    actors: int = 0
    """0: step the envs in this process; N > 0: in N actor processes (RemoteVectorEnv)"""
    learners: int = 1
    """1: learn in this process; k > 1: k data-parallel learner processes (num_steps must divide by k)"""
    num_envs: int | None = None
    """parallel envs (default 8 discrete, 1 continuous)"""
    num_steps: int | None = None
    """steps per env per rollout (T in the paper)"""
    num_minibatches: int | None = None
    update_epochs: int | None = None
    lr: float | None = None
    """initial learning rate, decayed linearly to 0"""
    clip_param: float | None = None
    clip_decay: bool | None = None
    """decay clip_param linearly to 0 with the learning rate (the zoo's lin_0.2; default on for discrete)"""
    entropy_coef: float | None = None
    gamma: float | None = None
    gae_lambda: float | None = None
    clip_vloss: bool | None = None
    """clipped value loss (PARL's use_clipped_value_loss)"""
    norm_obs: bool | None = None
    """normalise observations with running statistics (PARL's wrap_rms)"""
    norm_reward: bool | None = None
    """scale rewards by the running std of the discounted return"""
    eval_episodes: int = 10
    """deterministic evaluation episodes at the end (and before training)"""
    logdir: str | None = None
    """progress.csv + TensorBoard (default runs/ppo_<env>/seed<seed>)"""
    tensorboard: bool = True
    checkpoint_every: float = 0.0
    """seconds between checkpoints into <logdir>/checkpoint, taken between updates (0: none; --learners 1 only)"""
    resume: bool = False
    """continue from <logdir>/checkpoint if there is one (new episodes start; see examples/_checkpoint.py)"""


def resolve(args: Args, continuous: bool) -> Args:
    """Fill the ``None`` fields of ``args`` from :data:`PRESETS`."""
    preset = PRESETS["continuous" if continuous else "discrete"]
    return dataclasses.replace(args, **{k: v for k, v in preset.items() if getattr(args, k) is None})


class ObsNorm:
    """Observation normalisation ``clip((x - mean) / sqrt(var + 1e-8), -10, 10)`` with running statistics."""

    def __init__(self, shape: tuple[int, ...], enabled: bool) -> None:
        self.enabled = enabled
        self.rms = RunningMeanStd(shape=shape)

    def __call__(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        if not self.enabled:
            return np.asarray(obs, np.float32)
        if update:
            self.rms.update(obs)
        return np.clip((obs - self.rms.mean) / np.sqrt(self.rms.var + 1e-8), -10, 10).astype(np.float32)


# The rollout arrays a learner needs: GAE is computed here, before the rollout is split.
LEARN_FIELDS = ("obs", "actions", "logprobs", "values", "returns", "advantages")


class ShardAgent(PPOAgent):
    """The agent of one learner process: PPO epochs on its shard of the rollout."""

    def learn_shard(self, arrays: dict[str, np.ndarray]) -> tuple[float, float, float, float | None]:
        """:meth:`PPOAgent.learn` on ``arrays`` (:data:`LEARN_FIELDS`, ``(steps of this shard, N, ...)`` views)."""
        actions = arrays["actions"]
        T, n = actions.shape[:2]
        rollout = RolloutStorage(T, n, arrays["obs"].shape[2:], actions.shape[2:], actions.dtype, arrays=dict(arrays))
        return self.learn(rollout)


def build_learner(obs_dim: int, act_dim: int, continuous: bool, args: Args, num_updates: int) -> ShardAgent:
    """Model, PPO and agent of one learner (called in the learner process), with this run's settings."""
    model = PPOModel(obs_dim, act_dim, continuous=continuous)
    alg = parl.algorithms.PPO(model, clip_param=args.clip_param, entropy_coef=args.entropy_coef, initial_lr=args.lr,
                              use_clipped_value_loss=args.clip_vloss, continuous_action=continuous,
                              norm_adv=False)  # normalised over the whole rollout by the driver
    return ShardAgent(alg, num_updates, args.update_epochs, args.num_minibatches, lr_decay=True, initial_lr=args.lr,
                      seed=args.seed, clip_decay=args.clip_decay)


def start_learners(args: Args, agent: PPOAgent, factory: Callable[[], ShardAgent]) -> LearnerGroup:
    """``args.learners`` learners built by ``factory``, holding copies of ``agent``'s weights."""
    if __name__ != "__main__":  # imported (e.g. by the tests): learners rebuild this module's classes by value
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    group = LearnerGroup(factory, args.learners, seed=args.seed)
    group.set_weights(agent.get_weights())
    return group


def evaluate(agent: PPOAgent, env: gym.Env, norm: ObsNorm, episodes: int) -> float:
    """Mean return of ``episodes`` deterministic episodes (greedy or mean action, frozen obs statistics)."""
    space = env.action_space
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            action = agent.predict(norm(obs[None]))[0]
            if isinstance(space, gym.spaces.Box):
                action = np.clip(action, space.low, space.high)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(args: Args) -> dict[str, float]:
    """Train PPO; return eval returns (before/after), wall time and env steps/s."""
    with checkpoint.saving_on_sigterm(bool(args.checkpoint_every)):
        return _train(args)


def _train(args: Args) -> dict[str, float]:
    start = time.time()
    if args.learners < 1:
        raise ValueError(f"--learners {args.learners}: use 1 to learn in this process or k > 1 for k learners")
    eval_env = gym.make(args.env)
    continuous = isinstance(eval_env.action_space, gym.spaces.Box)
    args = resolve(args, continuous)
    if args.num_steps % args.learners:
        raise ValueError(f"--learners {args.learners} must divide --num-steps {args.num_steps}: each learner takes "
                         f"as many steps of the rollout, so that all make the same number of minibatch steps")
    logdir = args.logdir or f"runs/ppo_{args.env}/seed{args.seed}"
    set_seed(args.seed, paddle=True)
    eval_env.reset(seed=args.seed + 10_000)
    # same-step autoreset, gymnasium's infos; episode returns from gymnasium's own wrapper
    envs = gym.wrappers.vector.RecordEpisodeStatistics(make_vector_env(args.env, args.num_envs, num_actors=args.actors))
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    obs_dim = int(np.prod(obs_space.shape))
    act_dim = int(np.prod(act_space.shape)) if continuous else int(act_space.n)
    batch = args.num_envs * args.num_steps
    num_updates = max(1, -(-args.total_steps // batch))  # ceil: at least total_steps steps

    model = PPOModel(obs_dim, act_dim, continuous=continuous)
    alg = parl.algorithms.PPO(model, clip_param=args.clip_param, entropy_coef=args.entropy_coef, initial_lr=args.lr,
                              use_clipped_value_loss=args.clip_vloss, continuous_action=continuous)
    agent = PPOAgent(alg, num_updates, args.update_epochs, args.num_minibatches, lr_decay=True, initial_lr=args.lr,
                     seed=args.seed, clip_decay=args.clip_decay)
    norm = ObsNorm(obs_space.shape, args.norm_obs)
    rew_rms, disc_ret = RunningMeanStd(), np.zeros(args.num_envs)
    act_shape, act_dtype = (act_space.shape, np.float32) if continuous else ((), np.int64)
    shared = None  # with learners, the rollout lives in shared memory: they read their shards in place
    if args.learners > 1:
        specs = RolloutStorage.array_specs(args.num_steps, args.num_envs, obs_space.shape, act_shape, act_dtype)
        shared = {name: parl.shared_array(shape, dtype) for name, (shape, dtype) in specs.items()}
    rollout = RolloutStorage(args.num_steps, args.num_envs, obs_space.shape, act_shape, act_dtype, arrays=shared)
    group = None
    if args.learners > 1:
        group = start_learners(args, agent, functools.partial(build_learner, obs_dim, act_dim, continuous, args,
                                                              num_updates))
    initial_return = evaluate(agent, eval_env, norm, args.eval_episodes)
    ckpt = os.path.join(logdir, "checkpoint")
    if (args.checkpoint_every or args.resume) and args.learners > 1:
        raise ValueError("--checkpoint-every / --resume need --learners 1 (the learner group's state is not saved)")
    logger.info(f"PPO on {args.env} ({'continuous' if continuous else 'discrete'}): {args.num_envs} envs x "
                f"{args.num_steps} steps, {num_updates} updates, actors {args.actors}, learners {args.learners}, "
                f"initial eval {initial_return:.1f}; logging to {os.path.abspath(logdir)} (progress.csv"
                f"{', TensorBoard' if args.tensorboard else ''})")

    steps, sample_time, episodes = 0, 0.0, deque(maxlen=20)  # returns of the last 20 episodes
    first, reset_seed = 1, args.seed
    if args.resume and checkpoint.exists(ckpt):
        saved = checkpoint.load(ckpt, agent, None, (eval_env,))
        extra = saved["extra"]
        norm.rms, rew_rms, episodes, agent.lr_scheduler = extra["obs_rms"], extra["rew_rms"], extra["episodes"], \
            extra["lr_scheduler"]
        agent.rng.bit_generator.state = extra["agent_rng"]
        steps, sample_time, first = int(saved["step"]), float(saved["sample_time"]), int(saved["update"]) + 1
        reset_seed = args.seed + 7919 * first  # the envs' episodes were not saved: new ones, from another seed
        start -= float(saved["wall"])
        logger.info(f"PPO: resumed from {ckpt} at update {first - 1} (step {steps}); the envs start new episodes")
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard, resume_from=steps if first > 1 else None)
    obs, _ = envs.reset(seed=reset_seed)
    low, high = (act_space.low, act_space.high) if continuous else (None, None)
    next_ckpt = time.time() + args.checkpoint_every
    for update in range(first, num_updates + 1):
        t0 = time.time()
        rollout.reset()
        for _ in range(args.num_steps):
            nobs = norm(obs, update=True)
            value, action, logprob, _ = agent.sample(nobs)
            obs, reward, term, trunc, info = envs.step(np.clip(action, low, high) if continuous else action)
            boot = None
            if trunc.any():  # bootstrap time-limit truncations from V(final obs)
                boot = np.zeros(args.num_envs, np.float32)
                boot[trunc] = agent.value(norm(np.stack(info["final_obs"][trunc])))
            if "episode" in info:
                episodes.extend(info["episode"]["r"][info["_episode"]].tolist())
            if args.norm_reward:  # gymnasium's NormalizeReward, vectorised
                disc_ret = disc_ret * args.gamma * (1.0 - term) + reward
                rew_rms.update(disc_ret)
                reward = np.clip(reward / np.sqrt(rew_rms.var + 1e-8), -10, 10)
            rollout.append(nobs, action, logprob, reward, term, value, trunc, boot)
        rollout.compute_returns(agent.value(norm(obs)), args.gamma, args.gae_lambda)
        steps += batch
        sample_time += time.time() - t0
        if group is None:
            value_loss, action_loss, entropy, lr = agent.learn(rollout)
        else:  # each learner takes num_steps / k steps of every env; losses averaged over learners
            adv = rollout.advantages  # normalised over the batch, as one learner does per minibatch
            adv[...] = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
            results = group.run("learn_shard", {k: getattr(rollout, k) for k in LEARN_FIELDS})
            value_loss, action_loss, entropy = np.mean([r[:3] for r in results], axis=0).tolist()
            lr = results[0][3]
            agent.set_weights(group.get_weights())  # act with the new policy
        diagnostics = agent.diagnostics if group is None else {}  # CleanRL's approx. KL, clip fraction, expl. variance
        tlog.log(steps, episode_return=float(np.mean(episodes)) if episodes else None, value_loss=value_loss,
                 action_loss=action_loss, entropy=entropy, lr=lr, steps_per_s=steps / (time.time() - start),
                 **diagnostics)
        if update % max(1, num_updates // 10) == 0 and episodes:
            logger.info(f"step {steps}: mean return of the last {len(episodes)} episodes {np.mean(episodes):.1f}")
        if args.checkpoint_every and checkpoint.due(next_ckpt) and update < num_updates:
            checkpoint.save(ckpt, agent, None, (eval_env,),
                            {"step": steps, "update": update, "sample_time": sample_time, "wall": time.time() - start},
                            {"obs_rms": norm.rms, "rew_rms": rew_rms, "episodes": episodes,
                             "lr_scheduler": agent.lr_scheduler, "agent_rng": agent.rng.bit_generator.state})
            tlog.flush()
            checkpoint.exit_if_stopping(ckpt)
            next_ckpt = time.time() + args.checkpoint_every
    envs.close()
    if group is not None:
        group.close()
    train_wall = time.time() - start
    eval_return = evaluate(agent, eval_env, norm, args.eval_episodes)
    tlog.log(steps, eval_return=eval_return)
    tlog.close()
    agent.save(f"{logdir}/model.ckpt")
    np.savez(f"{logdir}/obs_rms.npz", mean=norm.rms.mean, var=norm.rms.var)
    wall = time.time() - start
    result = {"eval_return": eval_return, "initial_eval_return": initial_return, "wall_time": wall,
              "train_time": train_wall, "env_steps": float(steps), "steps_per_s": steps / train_wall,
              "sample_steps_per_s": steps / sample_time}
    logger.info(f"done: eval return {eval_return:.1f} ({args.eval_episodes} deterministic episodes), {wall:.1f} s, "
                f"{result['steps_per_s']:.0f} env steps/s overall, {result['sample_steps_per_s']:.0f} env steps/s "
                f"while sampling")
    return result


def parse_args(argv: list[str] | None = None) -> Args:
    """Build :class:`Args` from the command line (``--total-steps`` style flags, help from the field docs)."""
    return fastparl_parse_args(Args, argv, description=__doc__.split("\n")[0])


if __name__ == "__main__":
    train(parse_args())
