"""One system's turn in ``perf.training``: one algorithm's training loop, timed over a window, as JSON.

    <python> perf/training/runner.py --system {fastparl,sb3} --algo {dqn,ppo,td3,sac,ddpg}
                                     --warmup W --skip K --window N [--profile P] [--quick] --out result.json

Run by ``python -m perf.training`` (:mod:`perf.training.report`) with each system's own interpreter
(SB3's models and settings: ``perf/training/sb3_models.py``, shared with ``perf/mujoco/sb3_run.py``):
fastparl's (``.venv``) runs the example's own ``train(args)`` (``examples/<ALGO>/train.py``), Stable-Baselines3's
(a separate venv with torch) runs ``model.learn``.  Neither loop is changed: the runner only wraps

- the training env's ``step`` (fastparl: the env ``gymnasium.make`` returns first, or the vector env
  ``make_vector_env`` returns; SB3: a callback, called after every vector step), to count env steps and
  stamp the window, and to end the run by raising :class:`Done`;
- the learner: fastparl's ``agent.learn`` plus ``ReplayMemory.sample_batch`` (SB3's ``train()`` samples the
  batch itself), SB3's ``model.train``, timing each call and the gradient steps it takes.

The window: env steps ``S0 = warmup + skip`` to ``S1 = S0 + window``, i.e. ``window`` env steps and the
learner calls between them (fastparl stamps at the entry of step S0 + 1 and S1 + 1, after the learn of step
S0; SB3 after env step S0, before its train: the same count of env steps and gradient steps).  After S1,
``--profile P`` runs at least P more gradient steps under cProfile (enabled inside the learner calls only)
and classifies the time (:mod:`profiling`, beside this file).

Threads: OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1 in the environment (set by the report),
plus ``paddle.base.core.set_num_threads(1)`` (paddle's CPU math library threads) or
``torch.set_num_threads(1)`` / ``torch.set_num_interop_threads(1)``; the JSON records the process's threads.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import sys
import tempfile
import time
from typing import Any, Callable

import profiling  # noqa: I001 - perf/training/ is sys.path[0]
from sb3_models import DQN_GRAD_STEPS, DQN_LEARN_FREQ, PPO_FULL, PPO_QUICK, make_env, make_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVS = {"dqn": "CartPole-v1", "ppo": "Hopper-v5", "td3": "HalfCheetah-v5", "sac": "HalfCheetah-v5",
        "ddpg": "HalfCheetah-v5"}


class Done(Exception):
    """Raised from inside the training loop when the window (and the profile) is over."""


class Clock:
    """Env steps, the window's two time stamps, and every learner call ``(start, seconds, gradient steps)``."""

    def __init__(self, s0: int, s1: int, profile_grads: int) -> None:
        self.s0, self.s1, self.profile_grads = s0, s1, profile_grads
        self.steps, self.t0, self.t1 = 0, None, None
        self.calls: list[tuple[float, float, int]] = []
        self.profiler = cProfile.Profile() if profile_grads else None
        self.profiled = 0

    def _edges(self) -> None:
        if self.t0 is None and self.steps >= self.s0:
            self.t0 = time.perf_counter()
        if self.t1 is None and self.steps >= self.s1:
            self.t1 = time.perf_counter()
            if not self.profile_grads:
                raise Done

    def before_steps(self, n: int) -> None:
        """fastparl: called at the entry of a step of ``n`` env steps."""
        self._edges()
        self.steps += n

    def after_steps(self, n: int) -> None:
        """SB3: called after a vector step of ``n`` env steps."""
        self.steps += n
        self._edges()

    def learner(self, fn: Callable[..., Any], grads: int) -> Callable[..., Any]:
        """``fn`` timed (and profiled after the window); ``grads`` gradient steps per call."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            prof = self.profiler if self.t1 is not None else None
            if prof is not None:
                prof.enable()
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            dt = time.perf_counter() - t
            if prof is not None:
                prof.disable()
                self.profiled += grads
                if self.profiled >= self.profile_grads and grads:
                    raise Done
            self.calls.append((t, dt, grads))
            return out

        return timed

    def result(self) -> dict[str, Any]:
        if self.t0 is None or self.t1 is None:
            raise RuntimeError(f"the run ended at env step {self.steps}, before the window [{self.s0}, {self.s1}]")
        inside = [(dt, g) for t, dt, g in self.calls if self.t0 <= t < self.t1]
        learn_s, grads = sum(dt for dt, _ in inside), sum(g for _, g in inside)
        wall = self.t1 - self.t0
        out = {"window_env_steps": self.s1 - self.s0, "window_s": wall, "env_steps_per_s": (self.s1 - self.s0) / wall,
               "window_grad_steps": grads, "learner_s": learn_s, "updates_per_s": grads / learn_s if learn_s else None,
               "learner_share": learn_s / wall}
        if self.profiler is not None and self.profiled:
            out["profile"] = profiling.classify(self.profiler, self.profiled)
        return out


def _threads() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


# ------------------------------------------------------------------------------------------ fastparl
def _load_example(algo: str) -> Any:
    path = os.path.join(REPO, "examples", algo.upper(), "train.py")
    spec = importlib.util.spec_from_file_location(f"fastparl_example_{algo}", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def run_fastparl(a: argparse.Namespace, clock: Clock, logdir: str) -> dict[str, Any]:
    import gymnasium as gym

    from fastparl.core import import_paddle

    paddle = import_paddle()
    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(1)
    from fastparl.data import ReplayMemory

    mod = _load_example(a.algo)
    common = dict(seed=a.seed, logdir=logdir, tensorboard=False, eval_episodes=1)

    class ClockEnv(gym.Wrapper):
        def step(self, action: Any) -> Any:
            clock.before_steps(1)
            return self.env.step(action)

    made: list[Any] = []
    real_make = gym.make

    def make(*args: Any, **kwargs: Any) -> Any:  # the first env made is the training env, then the eval env
        env = real_make(*args, **kwargs)
        made.append(env)
        return ClockEnv(env) if len(made) == 1 else env

    if a.algo == "ppo":
        class ClockVec(gym.vector.VectorWrapper):
            def step(self, actions: Any) -> Any:
                clock.before_steps(self.num_envs)
                return self.env.step(actions)

        real_vec = mod.make_vector_env
        mod.make_vector_env = lambda *args, **kw: ClockVec(real_vec(*args, **kw))
        ppo = PPO_QUICK if a.quick else PPO_FULL
        args = mod.Args(env=ENVS["ppo"], total_steps=10**8, num_envs=1, **ppo, **common)
        mod.PPOAgent.learn = clock.learner(mod.PPOAgent.learn, ppo["update_epochs"] * ppo["num_minibatches"])
        settings = {"hidden": 64, **ppo, "minibatch": ppo["num_steps"] // ppo["num_minibatches"]}
    else:
        gym.make = make
        ReplayMemory.sample_batch = clock.learner(ReplayMemory.sample_batch, 0)
        if a.algo == "dqn":
            args = mod.Args(env=ENVS["dqn"], total_steps=50_000, warmup_steps=a.warmup, learn_freq=DQN_LEARN_FREQ,
                            gradient_steps=DQN_GRAD_STEPS, eval_every=10**9, **common)
            mod.CartpoleAgent.learn = clock.learner(mod.CartpoleAgent.learn, 1)
        else:
            args = mod.Args(env=ENVS[a.algo], total_steps=10**8, warmup_steps=a.warmup, eval_every=10**9,
                            batch_size=256, hidden=256, **common)
            offpolicy = sys.modules["_offpolicy"]
            offpolicy.OffPolicyAgent.learn = clock.learner(offpolicy.OffPolicyAgent.learn, 1)
        settings = {k: getattr(args, k) for k in ("hidden", "batch_size", "warmup_steps", "memory_size", "learn_freq",
                                                   "gradient_steps") if hasattr(args, k)}
    try:
        mod.train(args)
    except Done:
        pass
    return {"settings": settings, "versions": {"paddle": paddle.__version__, "gymnasium": gym.__version__},
            "threads_setting": "paddle.base.core.set_num_threads(1)"}


# ------------------------------------------------------------------------------------------ SB3
def run_sb3(a: argparse.Namespace, clock: Clock, logdir: str) -> dict[str, Any]:
    import gymnasium as gym
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    class ClockCallback(BaseCallback):
        def _on_step(self) -> bool:
            clock.after_steps(self.training_env.num_envs)
            return True

    ppo = PPO_QUICK if a.quick else PPO_FULL
    model, settings = make_model(a.algo, make_env(a.algo, ENVS[a.algo], a.seed), a.seed, warmup=a.warmup, ppo=ppo)
    grads, total = {"ppo": (ppo["update_epochs"] * ppo["num_minibatches"], 10**8),
                    "dqn": (DQN_GRAD_STEPS, 50_000)}.get(a.algo, (1, 10**8))
    model.train = clock.learner(model.train, grads)
    try:
        model.learn(total_timesteps=total, callback=ClockCallback())
    except Done:
        pass
    return {"settings": settings, "threads_setting": "torch.set_num_threads(1), torch.set_num_interop_threads(1)",
            "versions": {"stable_baselines3": sb3.__version__, "torch": torch.__version__, "gymnasium": gym.__version__}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", choices=["fastparl", "sb3"], required=True)
    ap.add_argument("--algo", choices=list(ENVS), required=True)
    ap.add_argument("--warmup", type=int, default=2000, help="random steps before learning (off-policy)")
    ap.add_argument("--skip", type=int, default=500, help="env steps after learning starts before the window")
    ap.add_argument("--window", type=int, default=2000, help="env steps in the window")
    ap.add_argument("--profile", type=int, default=0, help="gradient steps to profile after the window (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    clock = Clock(a.warmup + a.skip, a.warmup + a.skip + a.window, a.profile)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastparl-perf-training-") as logdir:
        info = (run_fastparl if a.system == "fastparl" else run_sb3)(a, clock, logdir)
    res = {"system": a.system, "algo": a.algo, "env": ENVS[a.algo], **clock.result(), **info,
           "threads": _threads(), "run_s": time.perf_counter() - t,
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
