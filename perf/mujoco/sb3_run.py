"""One Stable-Baselines3 run of ``python -m perf.mujoco`` (issue 19: "one SB3 run at the same budget here"),
run with SB3's interpreter:

    <sb3 python> perf/mujoco/sb3_run.py --algo TD3 --env HalfCheetah-v5 --total-steps 300000 --seed 0 \\
        --logdir perf/results/mujoco/sb3-td3-halfcheetah-s0 --checkpoint-every 300 --resume

The model is ``perf/training/sb3_models.py``'s (fastparl's example settings, the same as the speed report's);
training is SB3's own ``model.learn``, with one callback doing what fastparl's example loop does around it:

- ``progress.csv`` in the examples' columns (:class:`fastparl.utils.TrainLogger`), so ``perf.mujoco report`` puts
  both on the same axes.  TD3/SAC: a row per episode (``episode_return``, ``episode_length``, ``critic_loss``) and
  an evaluation row (``eval_return``, ``episodes``) every ``--eval-every`` env steps and at the end.  PPO: a row
  per update (mean return of the last 20 episodes, losses, ``lr``, ``steps_per_s``, approx. KL, clip fraction,
  explained variance) and an evaluation row at the end, as ``examples/PPO/train.py``;
- evaluation as the examples': ``--eval-episodes`` deterministic episodes on a separate env seeded
  ``seed + 10000`` at its first reset, after the gradient step of that env step (PPO: observations normalised
  with the frozen running statistics);
- a checkpoint every ``--checkpoint-every`` seconds into ``<logdir>/checkpoint/`` (``checkpoint.tmp`` renamed,
  as ``examples/_checkpoint.py``), taken when a rollout starts, i.e. after the last gradient step (TD3/SAC: between
  any two env steps; PPO: between updates): ``model.save`` (weights, optimizers, ``num_timesteps``, the update
  and episode counters, the last observation, PPO's episode-return window), ``save_replay_buffer`` (TD3/SAC),
  ``VecNormalize.save`` (PPO), and ``state.pkl``: numpy's, torch's and Python's global random states, the model
  action space's generator (warm-up actions), the loop's counters and SB3 logger's last values, and both envs'
  states, each wrapper layer's plain attributes (time limit, ``Monitor``'s episode so far, ``VecNormalize``'s
  discounted return, which its own ``save`` drops) with the env's generator and MuJoCo's integration state
  (``mj_getState``).  ``--resume`` loads them into a model built by ``load(..., force_reset=False)`` and goes on
  with ``learn(remaining, reset_num_timesteps=False)``: the same env steps, episode and random draws as the
  uninterrupted run, bit for bit (``tests/project/test_perf_mujoco.py``).  Not restored: wall time (the
  resumed ``time_elapsed`` goes on from the last row of progress.csv, as fastparl's), SB3's own logger (only the
  values the csv reads are carried over); an env whose state lives in objects other than arrays, numbers and
  MuJoCo's data (Box2D) would continue from a fresh state: the run prints the attributes it could not save;
- SIGTERM or SIGINT: a checkpoint at the next rollout start (TD3/SAC: the next env step; PPO: up to one update),
  then exit with ``128 + signal`` (never 0, which the run list would take for a finished run).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import pickle
import random
import signal
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3 as sb3
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(REPO, "perf", "training"), REPO]
from sb3_models import make_env, make_model  # noqa: E402  (perf/training/, as runner.py imports it)

from fastparl.utils.path_utils import atomic_folder  # noqa: E402
from fastparl.utils.progress import TrainLogger  # noqa: E402

EVAL_SEED_OFFSET = 10_000  # the examples' eval env: reset(seed=seed + 10000) once
OFF_POLICY_EVAL_EVERY = 5_000  # examples/_offpolicy.py's eval_every; PPO evaluates at the end only


class Stop(Exception):
    """Raised from the callback once the checkpoint a stop request asked for is written."""


# ------------------------------------------------------------------------------------------ env state
def _plain(x: Any) -> bool:
    """Numbers, strings, arrays and containers of them: what a layer's state is made of."""
    if x is None or isinstance(x, (bool, int, float, str, np.generic)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype != object
    if isinstance(x, (list, tuple)):
        return all(_plain(v) for v in x)
    if isinstance(x, dict):
        return all(isinstance(k, (str, int, type(None))) and _plain(v) for k, v in x.items())
    return False


def _layers(env: Any) -> list[Any]:
    """Every layer of ``env``, outside in: vector env wrappers (``.venv``), the ``DummyVecEnv``, then each
    env's gymnasium wrappers (``.env``) down to the env itself."""
    out, todo = [], [env]
    while todo:
        layer = todo.pop(0)
        out.append(layer)
        inner = getattr(layer, "venv", None) or getattr(layer, "env", None)
        todo += [inner] if inner is not None else list(getattr(layer, "envs", []))
    return out


_KNOWN = (gym.spaces.Space, gym.envs.registration.EnvSpec, np.random.Generator)


def env_state(env: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """``env``'s state (see the module docstring) and the names of the attributes it could not save."""
    states, unsaved = [], []
    for layer in _layers(env):
        st: dict[str, Any] = {"attrs": {k: copy.deepcopy(v) for k, v in vars(layer).items() if _plain(v)}}
        if not hasattr(layer, "env") and not hasattr(layer, "envs") and not hasattr(layer, "venv"):  # the env
            st["np_random"] = layer.np_random.bit_generator.state
            if type(getattr(layer, "data", None)).__module__.startswith("mujoco"):
                import mujoco

                spec = mujoco.mjtState.mjSTATE_INTEGRATION
                st["mujoco"] = np.empty(mujoco.mj_stateSize(layer.model, spec))
                mujoco.mj_getState(layer.model, layer.data, st["mujoco"], spec)
            unsaved += [f"{type(layer).__name__}.{k}" for k, v in vars(layer).items()
                        if not _plain(v) and not isinstance(v, _KNOWN)
                        and not type(v).__module__.startswith(("mujoco", "gymnasium.envs.mujoco"))]
        states.append(st)
    return states, unsaved


def set_env_state(env: Any, states: list[dict[str, Any]]) -> None:
    """Put :func:`env_state`'s ``states`` back into ``env``, built as the saved one was."""
    layers = _layers(env)
    if len(layers) != len(states):
        raise ValueError(f"the checkpoint's env has {len(states)} layers, this one {len(layers)}: build it with the "
                         "same wrappers (perf/training/sb3_models.py make_env) to resume")
    for layer, st in zip(layers, states):
        for k, v in st["attrs"].items():
            old = getattr(layer, k, None)
            if isinstance(old, np.ndarray) and isinstance(v, np.ndarray) and old.shape == v.shape and \
                    old.dtype == v.dtype and old.flags.writeable:
                old[...] = v  # in place: whoever holds the array sees the restored values
            else:
                setattr(layer, k, copy.deepcopy(v))
        if "np_random" in st:
            layer.np_random.bit_generator.state = st["np_random"]
        if "mujoco" in st:
            import mujoco

            mujoco.mj_setState(layer.model, layer.data, st["mujoco"], mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_forward(layer.model, layer.data)


# ------------------------------------------------------------------------------------------ checkpoint
def save(folder: str, model: Any, eval_env: gym.Env, counters: dict[str, Any]) -> list[str]:
    """Write the checkpoint (module docstring) to ``folder``, replacing the last one atomically; returns the env
    attributes that could not be saved."""
    with atomic_folder(folder) as tmp:
        return _write(tmp, model, eval_env, counters)


def _write(tmp: str, model: Any, eval_env: gym.Env, counters: dict[str, Any]) -> list[str]:
    model.save(os.path.join(tmp, "model.zip"))
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(os.path.join(tmp, "replay_buffer.pkl"))
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(os.path.join(tmp, "vecnormalize.pkl"))
    envs, unsaved = env_state(model.get_env())
    eval_state, eval_unsaved = env_state(eval_env)
    state = {"counters": counters, "numpy": np.random.get_state(), "torch": torch.get_rng_state().numpy(),
             "python": random.getstate(), "action_space": model.action_space.np_random.bit_generator.state,
             "env": envs, "eval_env": eval_state}
    with open(os.path.join(tmp, "state.pkl"), "wb") as f:  # numpy and Python objects only: readable without torch
        pickle.dump(state, f)
    return unsaved + eval_unsaved


def load(folder: str, a: argparse.Namespace, eval_env: gym.Env) -> tuple[Any, dict[str, Any]]:
    """The model, envs and random states :func:`save` wrote; returns the model and the loop's counters."""
    with open(os.path.join(folder, "state.pkl"), "rb") as f:
        state = pickle.load(f)  # noqa: S301 - our own file, in the run's own folder
    venv = make_env(a.algo, a.env, a.seed)
    if isinstance(venv, VecNormalize):
        venv = VecNormalize.load(os.path.join(folder, "vecnormalize.pkl"), venv.venv)
    # load() re-seeds every generator (SB3's _setup_model); they are set back from state.pkl below
    model = getattr(sb3, a.algo.upper()).load(os.path.join(folder, "model.zip"), env=venv, device="cpu",
                                              force_reset=False)
    if isinstance(model, OffPolicyAlgorithm):
        model.load_replay_buffer(os.path.join(folder, "replay_buffer.pkl"))
    set_env_state(model.get_env(), state["env"])
    set_env_state(eval_env, state["eval_env"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.from_numpy(state["torch"]))
    random.setstate(state["python"])
    model.action_space.np_random.bit_generator.state = state["action_space"]
    return model, state["counters"]


# ------------------------------------------------------------------------------------------ the loop
def evaluate(model: Any, env: gym.Env, episodes: int) -> float:
    """Mean return of ``episodes`` deterministic episodes (PPO: observations normalised, statistics frozen)."""
    norm = model.get_vec_normalize_env()
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(norm.normalize_obs(obs) if norm is not None else obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


class Loop(BaseCallback):
    """progress.csv rows, evaluations, checkpoints and stop requests around ``model.learn`` (module docstring)."""

    def __init__(self, a: argparse.Namespace, tlog: TrainLogger, eval_env: gym.Env, counters: dict[str, Any]) -> None:
        super().__init__()
        self.a, self.tlog, self.eval_env, self.c = a, tlog, eval_env, counters
        self.ppo = a.algo == "ppo"
        self.start = time.time() - counters["wall"]
        self.next_ckpt = time.time() + a.checkpoint_every
        self.stop_signal = 0
        self.warned = False

    def _on_training_start(self) -> None:
        for key, value in self.c["logged"].items():  # learn() makes a new logger: the last values go on
            self.logger.record(key, value)

    def _on_step(self) -> bool:
        info = self.locals["infos"][0]
        if not self.ppo and "episode" in info:
            self.tlog.log(self.model.num_timesteps, episode_return=info["episode"]["r"],
                          episode_length=info["episode"]["l"],
                          critic_loss=self.logger.name_to_value.get("train/critic_loss", math.nan))
        return True

    def _on_rollout_start(self) -> None:  # after the gradient step(s) of the last env step
        t = self.model.num_timesteps
        if self.ppo and t > self.c["row_step"]:
            self.update_row(t)
        if not self.ppo and self.a.eval_every and t % self.a.eval_every == 0 and t > self.c["eval_step"]:
            self.evaluation_row(t)
        stop = self.stop_signal or (self.a.stop_at and t >= self.a.stop_at)
        if t > self.c["step"] and (stop or (self.a.checkpoint_every and time.time() >= self.next_ckpt)):
            self.checkpoint(t)
        if stop:
            raise Stop

    def update_row(self, t: int) -> None:
        """PPO: the row examples/PPO/train.py logs after each update."""
        v = self.logger.name_to_value
        episodes = [ep["r"] for ep in self.model.ep_info_buffer]
        self.tlog.log(t, episode_return=float(np.mean(episodes)) if episodes else None,
                      value_loss=v.get("train/value_loss"), action_loss=v.get("train/policy_gradient_loss"),
                      entropy=-v["train/entropy_loss"] if "train/entropy_loss" in v else None,
                      lr=v.get("train/learning_rate"), steps_per_s=t / (time.time() - self.start),
                      approx_kl=v.get("train/approx_kl"), clip_fraction=v.get("train/clip_fraction"),
                      explained_variance=v.get("train/explained_variance"))
        self.c["row_step"] = t

    def evaluation_row(self, t: int) -> None:
        self.c["eval_return"] = evaluate(self.model, self.eval_env, self.a.eval_episodes)
        self.c["eval_step"] = t
        if self.ppo:
            self.tlog.log(t, eval_return=self.c["eval_return"])
        else:
            self.tlog.log(t, eval_return=self.c["eval_return"], episodes=self.model._episode_num)
        print(f"step {t}: eval_return {self.c['eval_return']:.1f} ({time.time() - self.start:.0f} s)", flush=True)

    def checkpoint(self, t: int) -> None:
        self.tlog.flush()
        self.c.update(step=t, wall=time.time() - self.start, logged=dict(self.logger.name_to_value))
        unsaved = save(os.path.join(self.a.logdir, "checkpoint"), self.model, self.eval_env, self.c)
        if unsaved and not self.warned:
            print(f"warning: not in the checkpoint (a resumed episode starts from other values): {unsaved}",
                  flush=True)
            self.warned = True
        self.next_ckpt = time.time() + self.a.checkpoint_every
        print(f"checkpoint at step {t} ({self.c['wall']:.0f} s)", flush=True)


def train(a: argparse.Namespace) -> int:
    """The run; returns the exit status (0 finished, 128 + signal stopped after its checkpoint)."""
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    ckpt = os.path.join(a.logdir, "checkpoint")
    eval_env = gym.make(a.env)
    resumed = a.resume and os.path.isfile(os.path.join(ckpt, "state.pkl"))
    if resumed:
        model, counters = load(ckpt, a, eval_env)
        print(f"SB3 {a.algo.upper()} {a.env}: resumed from {ckpt} at step {model.num_timesteps}", flush=True)
    else:
        eval_env.reset(seed=a.seed + EVAL_SEED_OFFSET)
        model, settings = make_model(a.algo, make_env(a.algo, a.env, a.seed), a.seed, warmup=a.warmup_steps,
                                     buffer_size=min(1_000_000, a.total_steps))
        counters = {"step": 0, "wall": 0.0, "eval_step": 0, "eval_return": math.nan, "row_step": 0, "logged": {}}
        print(f"SB3 {sb3.__version__} {a.algo.upper()} {a.env}: {settings}, {a.total_steps} steps", flush=True)
    tlog = TrainLogger(a.logdir, tensorboard=False, resume_from=int(counters["step"]) if resumed else None)
    loop = Loop(a, tlog, eval_env, counters)

    def stop(signum: int, _frame: object) -> None:
        loop.stop_signal = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    total = a.total_steps
    if loop.ppo:  # whole rollouts, as the example; the learning rate then reaches 0 at the last update, as its
        total = -(-total // model.n_steps) * model.n_steps  # schedule does (SB3 decays it over `total`)
    try:
        model.learn(total_timesteps=total - model.num_timesteps, callback=loop, log_interval=None,
                    reset_num_timesteps=not resumed)
    except Stop:
        tlog.close()
        print(f"stopped at step {model.num_timesteps} (checkpoint at step {counters['step']})", flush=True)
        return 128 + (loop.stop_signal or signal.SIGTERM)
    t = model.num_timesteps
    if loop.ppo:
        loop.update_row(t)
    if t > counters["eval_step"]:
        loop.evaluation_row(t)
    tlog.close()
    model.save(os.path.join(a.logdir, "model.ckpt.zip"))
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(os.path.join(a.logdir, "model.ckpt.vecnormalize.pkl"))
    wall = time.time() - loop.start
    print(f"done: eval_return {counters['eval_return']:.1f} over {a.eval_episodes} episodes, {t} steps, "
          f"{wall:.0f} s, {t / wall:.1f} env steps/s", flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--algo", required=True, type=str.lower, choices=["td3", "sac", "ddpg", "ppo"])
    ap.add_argument("--env", required=True, help="gymnasium id (HalfCheetah-v5, Hopper-v5, InvertedPendulum-v5 ...)")
    ap.add_argument("--total-steps", type=int, required=True, help="env steps (PPO: rounded up to whole rollouts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--logdir", required=True, help="progress.csv, checkpoint/, model.ckpt.zip")
    ap.add_argument("--warmup-steps", type=int, default=10_000, help="TD3/SAC: uniformly random steps first")
    ap.add_argument("--eval-every", type=int, default=None,
                    help=f"env steps between evaluations (TD3/SAC default {OFF_POLICY_EVAL_EVERY}; PPO: only at the end)")
    ap.add_argument("--eval-episodes", type=int, default=10, help="deterministic episodes per evaluation")
    ap.add_argument("--checkpoint-every", type=float, default=0.0, help="seconds between checkpoints (0: none)")
    ap.add_argument("--resume", action="store_true", help="continue from <logdir>/checkpoint if there is one")
    ap.add_argument("--stop-at", type=int, default=0, help="(tests) checkpoint and stop at this env step, as SIGTERM")
    a = ap.parse_args(argv)
    if a.algo == "ppo" and a.eval_every:
        ap.error("PPO evaluates at the end only, as examples/PPO/train.py: leave out --eval-every")
    if a.eval_every is None:
        a.eval_every = 0 if a.algo == "ppo" else OFF_POLICY_EVAL_EVERY
    return a


if __name__ == "__main__":
    sys.exit(train(parse_args()))
